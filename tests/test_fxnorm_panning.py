"""Panning matching: a hard-left source is re-panned over the whole file (fixed); release's frame-axis limit."""

import numpy as np
import pytest

from automix.fxnorm.normalize import PAD_SAMPLES
from automix.fxnorm.panning import (PANNING_GAIN_K, match_panning, panning_feature, reference_to_pan_bins,
                                    similarity)
from automix.fxnorm.stft import stft

SR = 44100
REFERENCE = np.full(32769, 0.85, np.float32)


def _pad(x):
    return np.pad(x, ((PAD_SAMPLES, PAD_SAMPLES), (0, 0)))


def _source(seconds=8.0, seed=0):
    return (np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.1).astype(np.float32)


def _similarity(y, start_s, stop_s, max_hz):
    """Mean similarity of the padded signal ``y`` between two times (s) and from 50 Hz to ``max_hz``."""
    segment = y[PAD_SAMPLES + int(start_s * SR): PAD_SAMPLES + int(stop_s * SR)]
    spectrum = stft(segment, 2048, 1024)
    left, right = np.abs(spectrum[:, 0]) + 1e-20, np.abs(spectrum[:, 1]) + 1e-20
    return float(similarity(left, right)[:, 3:int(max_hz * 2048 / SR)].mean())


@pytest.mark.parametrize("stem, max_hz", [("drums", 6000), ("vocals", 16000)])
def test_hard_left_source_reaches_reference_over_the_whole_file(stem, max_hz):
    source = _source()
    x = _pad(np.stack([source, np.zeros_like(source)], axis=1))
    y, report = match_panning(x, REFERENCE, stem, "fixed")
    target = PANNING_GAIN_K * 0.85
    assert report["side"] == "left" and report["similarity_before"] < 0.01
    for start, stop in ((0.0, 4.0), (5.5, 8.0)):  # before and after the release's 4.9 s drums limit
        assert _similarity(y, start, stop, max_hz) == pytest.approx(target, abs=0.05)
    assert np.sqrt(np.mean(y[:, 0] ** 2)) > np.sqrt(np.mean(y[:, 1] ** 2))  # still on the left


def test_release_mode_limits_re_panning_on_the_frame_axis():
    """Drums: frames >= 278 (~4.9 s into the stem) keep only the 0.7/0.3 pre-pan (spec §1.8 step 8)."""
    source = _source()
    x = _pad(np.stack([source, 0.2 * source], axis=1))  # left-dominant, R/L = -14 dB
    y, _ = match_panning(x, REFERENCE, "drums", "release")
    before_limit = y[PAD_SAMPLES + 1 * SR: PAD_SAMPLES + 4 * SR]
    after_limit = y[PAD_SAMPLES + int(5.5 * SR): PAD_SAMPLES + 8 * SR]
    np.testing.assert_allclose(after_limit, x[PAD_SAMPLES + int(5.5 * SR): PAD_SAMPLES + 8 * SR] * [0.7, 0.3],
                               atol=1e-4)
    ratio_db = 20 * np.log10(np.std(before_limit[:, 1]) / np.std(before_limit[:, 0]))
    assert ratio_db > -10.0  # re-panned towards the centre in the first seconds only
    y_fixed, _ = match_panning(x, REFERENCE, "drums", "fixed")
    assert not np.allclose(y_fixed[PAD_SAMPLES + int(5.5 * SR):][:SR], after_limit[:SR], atol=1e-3)


def test_fixed_mode_leaves_bins_above_the_limit_with_the_pre_pan_only():
    source = _source(seconds=4.0)
    x = _pad(np.stack([source, 0.2 * source], axis=1))
    y, _ = match_panning(x, REFERENCE, "drums", "fixed")
    spec_in = stft(x * np.array([0.7, 0.3], np.float32), 2048, 1024)
    spec_out = stft(y, 2048, 1024)
    high = slice(330, 1000)  # > 7 kHz (a few bins above the 6 kHz limit: iSTFT leakage across the edge)
    np.testing.assert_allclose(np.abs(spec_out[80:150, :, high]), np.abs(spec_in[80:150, :, high]),
                               rtol=1e-3, atol=1e-3)


def test_centre_source_gets_the_target_similarity():
    source = _source(seconds=4.0)
    x = _pad(np.stack([source, source], axis=1))
    y, report = match_panning(x, REFERENCE, "vocals", "fixed")
    assert report["side"] == "right"  # a mono stem counts as right-dominant, as in the release
    assert _similarity(y, 0.0, 4.0, 16000) == pytest.approx(PANNING_GAIN_K * 0.85, abs=0.05)


def test_panning_feature_and_reference_bins():
    source = _source(seconds=3.0)
    phi = panning_feature(_pad(np.stack([source, source], axis=1)))
    assert phi.shape == (32769,) and np.allclose(phi, 1.0, atol=1e-5)
    ramp = np.arange(32769, dtype=np.float32)
    bins = reference_to_pan_bins(ramp)
    assert bins.shape == (1025,) and bins[0] == pytest.approx(15.5) and bins[-1] == 32768


def test_silent_and_input_untouched():
    x = _pad(np.stack([_source(2.0), _source(2.0, seed=1)], axis=1))
    copy = x.copy()
    match_panning(x, REFERENCE, "other", "fixed")
    assert np.array_equal(x, copy)
    quiet = np.full((3 * PAD_SAMPLES, 2), 1e-4, np.float32)
    y, report = match_panning(quiet, REFERENCE, "other")
    assert report == {"action": "gated"} and np.array_equal(y, quiet)


def test_release_mode_matches_the_measured_release_output(reference_dir, tmp_path):
    """Spec §1.8: a left-panned noise stem (R/L = -14 dB) came out of the release at -3.7 dB for 0-15 s and
    -21.3 dB after ~16 s (vocals reference, features re-smoothed at load)."""
    import warnings

    from automix.fxnorm.features import import_legacy_features, load_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_legacy_features(reference_dir / "features_MUSDB18.npy", tmp_path / "f.npz")
    features, _ = load_features(tmp_path / "f.npz", mode="release")
    source = _source(seconds=22.0)
    y, _ = match_panning(_pad(np.stack([source, source * 10 ** (-14 / 20)], axis=1)), features["panning"]["vocals"],
                         "vocals", "release")
    y = y[PAD_SAMPLES:-PAD_SAMPLES]

    def ratio_db(start_s, stop_s):
        part = y[int(start_s * SR):int(stop_s * SR)]
        return 20 * np.log10(np.std(part[:, 1]) / np.std(part[:, 0]))

    assert ratio_db(0, 15) == pytest.approx(-3.7, abs=0.1)
    assert ratio_db(17, 22) == pytest.approx(-21.3, abs=0.1)
