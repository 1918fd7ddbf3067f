"""One-stem chain: all-zero / silent / no-onset stems, mono input, determinism, release re-quantization."""

import numpy as np
import pytest

from automix.fxnorm.features import FEATURE_STEMS
from automix.fxnorm.loudness import integrated_loudness
from automix.fxnorm.normalize import (EFFECTS, PAD_SAMPLES, normalize_stem, quantize_pcm16, stem_feature,
                                      stem_rng)

SR = 44100


def _features():
    flat = np.full(32769, 1.0, np.float32)
    return {"eq": {s: flat for s in FEATURE_STEMS},
            "compression": {s: np.array([-14.0, 1.3]) for s in FEATURE_STEMS},
            "panning": {s: np.full(32769, 0.85, np.float32) for s in FEATURE_STEMS},
            "loudness": {s: np.array([-28.0]) for s in FEATURE_STEMS}}


def _drum_loop(seconds=4.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    hits = rng.standard_normal(t.size) * np.exp(-(t % 0.5) * 25) * 0.5
    return np.stack([hits, 0.6 * hits], axis=1).astype(np.float32)


@pytest.mark.parametrize("mode", ["fixed", "release"])
def test_full_chain_reaches_loudness_target(mode):
    y, report = normalize_stem(_drum_loop(), "drums", _features(), EFFECTS, mode, stem_rng(0, "s", "drums"))
    assert report["status"] == "normalized" and set(report) >= {"eq", "compression", "panning", "loudness"}
    assert "reverb" not in report  # no IRs given
    assert integrated_loudness(np.pad(y, ((PAD_SAMPLES, PAD_SAMPLES), (0, 0)))) == pytest.approx(-28.0, abs=0.1)
    assert y.shape == (4 * SR, 2) and y.dtype == np.float32


def test_all_zero_and_silent_stems_pass_through():
    zeros = np.zeros((2 * SR, 2), np.float32)
    y, report = normalize_stem(zeros, "vocals", _features())
    assert report == {"status": "all_zero"} and np.array_equal(y, zeros)
    quiet = (np.random.default_rng(0).standard_normal((2 * SR, 2)) * 10 ** (-55 / 20) / 4).astype(np.float32)
    y, report = normalize_stem(quiet, "bass", _features())
    assert report == {"status": "silent"} and np.array_equal(y, quiet)
    assert stem_feature(zeros, "vocals", "eq", None) == (None, "all_zero")
    assert stem_feature(quiet, "bass", "loudness", None) == (None, "silent")


def test_stem_without_onsets_does_not_crash_in_fixed_mode():
    clicks = np.zeros((3 * SR, 2), np.float32)
    clicks[::5000] = 0.3  # isolated single-sample clicks: aubio's HFC detector reports no onset
    y, report = normalize_stem(clicks, "other", _features(), ("compression", "loudness"))
    assert [c["action"] for c in report["compression"]["channels"]] == ["no_onsets"]  # one linked entry
    assert np.all(np.isfinite(y)) and np.any(y)
    assert stem_feature(clicks, "other", "compression", None) == (None, "no_feature")
    with pytest.raises(ValueError, match="no detected onset"):  # the release crashes here: reproduced
        normalize_stem(clicks, "other", _features(), ("compression",), mode="release")


def test_mono_input_becomes_stereo_and_input_is_not_modified():
    mono = _drum_loop()[:, 0].copy()
    copy = mono.copy()
    y, _ = normalize_stem(mono, "bass", _features(), ("eq", "loudness"))
    assert y.shape == (mono.size, 2) and np.array_equal(mono, copy)


def test_same_seed_same_output_and_feature_chaining():
    features = _features()
    a, _ = normalize_stem(_drum_loop(), "drums", features, ("eq", "compression"), rng=stem_rng(3, "x", "drums"))
    b, _ = normalize_stem(_drum_loop(), "drums", features, ("eq", "compression"), rng=stem_rng(3, "x", "drums"))
    assert np.array_equal(a, b)
    chained, status = stem_feature(_drum_loop(), "drums", "loudness", features, ("eq", "compression", "panning"))
    raw, _ = stem_feature(_drum_loop(), "drums", "loudness", features, ())
    assert status == "ok" and abs(chained[0] - raw[0]) > 1.0  # computed after the earlier effects, in memory


def test_quantize_pcm16_truncates_like_the_release():
    x = np.array([[0.5 + 0.9 / 32768, -0.5 - 0.9 / 32768, 1.5, -1.5]], np.float32).T
    assert quantize_pcm16(x)[:, 0].tolist() == [0.5, -0.5, 32767 / 32768, -1.0]


def test_pre_reverb_and_reverb_only_on_vocals_and_other(tmp_path):
    import soundfile as sf

    from automix.fxnorm.reverb import find_impulse_responses

    ir = np.zeros((3000, 2), np.float32)
    ir[10] = 0.5
    ir[2000] = 0.25
    (tmp_path / "room").mkdir()
    sf.write(tmp_path / "room" / "impulse_response.wav", ir, SR, subtype="PCM_16")
    irs = find_impulse_responses(tmp_path)
    for stem, expected in (("vocals", True), ("bass", False)):
        _, report = normalize_stem(_drum_loop(2.0), stem, _features(), ("reverb", "loudness"), "fixed",
                                   stem_rng(0, "s", stem), irs=irs, pre_irs=irs)
        assert ("pre_reverb" in report) == expected
        assert ("ir" in report["reverb"]) == expected
