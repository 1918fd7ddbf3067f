"""Loudness (BS.1770 vs pyloudnorm, peak-safe normalization) and the numpy STFT (vs librosa)."""

import numpy as np
import pyloudnorm
import pytest

from automix.fxnorm.loudness import integrated_loudness, is_silent, lufs_normalize, match_loudness, peak_db
from automix.fxnorm.stft import istft, mean_magnitude, sqrt_hann, stft

SR = 44100


def _signals():
    rng = np.random.default_rng(0)
    n = 3 * SR + 17
    ramp = np.linspace(0, 1, n)[:, None] ** 4
    yield rng.standard_normal((n, 2)).astype(np.float32) * 0.1
    yield (rng.standard_normal(n) * 0.01).astype(np.float32)  # mono, 1-D
    yield (rng.standard_normal((n, 2)) * ramp * 0.3).astype(np.float32)  # relative gate matters
    yield np.sin(2 * np.pi * 997 * np.arange(n) / SR)[:, None].repeat(2, 1).astype(np.float32) * 0.5


@pytest.mark.parametrize("index", range(4))
def test_integrated_loudness_equals_pyloudnorm(index):
    x = list(_signals())[index]
    expected = pyloudnorm.Meter(SR).integrated_loudness(x)
    assert integrated_loudness(x) == pytest.approx(expected, abs=1e-4)


def test_integrated_loudness_of_silence_is_minus_inf():
    assert integrated_loudness(np.zeros((SR, 2), np.float32)) == -np.inf


@pytest.mark.parametrize("target", [-30.0, -14.0])
def test_lufs_normalize_reaches_target(target):
    x = next(_signals())
    y, before = lufs_normalize(x, target)
    assert before == pytest.approx(pyloudnorm.Meter(SR).integrated_loudness(x + 1e-10), abs=1e-4)
    assert pyloudnorm.Meter(SR).integrated_loudness(y) == pytest.approx(target, abs=0.1)
    assert y.dtype == np.float32 and not np.shares_memory(x, y)


def test_lufs_normalize_is_peak_safe():
    """A crest-heavy signal pushed to -5 LUFS would clip: scaled down to peak ~1, ending below the target."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((4 * SR, 2)) * 0.01).astype(np.float32)
    x[SR] = 0.9  # one big spike
    y, _ = lufs_normalize(x, -5.0)
    assert np.max(np.abs(y)) == pytest.approx(1.0, abs=1e-5)
    _, report = match_loudness(x, -5.0)
    assert report["peak_limited"] and report["lufs_after"] < -5.5


def test_gate():
    assert is_silent(np.full((100, 2), 10 ** (-51 / 20), np.float32))
    assert not is_silent(np.full((100, 2), 10 ** (-49 / 20), np.float32))
    assert peak_db(np.zeros(10)) == -np.inf


def test_stft_and_istft_equal_librosa():
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(2).standard_normal((SR, 2)).astype(np.float32)
    window = sqrt_hann(2048)
    ours = stft(x, 2048, 1024)
    ref = np.stack([librosa.stft(x[:, c], n_fft=2048, hop_length=1024, window=window, center=False).T
                    for c in range(2)], axis=1)
    assert ours.shape == ref.shape and ours.dtype == np.complex64
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    back = istft(ours, 1024)
    ref_back = np.stack([librosa.istft(ref[:, c].T, hop_length=1024, window=window, center=False)
                         for c in range(2)], axis=1)
    np.testing.assert_allclose(back, ref_back, atol=1e-5)
    # interior samples (full window overlap) are reconstructed
    np.testing.assert_allclose(back[2048:-2048], x[2048:back.shape[0] - 2048], atol=1e-5)


def test_mean_magnitude_of_sine_peaks_at_its_bin():
    n_fft, freq = 65536, 1000.0
    x = np.sin(2 * np.pi * freq * np.arange(4 * n_fft) / SR)[:, None].astype(np.float32)
    spectrum = mean_magnitude(x)
    assert spectrum.shape == (1, n_fft // 2 + 1)
    assert abs(int(np.argmax(spectrum[0])) - round(freq * n_fft / SR)) <= 1
