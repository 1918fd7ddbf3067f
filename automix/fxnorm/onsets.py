"""Onset detection and the onset-peak statistic used to measure dynamics.

The compression feature of FxNorm-Automix (spec §1.6) is not a crest factor or an RMS ratio: it is the level of the
loudest transients. Onsets are found with aubio's high-frequency-content (HFC) detector; every inter-onset segment
contributes its peak level, and the statistic is the mean and standard deviation of the peaks in the top quartile.
A compressor pulls those peaks down, so the statistic falls as compression increases.

Everything here works on one channel (mono, shape ``(n_samples,)``). ``aubio`` is imported lazily so that importing
``automix.fxnorm`` stays cheap.
"""

from __future__ import annotations

import numpy as np

from automix.conventions import SAMPLE_RATE

ONSET_METHOD = "hfc"
ONSET_FRAME_SIZE = 1024  # buffer size == hop size: consecutive, non-overlapping frames
PEAK_PERCENTILE = 75.0
# A segment whose peak is exactly zero would give -inf dB and a NaN statistic; the floor matches the compressor's.
PEAK_FLOOR = 1e-6


def detect_onsets(x_mono: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Find onsets with aubio's HFC detector, configured as the original release.

    aubio ``onset('hfc', buf_size=1024, hop_size=1024)`` with its defaults (threshold 0.058, silence gate -70 dB,
    minimum inter-onset interval 50 ms) is fed consecutive 1024-sample frames; a trailing partial frame is dropped.
    Positions come from ``get_last()``, which aubio already compensates for its detection delay.

    Args:
        x_mono: one channel, shape ``(n_samples,)``, any float dtype (cast to float32: aubio rejects float64).
        sample_rate: in Hz.

    Returns:
        Sorted, unique onset positions (sample indices into ``x_mono``), int64, shape ``(n_onsets,)``.

    Raises:
        ValueError: if ``x_mono`` is not one-dimensional.
    """
    import aubio  # lazy: a C extension that is only needed for the compression effect

    x_mono = np.asarray(x_mono)
    if x_mono.ndim != 1:
        raise ValueError(f"detect_onsets expects one channel of shape (n_samples,), got shape {x_mono.shape}")
    frames = np.ascontiguousarray(x_mono, dtype=np.float32)
    detector = aubio.onset(ONSET_METHOD, ONSET_FRAME_SIZE, ONSET_FRAME_SIZE, int(sample_rate))
    positions = []
    for start in range(0, len(frames) - ONSET_FRAME_SIZE + 1, ONSET_FRAME_SIZE):
        if detector(frames[start:start + ONSET_FRAME_SIZE])[0]:
            positions.append(detector.get_last())
    if not positions or len(frames) == 0:
        return np.zeros(0, dtype=np.int64)
    # get_last() is delay-compensated, so it is never past the frame end; clip anyway so indexing is always valid.
    return np.unique(np.clip(np.asarray(positions, dtype=np.int64), 0, len(frames) - 1))


def onset_peak_levels_db(x_mono: np.ndarray, onsets: np.ndarray, precision: str = "float64") -> np.ndarray:
    """Peak level of every inter-onset segment ``[o_i, o_{i+1})``, the last one running to the end.

    Args:
        x_mono: one channel, shape ``(n_samples,)``.
        onsets: sorted unique sample indices, shape ``(n_onsets,)``, ``n_onsets >= 1``.
        precision: ``"float64"``: ``20·log10(max(peak, 1e-6))`` in float64; ``"float32"``: the release's
            ``20·log10(peak + 1e-30)`` in float32 (its patched ``get_mean_peak`` works on a float32 copy).

    Returns:
        ``20·log10(max |x|)`` per segment in dBFS, shape ``(n_onsets,)`` (float64, or float32).
    """
    x_mono = np.asarray(x_mono)
    # max |x| per segment as max(max x, -min x): two streaming reductions in the input's precision (|x| is exact in
    # any float format, so the peaks are the same) instead of a float64 copy and its absolute value (~8x slower).
    peaks = np.maximum(np.maximum.reduceat(x_mono, onsets), -np.minimum.reduceat(x_mono, onsets))
    if precision == "float32":
        return 20 * np.log10(peaks.astype(np.float32) + 1e-30)
    return 20.0 * np.log10(np.maximum(peaks.astype(np.float64), PEAK_FLOOR))


def top_quartile_statistic(levels_db: np.ndarray) -> tuple[float, float]:
    """Mean and population std of the levels strictly above their 75th percentile (all levels if none is).

    Computed in the levels' precision (float32 levels give the release's float32 statistic)."""
    threshold = np.percentile(levels_db, PEAK_PERCENTILE)  # NumPy's default linear interpolation, as the release
    kept = levels_db[levels_db > threshold]
    if kept.size == 0:  # e.g. one onset, or all peaks equal
        kept = levels_db
    return float(np.mean(kept)), float(np.std(kept))


def onset_peak_statistic(x_mono: np.ndarray, sample_rate: int = SAMPLE_RATE,
                         precision: str = "float64") -> tuple[float, float] | None:
    """The release's dynamics statistic of one channel (spec §1.6, ``mean_peak``).

    Args:
        x_mono: one channel, shape ``(n_samples,)``. The statistic depends on the absolute level (peaks in dBFS,
            aubio's -70 dB silence gate), so callers peak-normalize first.
        sample_rate: in Hz.
        precision: ``"float32"`` (release mode): measured, as the release under NumPy 2, on the channel rounded to
            float32, with float32 levels, percentile, mean and std; ``"float64"``: float64 levels.

    Returns:
        ``(mean_db, std_db)`` of the loud onset peaks, or ``None`` when no onset is detected.
    """
    return onset_peak_statistic_and_onsets(x_mono, sample_rate, precision)[0]


def onset_peak_statistic_and_onsets(x_mono: np.ndarray, sample_rate: int = SAMPLE_RATE,
                                    precision: str = "float64") -> tuple[tuple[float, float] | None, np.ndarray]:
    """:func:`onset_peak_statistic` and the onsets it was computed from (:func:`detect_onsets`, int64 ``(n,)``).

    The compression search re-uses the onsets of a measured signal to predict the statistic of nearby compressor
    settings without running the detector (:func:`automix.fxnorm.dynamics.fast_search_compression`).
    """
    if precision == "float32":
        x_mono = np.ascontiguousarray(x_mono, dtype=np.float32)
    onsets = detect_onsets(x_mono, sample_rate)
    if onsets.size == 0:
        return None, onsets
    return top_quartile_statistic(onset_peak_levels_db(x_mono, onsets, precision)), onsets
