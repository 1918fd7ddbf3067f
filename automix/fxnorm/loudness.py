"""Loudness measurement and normalization (ITU-R BS.1770-4), and the activity gate (spec §1.3, §1.7).

:func:`integrated_loudness` computes exactly what ``pyloudnorm.Meter(44100).integrated_loudness`` computes
(same K-weighting biquads, block bounds and gating) but with cumulative sums instead of pyloudnorm's Python loop over
400-ms blocks: 0.75 s -> ~0.05 s for a 3-minute stereo stem. The test suite checks it against pyloudnorm.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

SAMPLE_RATE = 44100
GATE_DB = -50.0  # peak at or below this: the stem is "silence" and passes through unchanged (spec §1.3)
ANALYSIS_LUFS = -30.0  # level at which EQ spectra are measured (spec §1.5)
_BLOCK_S = 0.4
_BLOCK_STEP = 0.25  # 75 % overlap
_ABSOLUTE_GATE_LUFS = -70.0
_CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)  # BS.1770 weights as in pyloudnorm (L, R, C, Ls, Rs)


def peak_db(x: np.ndarray) -> float:
    """Sample peak in dBFS (``-inf`` for an all-zero signal)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else -np.inf


def is_silent(x: np.ndarray, gate_db: float = GATE_DB) -> bool:
    """True if the peak is at or below ``gate_db`` (all-zero signals included)."""
    return peak_db(x) <= gate_db


def _k_weighting_sos(sample_rate: int) -> np.ndarray:
    """The two K-weighting biquads with pyloudnorm's (RBJ) coefficients, as second-order sections ``(2, 6)``."""
    from pyloudnorm.iirfilter import IIRfilter  # the coefficient formulas of the reference meter

    stages = (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, sample_rate, "high_shelf"),
              IIRfilter(0.0, 0.5, 38.0, sample_rate, "high_pass"))
    return np.array([np.concatenate([stage.b, stage.a]) for stage in stages])


