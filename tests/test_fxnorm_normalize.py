"""One-stem chain: no-op paths with known answers (all-zero, silent, no onsets, in/below the compression band),
input checks, explicit randomness, mono input, determinism, release re-quantization."""

import numpy as np
import pytest

from automix.fxnorm.dynamics import compression_feature
from automix.fxnorm.features import FEATURE_STEMS
from automix.fxnorm.loudness import integrated_loudness
from automix.fxnorm.normalize import (EFFECTS, PAD_SAMPLES, normalize_stem, pad, quantize_pcm16, stem_feature,
                                      stem_rng)
from automix.fxnorm.pipeline import compute_features, normalize_dataset
from automix.fxnorm.reverb import find_impulse_responses

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
    y, report = normalize_stem(clicks, "other", _features(), ("compression",))
    assert report["compression"]["channels"][0]["action"] == "no_onsets"
    assert np.array_equal(y, clicks)  # left unchanged (spec §9): not even peak-normalized
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


def _irs(folder):
    import soundfile as sf

    ir = np.zeros((3000, 2), np.float32)
    ir[10] = 0.5
    ir[2000] = 0.25
    (folder / "room").mkdir()
    sf.write(folder / "room" / "impulse_response.wav", ir, SR, subtype="PCM_16")
    return find_impulse_responses(folder)


def test_pre_reverb_and_reverb_only_on_vocals_and_other(tmp_path):
    irs = _irs(tmp_path)
    for stem, expected in (("vocals", True), ("bass", False)):
        _, report = normalize_stem(_drum_loop(2.0), stem, _features(), ("reverb", "loudness"), "fixed",
                                   stem_rng(0, "s", stem), irs=irs, pre_irs=irs)
        assert ("pre_reverb" in report) == expected
        assert ("ir" in report["reverb"]) == expected


@pytest.mark.parametrize("offset_db, action", [(0.0, "in_band"), (10.0, "below_band")])
def test_compression_in_and_below_the_band_only_peak_normalize(offset_db, action):
    """Known answer: the stem comes back scaled to a -10 dBFS peak (joint gain), nothing else (spec §1.6)."""
    x = _drum_loop(3.0)
    statistic = compression_feature(pad(x))  # what fixed-mode matching measures on the padded stem
    features = _features()
    features["compression"]["drums"] = np.array([statistic[0] + offset_db, 1.0])
    y, report = normalize_stem(x, "drums", features, ("compression",))
    assert report["compression"]["channels"][0]["action"] == action
    np.testing.assert_allclose(y, x * (10 ** (-10 / 20) / np.max(np.abs(x))), rtol=1e-6, atol=1e-9)
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-10 / 20), rel=1e-6)


def test_python_callers_get_the_command_line_checks():
    x, features = _drum_loop(1.0), _features()
    nan = x.copy()
    nan[100, 1] = np.nan
    for bad, kwargs, message in ((np.zeros((3, SR), np.float32), {}, r"got shape \(3, 44100\)"),
                                 (np.zeros((SR, 3), np.float32), {}, r"mono or stereo"),
                                 (x, {"sample_rate": 48000}, "44100 Hz only.*48000"),
                                 (nan, {}, "NaN or infinite"),
                                 ((x * 32767).astype(np.int16), {}, "float samples.*int16"),
                                 (x[:0], {}, "no samples")):
        with pytest.raises(ValueError, match=message):
            normalize_stem(bad, "bass", features, **kwargs)
    with pytest.raises(ValueError, match="44100 Hz only"):
        stem_feature(x, "bass", "eq", None, sample_rate=22050)
    with pytest.raises(ValueError, match="unknown stem type 'guitar'"):
        normalize_stem(x, "guitar", features)
    with pytest.raises(ValueError, match="no compression/bass entry"):
        normalize_stem(x, "bass", {"eq": features["eq"]})


def test_randomness_is_explicit_or_an_error(tmp_path):
    irs = _irs(tmp_path)
    x = _drum_loop(1.0)
    with pytest.raises(ValueError, match="give rng=numpy.random.Generator"):
        normalize_stem(x, "vocals", _features(), ("reverb", "loudness"), irs=irs)
    with pytest.raises(ValueError, match="give rng=numpy.random.Generator"):
        normalize_stem(x, "other", _features(), ("loudness",), pre_irs=irs)
    y, report = normalize_stem(x, "bass", _features(), ("reverb", "loudness"), irs=irs)  # no draw for bass
    assert report["reverb"] == {"action": "not applied to this stem", "seconds": report["reverb"]["seconds"]}
    for call in (lambda: normalize_dataset([], _features(), "n", irs=irs),
                 lambda: normalize_dataset([], _features(), "n", pre_irs=irs),
                 lambda: compute_features([], irs=irs)):
        with pytest.raises(ValueError, match="give seed=<int>"):
            call()
    draws = {normalize_stem(x, "vocals", _features(), ("reverb",), rng=stem_rng(0, song, "vocals"),
                            irs=irs)[1]["reverb"]["low_shelf_hz"] for song in ("a", "b", "c")}
    assert len(draws) == 3  # one generator per (seed, song, stem): no shared draw
