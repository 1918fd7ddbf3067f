"""Feed-forward log-domain compressor of the FxNorm-Automix release (spec §1.6, "Compressor algorithm").

Per sample and per channel, hard knee, no look-ahead:

* level ``xg = 20·log10|x|`` (``-120`` dB when ``|x| < 1e-6``);
* static curve, ratio ``R > 1``: ``yg = T + (xg - T)/R`` above the threshold ``T``, ``yg = xg`` below
  (``R < 1``, upward expander: ``yg = T + (xg - T)·R`` at or below ``T``);
* gain reduction ``xl = xg - yg`` smoothed by a one-pole filter whose coefficient is the attack one while the
  reduction rises and the release one otherwise, ``α = exp(-1 / (0.001·SR·t_ms))``, initial state 0;
* ``y = x · 10^((makeup - yl)/20)``.

Difference from the release: ``R == 1`` is an exact no-op here (the release leaves ``yg`` at 0 dB, which turns the
"compressor" into a level-dependent gain).

Speed: only the smoothing recursion is inherently sequential. It runs in a numba kernel; the level (a log) and the
gain (an exp) are vectorized NumPy calls (SIMD), and the level is computed once per channel when a search tries many
settings on the same input (:func:`compress_channel`). A 3-min channel takes a few tens of ms per setting instead of
the release's 0.43 s (see ``benchmarks/bench_compression.py``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from automix.conventions import SAMPLE_RATE

LEVEL_FLOOR = 1e-6  # linear; below it the detector reads LEVEL_FLOOR_DB
LEVEL_FLOOR_DB = -120.0
_DB_TO_LOG = math.log(10.0) / 20.0  # 10^(g/20) == exp(g * _DB_TO_LOG)


def smoothing_coefficient(time_ms: float, sample_rate: int = SAMPLE_RATE) -> float:
    """One-pole coefficient ``exp(-1 / (0.001·sample_rate·time_ms))`` of an attack or release time."""
    return math.exp(-1.0 / (0.001 * sample_rate * time_ms))


def level_db(x_mono: np.ndarray) -> np.ndarray:
    """Detector level of every sample: ``20·log10|x|`` in dBFS, ``-120`` where ``|x| < 1e-6``; float64 ``(n,)``."""
    x_mono = np.asarray(x_mono)
    # In place on one float64 array (the same operations as 20 * log10(max(|x|, floor)), so the same bits)
    level = np.abs(x_mono, dtype=np.float64) if x_mono.dtype != np.float64 else np.abs(x_mono)
    quiet = level < LEVEL_FLOOR
    np.maximum(level, LEVEL_FLOOR, out=level)
    np.log10(level, out=level)
    np.multiply(level, 20.0, out=level)
    level[quiet] = LEVEL_FLOOR_DB
    return level


@numba.njit(cache=True)
def _smoothed_gain_reduction_db(level, threshold_db, ratio, alpha_attack, alpha_release):  # pragma: no cover - jit
    """Static curve + attack/release smoothing; returns the smoothed gain reduction ``yl`` in dB (float64 ``(n,)``)."""
    out = np.empty(level.shape[0], dtype=np.float64)
    _gain_reduction_block(level, 0, level.shape[0], threshold_db, ratio, alpha_attack, alpha_release, 0.0, out)
    return out


@numba.njit(cache=True, nogil=True)
def _gain_reduction_block(level, start, stop, threshold_db, ratio, alpha_attack, alpha_release, state,
                          out):  # pragma: no cover - jit
    """Static curve + attack/release smoothing (the compressor's recursion) on samples ``start:stop`` from the
    smoother's ``state``, into ``out`` (``stop - start`` values); returns the state after the block, so blocks
    carried one into the next give the whole signal's values (:func:`_smoothed_gain_reduction_db` is one block)."""
    for i in range(start, stop):
        xg = level[i]
        yg = xg
        if ratio > 1.0 and xg >= threshold_db:
            yg = threshold_db + (xg - threshold_db) / ratio
        elif ratio < 1.0 and xg <= threshold_db:
            yg = threshold_db + (xg - threshold_db) * ratio
        xl = xg - yg
        alpha = alpha_attack if xl > state else alpha_release
        state = alpha * state + (1.0 - alpha) * xl
        out[i - start] = state
    return state


GAIN_BLOCK = 1 << 15  # samples per block of apply_compressor: the float64 gain block stays in cache


def _check_settings(threshold_db: float, ratio: float, attack_ms: float, release_ms: float, sample_rate: int,
                    makeup_db: float) -> None:
    for name, value in (("ratio", ratio), ("attack_ms", attack_ms), ("release_ms", release_ms),
                        ("sample_rate", sample_rate)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"compressor {name} must be a finite number > 0, got {value!r}")
    for name, value in (("threshold_db", threshold_db), ("makeup_db", makeup_db)):
        if not np.isfinite(value):
            raise ValueError(f"compressor {name} must be a finite number, got {value!r}")


def compress_channel(x_mono: np.ndarray, levels_db: np.ndarray, threshold_db: float, ratio: float,
                     attack_ms: float, release_ms: float, sample_rate: int = SAMPLE_RATE,
                     makeup_db: float = 0.0) -> np.ndarray:
    """Compress one channel whose detector level :func:`level_db` is already known (for repeated settings).

    Args:
        x_mono: one channel, shape ``(n_samples,)``, float32 or float64 (kept).
        levels_db: ``level_db(x_mono)``, shape ``(n_samples,)``.
        threshold_db: threshold ``T`` in dBFS.
        ratio: compression ratio ``R`` (> 1 compresses, 1 is a no-op, < 1 expands upwards below ``T``).
        attack_ms, release_ms: smoothing time constants in ms.
        sample_rate: in Hz.
        makeup_db: gain added after compression, in dB.

    Returns:
        New array, same shape and dtype as ``x_mono``.
    """
    _check_settings(threshold_db, ratio, attack_ms, release_ms, sample_rate, makeup_db)
    if ratio == 1.0:
        return (x_mono * (10.0 ** (makeup_db / 20.0))).astype(x_mono.dtype) if makeup_db else x_mono.copy()
    gain = compressor_gain(levels_db, threshold_db, ratio, attack_ms, release_ms, sample_rate, makeup_db)
    return (x_mono * gain).astype(x_mono.dtype, copy=False)


def compressor_gain(levels_db: np.ndarray, threshold_db: float, ratio: float, attack_ms: float, release_ms: float,
                    sample_rate: int = SAMPLE_RATE, makeup_db: float = 0.0) -> np.ndarray:
    """Linear gain ``10^((makeup - yl)/20)`` of every sample for a detector level ``levels_db`` (float64 ``(n,)``).

    Applying one gain to several channels (computed from a linked detector, e.g. the louder channel's level) keeps
    their balance.
    """
    _check_settings(threshold_db, ratio, attack_ms, release_ms, sample_rate, makeup_db)
    if ratio == 1.0:
        return np.full(levels_db.shape[0], 10.0 ** (makeup_db / 20.0))
    gain = _smoothed_gain_reduction_db(
        levels_db, float(threshold_db), float(ratio),
        smoothing_coefficient(attack_ms, sample_rate), smoothing_coefficient(release_ms, sample_rate))
    return _reduction_to_gain(gain, makeup_db)


def _reduction_to_gain(reduction_db: np.ndarray, makeup_db: float) -> np.ndarray:
    """``exp((makeup - reduction) · ln(10)/20)`` in place (no extra array; element-wise, so blocks give the same
    bits as the whole signal); returns ``reduction_db``, now the linear gain."""
    np.subtract(makeup_db, reduction_db, out=reduction_db)
    np.multiply(reduction_db, _DB_TO_LOG, out=reduction_db)
    return np.exp(reduction_db, out=reduction_db)


def apply_compressor(levels_db: np.ndarray, x: np.ndarray, threshold_db: float, ratio: float, attack_ms: float,
                     release_ms: float, sample_rate: int = SAMPLE_RATE, makeup_db: float = 0.0,
                     out: np.ndarray | None = None) -> np.ndarray:
    """``x · compressor_gain(levels_db, ...)`` in ``x``'s dtype, block by block: the same values, without the float64
    gain array of the whole signal (~2x the float32 signal's memory) and with the gain in cache when it is applied.

    Args:
        levels_db: detector level ``(n,)``.
        x: one channel ``(n,)`` or channels as rows ``(n_channels, n)`` (one gain for all), float32 or float64.
        out: array like ``x`` to write into (default: a new one).

    Returns:
        ``out``: every value the rounding of ``x * gain`` to ``x``'s dtype.
    """
    _check_settings(threshold_db, ratio, attack_ms, release_ms, sample_rate, makeup_db)
    out = np.empty_like(x) if out is None else out
    n_samples = levels_db.shape[0]
    if ratio == 1.0:
        np.multiply(x, 10.0 ** (makeup_db / 20.0), out=out, casting="same_kind")
        return out
    alpha_attack = smoothing_coefficient(attack_ms, sample_rate)
    alpha_release = smoothing_coefficient(release_ms, sample_rate)
    buffer = np.empty(min(GAIN_BLOCK, n_samples))
    state = 0.0
    for start in range(0, n_samples, GAIN_BLOCK):
        stop = min(start + GAIN_BLOCK, n_samples)
        gain = buffer[:stop - start]
        state = _gain_reduction_block(levels_db, start, stop, float(threshold_db), float(ratio), alpha_attack,
                                      alpha_release, state, gain)
        _reduction_to_gain(gain, makeup_db)
        np.multiply(x[..., start:stop], gain, out=out[..., start:stop], casting="same_kind")
    return out


def linked_level_db(x: np.ndarray) -> np.ndarray:
    """Stereo-linked detector level: the louder channel's :func:`level_db` at every sample, ``(n,)``."""
    x = np.asarray(x)
    if x.ndim != 2:
        return level_db(x)
    # Channel by channel: np.max(np.abs(x), axis=1) reduces rows of 2 elements, ~15x slower (0.54 s on 3 min)
    loudest = np.abs(x[:, 0])
    for c in range(1, x.shape[1]):
        np.maximum(loudest, np.abs(x[:, c]), out=loudest)
    return level_db(loudest)


@numba.njit(cache=True, nogil=True)
def _compressed_segment_peaks(level, rows, onsets, bounds, threshold_db, ratio, alpha_attack,
                              alpha_release):  # pragma: no cover - jit
    """Segment peaks ``max |rows[c] · gain|`` of the compressor's output, without making the output.

    The gain is the one of :func:`_smoothed_gain_reduction_db` (same recursion) for ``ratio > 1``, where it is at
    most 1: a sample can only raise its segment's peak if ``|x|`` alone exceeds it, so ``exp`` runs for few samples.
    Channel ``c``'s segments start at ``onsets[bounds[c]:bounds[c + 1]]`` (sorted); samples before the first onset
    belong to no segment (as ``np.maximum.reduceat``). Returns float64 ``(len(onsets),)``.
    """
    n_channels, n_samples = rows.shape
    peaks = np.zeros(onsets.shape[0])
    current = np.full(n_channels, -1, dtype=np.int64)  # segment of each channel (index into onsets), -1: none yet
    upcoming = bounds[:-1].copy()  # next onset of each channel
    state = 0.0
    for i in range(n_samples):
        xg = level[i]
        xl = 0.0
        if xg >= threshold_db:
            xl = xg - (threshold_db + (xg - threshold_db) / ratio)
        alpha = alpha_attack if xl > state else alpha_release
        state = alpha * state + (1.0 - alpha) * xl
        gain = -1.0  # not computed yet
        for c in range(n_channels):
            while upcoming[c] < bounds[c + 1] and onsets[upcoming[c]] <= i:
                current[c] = upcoming[c]
                upcoming[c] += 1
            segment = current[c]
            if segment >= 0:
                value = abs(np.float64(rows[c, i]))
                if value > peaks[segment]:
                    if gain < 0.0:
                        gain = math.exp(-state * _DB_TO_LOG)
                    value *= gain
                    if value > peaks[segment]:
                        peaks[segment] = value
    return peaks


def compressed_segment_peaks(levels_db: np.ndarray, rows: np.ndarray, onsets, threshold_db: float, ratio: float,
                             attack_ms: float, release_ms: float, sample_rate: int = SAMPLE_RATE) -> list:
    """Per channel, the peak ``max |y|`` of every inter-onset segment of the compressed signal ``y = x · gain``.

    What :func:`~automix.fxnorm.onsets.onset_peak_levels_db` would read from the output of :func:`compressor_gain`
    applied to ``rows``, for given onsets, in one pass without the output (float64 products, not rounded to
    float32). A prediction aid for the compression search.

    Args:
        levels_db: detector level ``(n,)`` (e.g. :func:`linked_level_db`).
        rows: the signal, channels as rows ``(n_channels, n)`` (or one channel ``(n,)``).
        onsets: per channel, sorted segment starts (int ``(k_c,)``).
        ratio: > 1 (a compressor).

    Returns:
        per channel, float64 ``(k_c,)``.
    """
    _check_settings(threshold_db, ratio, attack_ms, release_ms, sample_rate, 0.0)
    if not ratio > 1.0:
        raise ValueError(f"compressed_segment_peaks needs a ratio > 1, got {ratio!r}")
    rows = rows[None] if rows.ndim == 1 else rows
    if len(onsets) != rows.shape[0]:
        raise ValueError(f"one onset array per channel expected: {len(onsets)} for {rows.shape[0]} channels")
    bounds = np.cumsum([0] + [len(o) for o in onsets]).astype(np.int64)
    flat = np.concatenate([np.asarray(o, dtype=np.int64) for o in onsets]) if bounds[-1] else np.zeros(0, np.int64)
    peaks = _compressed_segment_peaks(levels_db, rows, flat, bounds, float(threshold_db), float(ratio),
                                      smoothing_coefficient(attack_ms, sample_rate),
                                      smoothing_coefficient(release_ms, sample_rate))
    return [peaks[bounds[c]:bounds[c + 1]] for c in range(rows.shape[0])]


def compress(x: np.ndarray, threshold_db: float, ratio: float, attack_ms: float, release_ms: float,
             sample_rate: int = SAMPLE_RATE, makeup_db: float = 0.0) -> np.ndarray:
    """Apply the release's compressor to every channel independently (never in place).

    Args:
        x: audio, shape ``(n_samples,)`` or ``(n_samples, n_channels)``; float32 or float64 (other dtypes become
            float32).
        threshold_db: threshold in dBFS.
        ratio: compression ratio (> 1 compresses; exactly 1 returns an unchanged copy; < 1 is the release's
            upward expander below the threshold).
        attack_ms, release_ms: smoothing time constants in ms (> 0).
        sample_rate: in Hz.
        makeup_db: output gain in dB.

    Returns:
        The compressed audio, same shape as ``x``.

    Raises:
        ValueError: on a non-positive ratio/time/sample rate or an input with more than two dimensions.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    if x.ndim == 1:
        return compress_channel(x, level_db(x), threshold_db, ratio, attack_ms, release_ms, sample_rate, makeup_db)
    if x.ndim != 2:
        raise ValueError(f"compress expects audio of shape (n_samples,) or (n_samples, n_channels), got {x.shape}")
    out = np.empty_like(x)
    for channel in range(x.shape[1]):
        column = np.ascontiguousarray(x[:, channel])
        out[:, channel] = compress_channel(column, level_db(column), threshold_db, ratio, attack_ms, release_ms,
                                           sample_rate, makeup_db)
    return out