def _block_mean_squares(weighted: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean square of every 400-ms block, ``(n_channels, n_blocks)``, with pyloudnorm's block bounds."""
    n_samples = weighted.shape[0]
    duration = n_samples / sample_rate
    count = int(np.round((duration - _BLOCK_S) / (_BLOCK_S * _BLOCK_STEP))) + 1
    j = np.arange(max(count, 0), dtype=np.float64)
    lower = np.minimum((_BLOCK_S * (j * _BLOCK_STEP) * sample_rate).astype(np.int64), n_samples)
    upper = np.minimum((_BLOCK_S * (j * _BLOCK_STEP + 1) * sample_rate).astype(np.int64), n_samples)
    # Sum the squares between consecutive block bounds once (float64 accumulation), then add up the few segments
    # of each block: ~4x cheaper than a cumulative sum over every sample.
    bounds = np.unique(np.concatenate([lower, upper, [0, n_samples]]))
    segments = np.add.reduceat(np.square(weighted), bounds[:-1], axis=0, dtype=np.float64)
    segments[bounds[:-1] == bounds[1:]] = 0.0  # (reduceat returns the element itself for empty segments)
    cumulative = np.concatenate([np.zeros((1, weighted.shape[1])), np.cumsum(segments, axis=0)])
    position = {bound: index for index, bound in enumerate(bounds)}
    sums = (cumulative[[position[u] for u in upper]] - cumulative[[position[b] for b in lower]]).T
    return sums / (_BLOCK_S * sample_rate)


def integrated_loudness(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Integrated gated loudness in LUFS, identical to ``pyloudnorm.Meter(sample_rate)`` (BS.1770-4).

    Args:
        x: audio, shape ``(n_samples,)`` or ``(n_samples, n_channels)`` with at most 5 channels.
        sample_rate: in Hz.

    Returns:
        LUFS; ``-inf`` when every block is below the -70 LUFS absolute gate.
    """
    x = np.asarray(x)
    x = x[:, None] if x.ndim == 1 else x
    if x.shape[1] > len(_CHANNEL_GAINS):
        raise ValueError(f"at most {len(_CHANNEL_GAINS)} channels, got {x.shape[1]}")
    # One sosfilt pass for both biquads (4x faster than pyloudnorm's two lfilter passes; same within 1e-6 LU).
    weighted = scipy.signal.sosfilt(_k_weighting_sos(sample_rate), x, axis=0).astype(x.dtype, copy=False)
    z = _block_mean_squares(weighted, sample_rate)
    if z.shape[1] == 0:
        return -np.inf
    gains = np.asarray(_CHANNEL_GAINS[: x.shape[1]])[:, None]
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(np.sum(gains * z, axis=0))
    above_absolute = block_lufs >= _ABSOLUTE_GATE_LUFS
    if not np.any(above_absolute):
        return -np.inf
    relative_gate = -0.691 + 10.0 * np.log10(np.sum(gains[:, 0] * z[:, above_absolute].mean(axis=1))) - 10.0
    kept = (block_lufs > relative_gate) & (block_lufs > _ABSOLUTE_GATE_LUFS)
    if not np.any(kept):
        return -np.inf
    with np.errstate(divide="ignore"):
        return float(-0.691 + 10.0 * np.log10(np.sum(gains[:, 0] * z[:, kept].mean(axis=1))))


def lufs_normalize(x: np.ndarray, target_lufs: float, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, float]:
    """Scale to ``target_lufs``, then scale down if the peak would exceed full scale (the release's helper).

    The loudness is measured on ``x + 1e-10``; the gain is ``10^((target - measured) / 20)``; the result is divided
    by ``max(1, 1e-6 + max|y|)``, so a stem that would clip ends with peak ~1 and below the target.

    Args:
        x: audio ``(n_samples, n_channels)`` or ``(n_samples,)``; not modified.
        target_lufs: target integrated loudness.

    Returns:
        ``(y, measured_lufs)``: float32 audio of the shape of ``x`` and the loudness measured before. If the
        measurement is not finite (everything gated), ``y`` is an unchanged copy.
    """
    measured = integrated_loudness(np.asarray(x, dtype=np.float32) + 1e-10, sample_rate)
    if not np.isfinite(measured):
        return np.array(x, dtype=np.float32, copy=True), measured
    y = np.asarray(x, dtype=np.float32) * np.float32(10.0 ** ((target_lufs - measured) / 20.0))
    y /= np.float32(max(1.0, 1e-6 + float(np.max(np.abs(y)))))
    return y, measured


def loudness_feature(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """Per-file loudness feature: integrated LUFS of the (padded) stereo stem, shape ``(1,)`` float64.

    Returns ``None`` for silence (peak <= -50 dBFS or everything below the loudness gate): excluded from averages.
    """
    if is_silent(x):
        return None
    lufs = integrated_loudness(x, sample_rate)
    return np.array([lufs], dtype=np.float64) if np.isfinite(lufs) else None


def match_loudness(x: np.ndarray, target_lufs: float, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, dict]:
    """Normalize a stem to the dataset-mean loudness, peak-safe (spec §1.7).

    Args:
        x: audio ``(n_samples, n_channels)``; not modified.
        target_lufs: dataset-mean LUFS of this stem type.

    Returns:
        ``(y, report)`` with ``report = {"lufs_before", "lufs_after", "gain_db", "peak_limited"}``.
    """
    y, before = lufs_normalize(x, float(target_lufs), sample_rate)
    if not np.isfinite(before):
        return y, {"lufs_before": before, "lufs_after": before, "gain_db": 0.0, "peak_limited": False}
    # Loudness scales exactly with gain (the gates are relative or far below), so no second measurement is needed.
    peak_x = float(np.max(np.abs(x)))
    gain_db = 20.0 * np.log10(float(np.max(np.abs(y))) / peak_x)
    return y, {"lufs_before": before, "lufs_after": before + gain_db, "gain_db": gain_db,
               "peak_limited": bool(gain_db < float(target_lufs) - before - 0.01)}
