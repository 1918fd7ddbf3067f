"""Leading/trailing silence of a reference mixture, trimmed from reference and estimate alike (spec §6 step 8).

The release trims with SoX ``silence 1 0.1 0.1%`` at both ends: audio is dropped until 0.1 s in a row is above
0.1 % of full scale. Here the level is the running RMS over 20-ms windows (the louder channel), so a zero crossing
does not count as silence. Unlike the release (whose ``[:-0]`` slice emptied the signal when nothing was trimmed at
the end), trimming never removes the whole signal: a reference with no 0.1-s stretch above the threshold is kept as
it is.
"""

from __future__ import annotations

import numpy as np

THRESHOLD = 1e-3  # 0.1 % of full scale
MIN_ACTIVE_SECONDS = 0.1
RMS_WINDOW_SECONDS = 0.02


def active_bounds(reference: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """``(start, stop)`` sample bounds of the reference between its leading and trailing silence.

    Args:
        reference: ``(n_samples, channels)`` audio.
        sample_rate: in Hz.

    Returns:
        ``(0, n_samples)`` when the reference has no active stretch (nothing is trimmed).
    """
    x = np.asarray(reference, np.float64)
    n = x.shape[0]
    window = max(1, round(RMS_WINDOW_SECONDS * sample_rate))
    if n < window:
        return 0, n
    cumulative = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x ** 2, axis=0)])
    rms = np.sqrt(np.maximum(cumulative[window:] - cumulative[:-window], 0.0) / window).max(axis=1)
    loud = rms > THRESHOLD  # loud[i]: window starting at sample i
    run = max(1, round(MIN_ACTIVE_SECONDS * sample_rate) - window + 1)
    if loud.size < run:
        return 0, n
    counts = np.convolve(loud.astype(np.int32), np.ones(run, dtype=np.int32), mode="valid")
    full = np.flatnonzero(counts == run)  # runs of 0.1 s that are loud throughout
    if full.size == 0:
        return 0, n
    return int(full[0]), int(min(n, full[-1] + run + window - 1))


def trim_silence(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Both signals cut to the reference's active bounds (same sample indices, so they stay aligned)."""
    start, stop = active_bounds(reference, sample_rate)
    return reference[start:stop], estimate[start:stop]
