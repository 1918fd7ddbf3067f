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


_RATIO_GROUP = 32  # bins whose squared magnitudes are multiplied before a logarithm


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def stft_distance_sums(x_spectrum, y_spectrum, eps):  # pragma: no cover - jit
    """Terms of auraloss's STFT loss for one block of bins, magnitudes ``X = sqrt(max(|x|², eps))`` (same for Y).

    Args:
        x_spectrum, y_spectrum: complex64 ``(n,)`` (estimate and reference bins).
        eps: float32 clamp of the squared magnitude.

    Returns:
        ``(sum (Y - X)², sum Y², sum |log X - log Y|)`` in float64. The last as
        ``0.5 · sum_g [log prod_{k in g} max(X², Y²) - log prod_{k in g} min(X², Y²)]`` over groups of 8 bins: two
        logarithms per 8 bins instead of two per bin (the logarithms were a fifth of the MRSTFT's time). With
        ``eps <= X², Y² < 1e30`` a group's products stay inside float64's range.
    """
    squared_error = 0.0
    energy = 0.0
    log_sum = 0.0
    n = x_spectrum.shape[0]
    for first in range(0, n, _RATIO_GROUP):
        larger = 1.0
        smaller = 1.0
        for i in range(first, min(first + _RATIO_GROUP, n)):
            x = x_spectrum[i]
            y = y_spectrum[i]
            px = max(x.real * x.real + x.imag * x.imag, eps)
            py = max(y.real * y.real + y.imag * y.imag, eps)
            d = np.sqrt(py) - np.sqrt(px)
            squared_error += d * d
            energy += py
            larger *= np.float64(max(px, py))
            smaller *= np.float64(min(px, py))
        if 0.0 < smaller and larger < np.inf:
            log_sum += np.log(larger) - np.log(smaller)
        else:  # out of float64's range (not reached by audio): the group bin by bin
            for i in range(first, min(first + _RATIO_GROUP, n)):
                x = x_spectrum[i]
                y = y_spectrum[i]
                px = max(x.real * x.real + x.imag * x.imag, eps)
                py = max(y.real * y.real + y.imag * y.imag, eps)
                log_sum += abs(np.log(np.float64(px)) - np.log(np.float64(py)))
    return squared_error, energy, 0.5 * log_sum


@numba.njit(cache=True, nogil=True)
def windowed_frames(signals, start, hop, first, n_frames, window, lo, out):  # pragma: no cover - jit
    """Frames ``first ... first + n_frames - 1`` of each row of ``signals``, multiplied by ``window``, into ``out``:
    ``out[r, f, lo + k] = signals[r, start + (first + f) hop + lo + k] · window[k]`` for ``k < len(window)``
    (the float32 products NumPy's ``multiply`` makes; the other samples of ``out`` are left as they are).

    One pass from the signal into the FFT buffer, ~4x faster than NumPy's ``multiply`` over the strided frames of
    a ``sliding_window_view`` (measured 11-13 us against 43-56 us per 0.5-MB block).

    Args:
        signals: float32 ``(rows, n)``.
        window: float32 ``(width,)``, the non-zero part of the analysis window (from sample ``lo`` of a frame).
        out: C-contiguous float32 ``(rows, >= n_frames, n_fft)`` (contiguous: the loop is then vectorized).
    """
    n_rows = out.shape[0]
    width = window.shape[0]
    for r in range(n_rows):
        signal = signals[r]
        for f in range(n_frames):
            base = start + (first + f) * hop + lo
            # through slices: the loop indices are then never negative (no wrap-around test), so it vectorizes
            # (~4x faster than NumPy; indexing the 3-D arrays directly was ~2x slower than NumPy)
            source = signal[base:base + width]
            target = out[r, f, lo:lo + width]
            for k in range(width):
                target[k] = source[k] * window[k]


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


