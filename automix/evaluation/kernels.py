"""numba kernels of the evaluation metrics (imported lazily, so importing ``automix.evaluation`` stays cheap).

Why kernels: the metrics of a 3-minute song reduce ~0.5 G spectrogram bins. NumPy needs one pass, and one
temporary, per elementary operation (square, add, clamp, sqrt, subtract, square, sum...); a kernel does them in one
pass over data that is still in cache after the FFT. ``error_model="numpy"`` (no ZeroDivisionError check) and
``fastmath={"reassoc"...}`` on the float64 sums are what let LLVM vectorize the loops; the per-element arithmetic is
IEEE float32 as NumPy's (no approximate sqrt or division).
"""

from __future__ import annotations

import numba
import numpy as np

from automix.fxnorm.kernels import sos_cascade

_FAST = {"reassoc", "nsz", "contract"}  # reorder the float64 sums only (vectorized reduction)


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def stft_distance_sums(x_spectrum, y_spectrum, eps, ratio):  # pragma: no cover - jit
    """Terms of auraloss's STFT loss for one block of bins, magnitudes ``X = sqrt(max(|x|², eps))`` (same for Y).

    Args:
        x_spectrum, y_spectrum: complex64 ``(n,)`` (estimate and reference bins).
        eps: float32 clamp of the squared magnitude.
        ratio: float32 ``(n,)`` output: ``max(X², Y²) / min(X², Y²)``, whose ``0.5 · log`` is ``|log X - log Y|``
            (one logarithm per bin instead of two, taken by NumPy's vectorized ``log`` afterwards).

    Returns:
        ``(sum (Y - X)², sum Y²)`` in float64.
    """
    squared_error = 0.0
    energy = 0.0
    for i in range(ratio.shape[0]):
        x = x_spectrum[i]
        y = y_spectrum[i]
        px = max(x.real * x.real + x.imag * x.imag, eps)
        py = max(y.real * y.real + y.imag * y.imag, eps)
        d = np.sqrt(py) - np.sqrt(px)
        squared_error += d * d
        energy += py
        ratio[i] = max(px, py) / min(px, py)
    return squared_error, energy


@numba.njit(cache=True, nogil=True)
def scaled_sosfiltfilt(x, gain, sos, zi, padlen, out):  # pragma: no cover - jit
    """``scipy.signal.sosfiltfilt(sos, float64(x) * gain, axis=0)`` with odd padding of ``padlen`` samples, the same
    float64 arithmetic in the same order (transposed direct form II, as ``sosfilt``), written to ``out`` as float32.

    The scaled signal, its odd extension and the reversed copies are never made; the channels are filtered side by
    side (independent recursions the CPU overlaps).

    Args:
        x: audio ``(n_samples, n_channels)``, float32 or float64, ``n_samples > padlen``.
        gain: float64 factor applied to every sample first (the -1 dBFS peak normalization).
        sos: second-order sections ``(n_sections, 6)`` float64 with ``a0 == 1``.
        zi: ``scipy.signal.sosfilt_zi(sos)`` ``(n_sections, 2)``.
        padlen: samples of odd extension at each end.
        out: float32 ``(n_samples, n_channels)``, written.
    """
    n_samples, n_channels = x.shape
    n_sections = sos.shape[0]
    n_ext = n_samples + 2 * padlen
    forward = np.empty((n_ext, n_channels))
    state = np.empty((n_channels, n_sections, 2))
    first = np.empty(n_channels)
    last = np.empty(n_channels)
    for c in range(n_channels):
        first[c] = np.float64(x[0, c]) * gain
        last[c] = np.float64(x[n_samples - 1, c]) * gain
        start = 2 * first[c] - np.float64(x[padlen, c]) * gain  # ext[0], which scales sosfilt_zi
        for s in range(n_sections):
            state[c, s, 0] = zi[s, 0] * start
            state[c, s, 1] = zi[s, 1] * start
    for i in range(n_ext):
        for c in range(n_channels):
            if i < padlen:
                value = 2 * first[c] - np.float64(x[padlen - i, c]) * gain
            elif i < padlen + n_samples:
                value = np.float64(x[i - padlen, c]) * gain
            else:
                value = 2 * last[c] - np.float64(x[2 * n_samples + padlen - 2 - i, c]) * gain
            value = sos_cascade(sos, state, c, value)
            forward[i, c] = value
    for c in range(n_channels):
        end = forward[n_ext - 1, c]
        for s in range(n_sections):
            state[c, s, 0] = zi[s, 0] * end
            state[c, s, 1] = zi[s, 1] * end
    for i in range(n_ext - 1, -1, -1):
        for c in range(n_channels):
            value = forward[i, c]
            value = sos_cascade(sos, state, c, value)
            if padlen <= i < padlen + n_samples:
                out[i - padlen, c] = value


@numba.njit(cache=True, nogil=True)
def rolloff_bins(magnitude, fraction, out):  # pragma: no cover - jit
    """Per row, the first bin where the running float32 sum reaches ``fraction`` of the row's total:
    ``np.argmax(c >= fraction * c[-1])`` of ``c = np.cumsum(row, dtype=np.float32)``, the same sequential float32
    additions (0 where no bin qualifies, as ``argmax`` of all False), without writing the running sums.

    Args:
        magnitude: float32 ``(rows, bins)``.
        fraction: float32 (0.85 for librosa's default roll-off).
        out: integer ``(rows,)``, written.
    """
    n_rows, n_bins = magnitude.shape
    for r in range(n_rows):
        total = np.float32(0.0)
        for b in range(n_bins):
            total += magnitude[r, b]
        threshold = fraction * total
        running = np.float32(0.0)
        out[r] = 0
        for b in range(n_bins):
            running += magnitude[r, b]
            if running >= threshold:
                out[r] = b
                break
