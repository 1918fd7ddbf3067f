"""numba kernel of the loudness meter (imported lazily, so importing ``automix.fxnorm`` stays cheap).

Why a kernel: a 3-minute padded stereo stem is 8 M frames, 64 MiB as float32. The NumPy formulation (``sosfilt`` ->
``square`` -> ``reduceat``) allocates whole-song temporaries, and on Linux every fresh allocation of that size is a new
``mmap`` whose page faults cost more than the arithmetic: a measurement took ~0.2 s user + ~0.4 s system CPU time,
the kernel ~0.06 s. ``cache=True`` stores the compiled code in ``__pycache__``, so worker processes load it instead
of compiling it again.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def sos_cascade(sos, state, c, value):  # pragma: no cover - jit
    """One sample of channel ``c`` through the biquad cascade ``sos`` (scipy's ``(n_sections, 6)`` with
    ``a0 = 1``), transposed direct form II as scipy's ``sosfilt``; updates ``state[c]`` ``(n_sections, 2)`` in
    place and returns the output sample (float64)."""
    for s in range(sos.shape[0]):
        y = sos[s, 0] * value + state[c, s, 0]
        state[c, s, 0] = sos[s, 1] * value - sos[s, 4] * y + state[c, s, 1]
        state[c, s, 1] = sos[s, 2] * value - sos[s, 5] * y
        value = y
    return value


@numba.njit(cache=True, nogil=True)
def k_weighted_segment_sums(x, sos, bounds, offset):  # pragma: no cover - jit
    """Sum of squares of the K-weighted signal between consecutive ``bounds``, per channel.

    Args:
        x: audio ``(n_samples, n_channels)``, float32 or float64.
        sos: second-order sections ``(n_sections, 6)`` float64 (``b0 b1 b2 a0 a1 a2``, ``a0 == 1``), applied in
            cascade from zero state (transposed direct form II, as ``scipy.signal.sosfilt``; float64 arithmetic).
        bounds: sorted sample indices ``(n_bounds,)`` int64 with ``bounds[0] == 0`` and ``bounds[-1] == n_samples``.
        offset: added to every sample first, in the input's precision (``x + 1e-10`` of the release's helper).

    Returns:
        float64 ``(n_bounds - 1, n_channels)``: segment ``k`` covers samples ``bounds[k] : bounds[k + 1]``.
    """
    n_samples, n_channels = x.shape
    n_sections = sos.shape[0]
    sums = np.zeros((bounds.shape[0] - 1, n_channels))
    state = np.zeros((n_channels, n_sections, 2))
    segment = 0
    for i in range(n_samples):
        while i >= bounds[segment + 1]:
            segment += 1
        # Channels in the inner loop: their recursions are independent, so the CPU overlaps them (~1.5x faster
        # than one channel after the other, the filter being latency-bound).
        for c in range(n_channels):
            value = sos_cascade(sos, state, c, np.float64(x[i, c] + offset))
            sums[segment, c] += value * value
    return sums


@numba.njit(cache=True, nogil=True)
def sos_filter(x, sos):  # pragma: no cover - jit
    """Cascaded biquads along time from zero state (``scipy.signal.sosfilt(sos, x, axis=0)``), float64 arithmetic.

    Args:
        x: audio ``(n_samples, n_channels)``, float32 or float64.
        sos: second-order sections ``(n_sections, 6)`` float64 with ``a0 == 1``.

    Returns:
        float32 ``(n_samples, n_channels)``. (``sosfilt`` on float32 input computes in float32 and needs a
        channel-major copy: ~4x slower on a stereo stem.)
    """
    n_samples, n_channels = x.shape
    n_sections = sos.shape[0]
    out = np.empty((n_samples, n_channels), dtype=np.float32)
    state = np.zeros((n_channels, n_sections, 2))
    for i in range(n_samples):
        for c in range(n_channels):
            out[i, c] = sos_cascade(sos, state, c, np.float64(x[i, c]))
    return out
