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
    magnitude = np.abs(np.asarray(x_mono, dtype=np.float64))
    level = 20.0 * np.log10(np.maximum(magnitude, LEVEL_FLOOR))
    level[magnitude < LEVEL_FLOOR] = LEVEL_FLOOR_DB
    return level


@numba.njit(cache=True)
def _smoothed_gain_reduction_db(level, threshold_db, ratio, alpha_attack, alpha_release):  # pragma: no cover - jit
    """Static curve + attack/release smoothing; returns the smoothed gain reduction ``yl`` in dB (float64 ``(n,)``)."""
    out = np.empty(level.shape[0], dtype=np.float64)
    state = 0.0
    for i in range(level.shape[0]):
        xg = level[i]
        yg = xg
        if ratio > 1.0 and xg >= threshold_db:
            yg = threshold_db + (xg - threshold_db) / ratio
        elif ratio < 1.0 and xg <= threshold_db:
            yg = threshold_db + (xg - threshold_db) * ratio
        xl = xg - yg
        alpha = alpha_attack if xl > state else alpha_release
        state = alpha * state + (1.0 - alpha) * xl
        out[i] = state
    return out


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
    # exp((makeup - reduction) * c) computed in place: the same operations, no extra whole-signal arrays
    np.subtract(makeup_db, gain, out=gain)
    np.multiply(gain, _DB_TO_LOG, out=gain)
    return np.exp(gain, out=gain)


def linked_level_db(x: np.ndarray) -> np.ndarray:
    """Stereo-linked detector level: the louder channel's :func:`level_db` at every sample, ``(n,)``."""
    x = np.asarray(x)
    return level_db(np.max(np.abs(x), axis=1)) if x.ndim == 2 else level_db(x)


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