@numba.njit(cache=True, nogil=True, inline="always")
def _two_biquads(c, v, z00, z01, z10, z11):  # pragma: no cover - jit
    """One sample through two biquads (coefficients ``c = (b0, b1, b2, a1, a2)`` of each, flattened), transposed
    direct form II with the operations of :func:`automix.fxnorm.kernels.sos_cascade`; the state in scalars."""
    y = c[0] * v + z00
    z00 = c[1] * v - c[3] * y + z01
    z01 = c[2] * v - c[4] * y
    v = y
    y = c[5] * v + z10
    z10 = c[6] * v - c[8] * y + z11
    z11 = c[7] * v - c[9] * y
    return y, z00, z01, z10, z11


@numba.njit(cache=True, nogil=True)
def scaled_sosfiltfilt_stereo_two_sections(x, gain, sos, zi, padlen, out):  # pragma: no cover - jit
    """:func:`scaled_sosfiltfilt` for a stereo ``x`` and two sections (a 4th-order low-pass), ~3x faster: the eight
    state values live in registers (the generic kernel's state array sends every recursion step through memory)
    and the padding regions are separate loops (no branch per sample). The same float64 operations in the same
    order: the same output bits.
    """
    n_samples = x.shape[0]
    n_ext = n_samples + 2 * padlen
    c = (sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5], sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5])
    forward = np.empty((n_ext, 2))
    first_l = np.float64(x[0, 0]) * gain
    first_r = np.float64(x[0, 1]) * gain
    last_l = np.float64(x[n_samples - 1, 0]) * gain
    last_r = np.float64(x[n_samples - 1, 1]) * gain
    start_l = 2 * first_l - np.float64(x[padlen, 0]) * gain  # ext[0], which scales sosfilt_zi
    start_r = 2 * first_r - np.float64(x[padlen, 1]) * gain
    l00, l01, l10, l11 = zi[0, 0] * start_l, zi[0, 1] * start_l, zi[1, 0] * start_l, zi[1, 1] * start_l
    r00, r01, r10, r11 = zi[0, 0] * start_r, zi[0, 1] * start_r, zi[1, 0] * start_r, zi[1, 1] * start_r
    for i in range(padlen):
        v_l = 2 * first_l - np.float64(x[padlen - i, 0]) * gain
        v_r = 2 * first_r - np.float64(x[padlen - i, 1]) * gain
        forward[i, 0], l00, l01, l10, l11 = _two_biquads(c, v_l, l00, l01, l10, l11)
        forward[i, 1], r00, r01, r10, r11 = _two_biquads(c, v_r, r00, r01, r10, r11)
    for i in range(padlen, padlen + n_samples):
        v_l = np.float64(x[i - padlen, 0]) * gain
        v_r = np.float64(x[i - padlen, 1]) * gain
        forward[i, 0], l00, l01, l10, l11 = _two_biquads(c, v_l, l00, l01, l10, l11)
        forward[i, 1], r00, r01, r10, r11 = _two_biquads(c, v_r, r00, r01, r10, r11)
    for i in range(padlen + n_samples, n_ext):
        v_l = 2 * last_l - np.float64(x[2 * n_samples + padlen - 2 - i, 0]) * gain
        v_r = 2 * last_r - np.float64(x[2 * n_samples + padlen - 2 - i, 1]) * gain
        forward[i, 0], l00, l01, l10, l11 = _two_biquads(c, v_l, l00, l01, l10, l11)
        forward[i, 1], r00, r01, r10, r11 = _two_biquads(c, v_r, r00, r01, r10, r11)
    end_l = forward[n_ext - 1, 0]
    end_r = forward[n_ext - 1, 1]
    l00, l01, l10, l11 = zi[0, 0] * end_l, zi[0, 1] * end_l, zi[1, 0] * end_l, zi[1, 1] * end_l
    r00, r01, r10, r11 = zi[0, 0] * end_r, zi[0, 1] * end_r, zi[1, 0] * end_r, zi[1, 1] * end_r
    for i in range(n_ext - 1, padlen + n_samples - 1, -1):  # the end padding: run through, not written
        _, l00, l01, l10, l11 = _two_biquads(c, forward[i, 0], l00, l01, l10, l11)
        _, r00, r01, r10, r11 = _two_biquads(c, forward[i, 1], r00, r01, r10, r11)
    for i in range(padlen + n_samples - 1, padlen - 1, -1):
        y_l, l00, l01, l10, l11 = _two_biquads(c, forward[i, 0], l00, l01, l10, l11)
        y_r, r00, r01, r10, r11 = _two_biquads(c, forward[i, 1], r00, r01, r10, r11)
        out[i - padlen, 0] = y_l
        out[i - padlen, 1] = y_r


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


