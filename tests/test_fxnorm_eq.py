"""EQ matching: known answer on shelved noise, zero phase == filtfilt, L/R balance, bounded gains."""

import numpy as np
import pytest
import scipy.signal

from automix.fxnorm.eq import (EQ_MAX_BOOST_DB, apply_zero_phase, design_matching_filter, eq_feature,
                               match_eq, smooth_spectrum)
from automix.fxnorm.normalize import PAD_SAMPLES
from automix.fxnorm.reverb import shelf_coefficients

SR = 44100


def _pad(x):
    return np.pad(x, ((PAD_SAMPLES, PAD_SAMPLES), (0, 0)))


def _noise(seed, seconds=8.0, shelf_db=0.0):
    x = np.random.default_rng(seed).standard_normal((int(seconds * SR), 2)) * 0.1
    if shelf_db:
        b, a = shelf_coefficients("high", 2000.0, shelf_db)
        x = scipy.signal.lfilter(b, a, x, axis=0)
    return _pad(x.astype(np.float32))


def _band_levels_db(spectrum):
    """Mean magnitude in 1/6-octave bands from 100 Hz to 16 kHz, in dB."""
    freqs = np.linspace(0, SR / 2, spectrum.size)
    edges = 100.0 * 2 ** (np.arange(0, np.log2(16000 / 100) * 6 + 1) / 6)
    return np.array([20 * np.log10(spectrum[(freqs >= lo) & (freqs < hi)].mean())
                     for lo, hi in zip(edges[:-1], edges[1:])])


@pytest.mark.parametrize("mode", ["fixed", "release"])
def test_shelved_noise_comes_back_to_the_reference_curve(mode):
    reference = smooth_spectrum(eq_feature(_noise(0)), 401)
    shelved = _noise(1, shelf_db=6.0)
    before = np.abs(_band_levels_db(eq_feature(shelved)) - _band_levels_db(reference))
    y, report = match_eq(shelved, reference, "vocals", mode)
    after = np.abs(_band_levels_db(eq_feature(y)) - _band_levels_db(reference))
    assert before.max() > 4.0  # the test can fail: the input is really off by ~6 dB at high frequencies
    assert after.max() < 1.0, after
    assert y.shape == shelved.shape and y.dtype == np.float32


def test_zero_phase_convolution_equals_filtfilt_on_padded_signal():
    b = scipy.signal.firwin2(1001, [0, 0.3, 1], [1, 2, 0.1], window="hamming")
    x = _noise(2, seconds=2.0)
    np.testing.assert_allclose(apply_zero_phase(x, b), scipy.signal.filtfilt(b, 1, x, axis=0), atol=2e-5)


def test_design_matching_filter_is_sqrt_of_gain():
    gain_db = np.where(np.linspace(0, 1, 32769) < 0.5, 6.0, -6.0)
    taps = design_matching_filter(gain_db)
    freqs, response = scipy.signal.freqz(taps, worN=[1000.0, 15000.0], fs=SR)
    np.testing.assert_allclose(20 * np.log10(np.abs(response)), [3.0, -3.0], atol=0.2)


def test_fixed_mode_keeps_left_right_balance_release_does_not():
    reference = smooth_spectrum(eq_feature(_noise(0)), 401)
    x = _noise(3) * np.array([1.0, 0.25], np.float32)  # right channel 12 dB down
    balance = {}
    for mode in ("fixed", "release"):
        y, _ = match_eq(x, reference, "vocals", mode)
        balance[mode] = 20 * np.log10(np.std(y[:, 1]) / np.std(y[:, 0]))
    assert balance["fixed"] == pytest.approx(-12.04, abs=0.3)
    assert abs(balance["release"]) < 0.3


def test_fixed_mode_bounds_the_boost():
    """A low-passed stem has no energy above 4 kHz: release boosts it enormously, fixed by 12 dB at most."""
    reference = smooth_spectrum(eq_feature(_noise(0)), 401)
    sos = scipy.signal.butter(8, 4000, fs=SR, output="sos")
    dull = scipy.signal.sosfilt(sos, _noise(4), axis=0).astype(np.float32)
    _, fixed = match_eq(dull, reference, "vocals", "fixed")
    _, release = match_eq(dull, reference, "vocals", "release")
    assert fixed["gain_max_db"] <= EQ_MAX_BOOST_DB + 1e-9
    assert release["channels"][0]["gain_max_db"] > 40.0


def test_silent_stem_unchanged():
    x = np.full((3 * PAD_SAMPLES, 2), 1e-4, np.float32)
    y, report = match_eq(x, np.ones(32769, np.float32), "bass")
    assert report["action"] == "gated" and np.array_equal(x, y)
