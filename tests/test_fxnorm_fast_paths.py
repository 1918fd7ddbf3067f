"""The speed-ups of the effect normalization compute what the straightforward formulations compute.

Each fast path (blocked FFT convolution, numba biquads, padding-free STFT blocks, folded loudness gains, analyses
handed from a feature to the matching of the same stem) is compared with the direct NumPy/SciPy computation.
"""

import numpy as np
import pytest
import scipy.signal

from automix.fxnorm.convolution import choose_fft_size, convolve_segment
from automix.fxnorm.dynamics import compression_feature, match_compression
from automix.fxnorm.eq import eq_analysis, match_eq
from automix.fxnorm.kernels import sos_filter
from automix.fxnorm.loudness import lufs_gain, lufs_normalize, max_abs
from automix.fxnorm.normalize import PAD_SAMPLES, feature_and_analysis
from automix.fxnorm.reverb import shelf_coefficients
from automix.fxnorm.stft import istft, stft, stft_blocks

SR = 44100


def _noise_bursts(seconds=3.0, seed=0, channels=2):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    envelope = np.exp(-(t % 0.3) * 12.0)[:, None]
    return (rng.standard_normal((t.size, channels)) * envelope * [0.3, 0.2][:channels]).astype(np.float32)


@pytest.mark.parametrize("n_samples, kernel_length, start", [(50_000, 2001, 1000), (50_000, 7000, 1234),
                                                             (3000, 2001, 0), (1000, 5000, 4500)])
def test_convolve_segment_equals_direct_convolution(n_samples, kernel_length, start):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n_samples, 2)).astype(np.float32)
    kernel = rng.standard_normal((kernel_length, 2)) * np.exp(-np.arange(kernel_length) / 800.0)[:, None]
    full = np.stack([np.convolve(x[:, c].astype(np.float64), kernel[:, c]) for c in range(2)], axis=1)
    expected = 0.5 * np.pad(full, ((0, n_samples), (0, 0)))[start:start + n_samples]
    result = convolve_segment(x, kernel, start, gain=0.5)
    assert result.shape == x.shape and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=2e-5 * np.abs(expected).max())
    # a small FFT size gives many blocks and groups: same result
    np.testing.assert_allclose(convolve_segment(x, kernel, start, 0.5, fft_size=8192 if kernel_length < 8192
                                                else 16384), expected, atol=2e-5 * np.abs(expected).max())


def test_convolve_segment_one_kernel_for_all_channels():
    x = _noise_bursts(1.0)
    taps = scipy.signal.firwin(101, 0.2)
    expected = scipy.signal.lfilter(taps, 1.0, x, axis=0)  # start 0 = causal filtering
    np.testing.assert_allclose(convolve_segment(x, taps, 0), expected, atol=1e-6)


def test_fft_size_choice_is_bounded():
    assert choose_fft_size(2001, 8_000_000) == 16384
    assert choose_fft_size(176_400, 8_000_000) == 2 ** 20  # long reverb IR: capped, blocks stay in cache
    assert choose_fft_size(2001, 1000) == 4096  # short signal: one block


def test_sos_filter_equals_sosfilt():
    x = _noise_bursts(2.0).astype(np.float64)
    sos = np.array([np.concatenate(shelf_coefficients(kind, f, -30.0)) for kind, f in (("low", 600.0),
                                                                                       ("high", 8500.0))])
    result = sos_filter(x, sos)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, scipy.signal.sosfilt(sos, x, axis=0), atol=1e-7)


def test_padding_free_stft_blocks_equal_stft_of_padded_signal():
    x = _noise_bursts(1.0)
    pad = 2048
    expected = stft(np.pad(x, ((pad, pad), (0, 0))), 2048, 1024)
    blocks = [spectrum for _, spectrum in stft_blocks(x, 2048, 1024, block_frames=7, pad=pad)]
    np.testing.assert_array_equal(np.concatenate(blocks), expected)


def test_istft_with_quarter_hop_reconstructs():
    """Overlap 4: the edge rows get their own window-sum correction."""
    x = _noise_bursts(0.5)
    y = istft(stft(x, 1024, 256), 256)
    np.testing.assert_allclose(y[1024:-1024], x[1024:y.shape[0] - 1024], atol=1e-5)


def test_lufs_gain_is_the_scale_of_lufs_normalize():
    x = _noise_bursts()
    for target in (-30.0, 0.0):  # 0 LUFS would clip: the peak-safe division is part of the gain
        y, measured = lufs_normalize(x, target)
        gain, measured_too = lufs_gain(x, target)
        assert measured == measured_too
        np.testing.assert_allclose(x * np.float32(gain), y, rtol=2e-7, atol=1e-9)
    assert max_abs(y) == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(max_abs(np.array([1.0, np.nan], dtype=np.float32)))


def test_eq_analysis_handed_to_matching_gives_the_same_output():
    x = np.pad(_noise_bursts(), ((PAD_SAMPLES, PAD_SAMPLES), (0, 0)))
    reference = np.linspace(2.0, 0.01, 32769).astype(np.float32)
    feature, analysis = feature_and_analysis("eq", x, "fixed")
    np.testing.assert_array_equal(feature, eq_analysis(x)[1])
    alone, report = match_eq(x, reference, "vocals")
    reused, report_reused = match_eq(x, reference, "vocals", analysis=analysis)
    np.testing.assert_array_equal(alone, reused)
    assert report == report_reused
    assert feature_and_analysis("eq", x, "release")[1] is None  # release matching measures each channel


def test_compression_statistic_handed_to_matching_gives_the_same_output():
    x = np.pad(_noise_bursts(4.0), ((PAD_SAMPLES, PAD_SAMPLES), (0, 0)))
    feature, analysis = feature_and_analysis("compression", x, "fixed")
    np.testing.assert_array_equal(feature, compression_feature(x))
    target = np.array([feature[0] - 2.0, 0.5])  # above the band: the search runs
    alone, report = match_compression(x, target, "drums")
    reused, report_reused = match_compression(x, target, "drums", statistic=analysis)
    np.testing.assert_array_equal(alone, reused)
    assert report["channels"][0]["n_passes"] > 0 and report == report_reused