_LOG_GROUP = 16  # samples whose |x| are multiplied before one logarithm: >= 1e-160 each product, no underflow


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def hop_statistics(channel, gain, hop, out):  # pragma: no cover - jit
    """Per hop of ``x = float64(channel) · gain``: ``sum x²``, ``sum 20 log10 max(|x|, 1e-10)`` and ``max |x|``.

    The level sum is taken as ``20 log10(2) · sum_g log2(prod_{i in g} max(|x_i|, 1e-10))`` over groups of 16
    samples: one logarithm per 16 samples instead of one per sample (the logarithms were most of the dynamics
    family's time). The products stay within ``[1e-160, 1]`` for a peak-normalized signal (``|x| <= 1``), and their
    rounding (16 ulp) moves a hop's level sum by ~1e-12 dB.

    Args:
        channel: one channel ``(n,)``, float32 or float64, ``n >= hops · hop``.
        gain: float64 factor (the -1 dBFS peak normalization).
        hop: samples per hop, a multiple of 16.
        out: float64 ``(3, hops)``, written.
    """
    scale = 20.0 * np.log10(2.0)
    for h in range(out.shape[1]):
        base = h * hop
        squares = 0.0
        peak = 0.0
        log2_sum = 0.0
        for g in range(0, hop, _LOG_GROUP):
            product = 1.0
            for i in range(base + g, base + g + _LOG_GROUP):
                x = np.float64(channel[i]) * gain
                squares += x * x
                magnitude = abs(x)
                peak = max(peak, magnitude)
                product *= max(magnitude, 1e-10)
            log2_sum += np.log2(product)
        out[0, h] = squares
        out[1, h] = scale * log2_sum
        out[2, h] = peak


@numba.njit(cache=True, nogil=True, error_model="numpy")
def magnitude_ratio_sums(spectrum, denominator, first, eps, out):  # pragma: no cover - jit
    """``out[c, first + f] = sum_k |spectrum[f, c, k]| / (denominator[c, first + f, k] + eps)`` (float32 terms,
    float64 sums), for a block of STFT frames: the low-frequency ratio's numerator and the full signal's
    magnitudes, in one pass without the ``|X|`` and quotient temporaries.

    Args:
        spectrum: complex64 ``(frames, channels, bins)`` (a block of :func:`automix.fxnorm.stft.stft_blocks`).
        denominator: float32 ``(channels, all frames, bins)`` magnitudes.
        first: index of the block's first frame in ``denominator``.
        eps: float32 added to the denominator.
        out: float64 ``(channels, all frames)``, written for the block's frames.
    """
    n_frames, n_channels, n_bins = spectrum.shape
    for f in range(n_frames):
        for c in range(n_channels):
            total = 0.0
            for k in range(n_bins):
                z = spectrum[f, c, k]
                magnitude = np.float32(np.sqrt(z.real * z.real + z.imag * z.imag))
                total += magnitude / (denominator[c, first + f, k] + eps)
            out[c, first + f] = total


