"""Long FIR filtering by FFT overlap-save, in float32 blocks that stay in cache (EQ filter, reverb send).

``scipy.signal.oaconvolve`` and a single whole-signal FFT both build arrays of the whole song's size (the padded blocks,
their spectra, the products): on a 3-minute stem that is several 64-MiB allocations, and their page faults cost as much
CPU time as the FFTs. Here the signal is processed a few blocks at a time: every temporary is about 1 MiB, the
output is written once, and the kernel's spectrum is computed once per call (or reused, see ``spectrum_cache``).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

_MAX_FFT_SIZE = 2 ** 20
_GROUP_SAMPLES = 2 ** 18  # samples per channel transformed at once (~1 MiB float32): temporaries stay in cache


def choose_fft_size(kernel_length: int, n_samples: int) -> int:
    """Power-of-two FFT size with the least FFT work per output sample, ``N·log2(N) / (N - K + 1)``.

    No larger than needed to cover the whole signal in one block, and at most 2^20: beyond that the blocks leave the
    CPU caches and the measured time rises although the operation count falls.
    """
    smallest = 1 << max(kernel_length - 1, 1).bit_length()
    largest = max(smallest, 1 << (n_samples + kernel_length - 1).bit_length())
    sizes = [smallest << k for k in range(24) if smallest << k <= min(largest, _MAX_FFT_SIZE)] or [smallest]
    return min(sizes, key=lambda n: n * math.log2(n) / (n - kernel_length + 1))


def kernel_spectrum(kernel: np.ndarray, fft_size: int, gain: float = 1.0, precision: str = "float32") -> np.ndarray:
    """``rfft(gain · kernel)`` of a ``(K, n_kernels)`` kernel, ``(n_kernels, fft_size // 2 + 1)``.

    Computed in float64 (the kernel may have a large dynamic range), stored in complex64 (complex128 for
    ``precision="float64"``).
    """
    kernel = np.asarray(kernel, dtype=np.float64).reshape(kernel.shape[0], -1)
    spectrum = scipy.fft.rfft(kernel * gain, fft_size, axis=0).T
    return spectrum if precision == "float64" else spectrum.astype(np.complex64)


def convolve_segment(x: np.ndarray, kernel: np.ndarray, start: int, gain: float = 1.0,
                     spectrum: np.ndarray | None = None, fft_size: int | None = None,
                     precision: str = "float32") -> np.ndarray:
    """Samples ``[start, start + n)`` of the full linear convolution of every channel with its kernel, times ``gain``.

    ``y[m, c] = gain · Σ_k kernel[k, c] · x[m + start - k, c]`` (``x`` is zero outside ``[0, n)``). With
    ``start = (K - 1) / 2`` and a symmetric kernel this is a zero-phase filter; with ``start`` = the IR's peak index,
    a peak-aligned reverb.

    Args:
        x: audio ``(n_samples, n_channels)``; not modified.
        kernel: ``(K,)`` (same for every channel) or ``(K, n_channels)``.
        start: first sample of the full convolution to keep, ``0 <= start < K + n``.
        gain: folded into the kernel's spectrum (saves a pass over the output).
        spectrum, fft_size: a precomputed :func:`kernel_spectrum` (``gain`` is then ignored) and its FFT size.
        precision: ``"float32"`` (blocks and spectra in single precision) or ``"float64"`` (double precision
            throughout, rounded to float32 once at the end: equal to ``scipy.signal.filtfilt``'s float64 result
            to float32 rounding, as release mode needs).

    Returns:
        float32 ``(n_samples, n_channels)``.
    """
    kernel_length = kernel.shape[0]
    n_samples, n_channels = x.shape
    if fft_size is None:
        fft_size = choose_fft_size(kernel_length, n_samples)
    if spectrum is None:
        spectrum = kernel_spectrum(kernel, fft_size, gain, precision)
    if spectrum.shape[0] == 1 and n_channels > 1:
        spectrum = np.broadcast_to(spectrum, (n_channels, spectrum.shape[1]))
    step = fft_size - kernel_length + 1  # valid outputs per block (overlap-save)
    per_group = max(1, _GROUP_SAMPLES // fft_size)
    out = np.empty((n_samples, n_channels), dtype=np.float32)
    for first in range(0, n_samples, per_group * step):
        count = min(per_group, -(-(n_samples - first) // step))
        _convolve_group(x, spectrum, first, count, step, start - kernel_length + 1, fft_size, out,
                        np.float64 if precision == "float64" else np.float32)
    return out


def _convolve_group(x, spectrum, first, count, step, offset, fft_size, out, dtype=np.float32) -> None:
    """Outputs ``first : first + count·step`` (clipped): input samples from ``first + offset`` on, zero-padded."""
    n_samples, n_channels = x.shape
    source = first + offset
    buffer = np.zeros((n_channels, (count - 1) * step + fft_size), dtype=dtype)
    lo, hi = max(source, 0), min(source + buffer.shape[1], n_samples)
    if hi > lo:
        buffer[:, lo - source:hi - source] = x[lo:hi].T
    frames = sliding_window_view(buffer, fft_size, axis=1)[:, ::step]  # (channels, count, fft_size), a view
    blocks = scipy.fft.irfft(scipy.fft.rfft(frames, axis=-1) * spectrum[:, None, :], fft_size, axis=-1)
    last = min(first + count * step, n_samples)
    # the first K - 1 outputs of each circular block are wrapped around: overlap-save keeps the rest
    out[first:last] = blocks[:, :, fft_size - step:].reshape(n_channels, -1)[:, :last - first].T