_LOG_GROUP_MAGNITUDES = 16  # magnitudes (+1e-30) multiplied before a logarithm: in float64's range unless silent


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def magnitude_distance_sums(x_spectrum, y_spectrum, eps):  # pragma: no cover - jit
    """Sums of the stereo losses' terms for one block of bins, float32 magnitudes ``X = |x|``, ``Y = |y|``.

    Args:
        x_spectrum, y_spectrum: complex64 ``(n,)`` (output and target bins).
        eps: float32 added before the logarithm (1e-30, the release's).

    Returns:
        ``(sum (Y - X)², sum Y², sum |log(X + eps) - log(Y + eps)|)`` in float64; the last as
        ``sum_g [log prod_{k in g} max - log prod_{k in g} min]`` of ``X + eps`` and ``Y + eps`` over groups of 16
        bins (two logarithms per 16 bins instead of two per bin); a group whose product leaves float64's range
        (near-silent bins: ``(1e-30)^16``) is taken bin by bin.
    """
    squared_error = 0.0
    energy = 0.0
    log_sum = 0.0
    n = x_spectrum.shape[0]
    for first in range(0, n, _LOG_GROUP_MAGNITUDES):
        stop = min(first + _LOG_GROUP_MAGNITUDES, n)
        larger = 1.0
        smaller = 1.0
        for i in range(first, stop):
            x = x_spectrum[i]
            y = y_spectrum[i]
            mx = np.sqrt(x.real * x.real + x.imag * x.imag)
            my = np.sqrt(y.real * y.real + y.imag * y.imag)
            d = my - mx
            squared_error += d * d
            energy += my * my
            larger *= np.float64(max(mx + eps, my + eps))
            smaller *= np.float64(min(mx + eps, my + eps))
        if 1e-300 < smaller and larger < 1e300:
            log_sum += np.log(larger) - np.log(smaller)
        else:
            for i in range(first, stop):
                mx = np.sqrt(x_spectrum[i].real ** 2 + x_spectrum[i].imag ** 2) + eps
                my = np.sqrt(y_spectrum[i].real ** 2 + y_spectrum[i].imag ** 2) + eps
                log_sum += abs(np.log(np.float64(mx)) - np.log(np.float64(my)))
    return squared_error, energy, log_sum


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def spectral_moments(magnitude, frequencies, moments, mean_power, mean_log_power):  # pragma: no cover - jit
    """Per row of ``magnitude`` (a frame's bins): ``sum |X|·[1, f, f²]`` (centroid, bandwidth), and the mean and
    mean logarithm of the power ``P = max(|X|², 1e-10)`` (flatness), float64 sums, in one pass.

    ``|X|²`` and its floor are float32 (as librosa's ``S**2``); the logarithm is taken once per 16 bins, of the
    float64 product of their powers (within ``[1e-160, 1e96]`` for ``|X| <= 1e3``; a group outside float64's range
    is taken bin by bin).

    Args:
        magnitude: float32 ``(rows, bins)``.
        frequencies: float32 ``(bins,)`` Hz.
        moments: float64 ``(rows, 3)``, written.
        mean_power, mean_log_power: float64 ``(rows,)``, written.
    """
    n_rows, n_bins = magnitude.shape
    floor = np.float32(1e-10)
    for r in range(n_rows):
        total = 0.0
        first_moment = 0.0
        second_moment = 0.0
        power_sum = 0.0
        log_sum = 0.0
        for first in range(0, n_bins, _LOG_GROUP):
            stop = min(first + _LOG_GROUP, n_bins)
            product = 1.0
            for k in range(first, stop):
                m = magnitude[r, k]
                f = np.float64(frequencies[k])
                total += m
                first_moment += f * m
                second_moment += f * f * m
                power = max(m * m, floor)
                power_sum += power
                product *= np.float64(power)
            if 1e-300 < product < 1e300:
                log_sum += np.log(product)
            else:
                for k in range(first, stop):
                    log_sum += np.log(np.float64(max(magnitude[r, k] * magnitude[r, k], floor)))
        moments[r, 0] = total
        moments[r, 1] = first_moment
        moments[r, 2] = second_moment
        mean_power[r] = power_sum / n_bins
        mean_log_power[r] = log_sum / n_bins
