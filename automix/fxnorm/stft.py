"""Non-centred numpy STFT / iSTFT with the periodic square-root Hann window (spec §0.2).

The release calls ``librosa.stft(center=False)`` / ``librosa.istft(center=False)`` channel by channel. These
functions compute the same thing for all channels at once with ``scipy.fft`` (float32 in, complex64 out), so the
panning and EQ stages need no Python loop over frames, bins or channels.

``precision="float64"`` (release mode) reproduces librosa's arithmetic instead: the frames are windowed with the
float64 window and transformed in float64 (``numpy.fft``), and only the result is rounded to complex64; the inverse
multiplies float32 ``irfft`` frames by the float64 window and overlap-adds them frame by frame into a float32 buffer
(:class:`LibrosaOverlapAdd`). Near-silent bins are where this matters: the release's panning gains amplify them up
to ~1000x, so a float32 FFT's rounding there shows up in its output.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

ANALYSIS_FFT_SIZE = 65536  # EQ and panning features, EQ matching (spec §1.1 FFT_SIZE)
ANALYSIS_HOP = 16384


PRECISIONS = ("float32", "float64")


def sqrt_hann(n_fft: int, dtype=np.float32) -> np.ndarray:
    """Periodic square-root Hann window ``sqrt(hanning(n_fft + 1)[:-1])``, shape ``(n_fft,)`` (float32 by default)."""
    return np.sqrt(np.hanning(n_fft + 1)[:-1]).astype(dtype)


def n_frames(n_samples: int, n_fft: int, hop: int) -> int:
    """Number of non-centred frames: ``1 + floor((n_samples - n_fft) / hop)`` (0 if the signal is too short)."""
    return 0 if n_samples < n_fft else 1 + (n_samples - n_fft) // hop


def _gather(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Samples ``lo:hi`` of ``x`` ``(n, C)`` as a contiguous ``(C, hi - lo)`` array, zeros outside ``[0, n)``."""
    if lo >= 0 and hi <= x.shape[0]:
        return np.ascontiguousarray(x[lo:hi].T)
    samples = np.zeros((x.shape[1], hi - lo), dtype=np.float32)
    first, last = max(lo, 0), min(hi, x.shape[0])
    if last > first:
        samples[:, first - lo:last - lo] = x[first:last].T
    return samples


def stft_blocks(x: np.ndarray, n_fft: int, hop: int, block_frames: int, window: np.ndarray | None = None,
                pad: int = 0, precision: str = "float32", gain: float = 1.0):
    """Yield ``(first_frame, spectrum)`` for consecutive blocks of ``block_frames`` frames of :func:`stft`.

    Each block's samples are gathered channel-major into a small buffer, windowed into a buffer reused by every
    block, and transformed: no array of the whole signal's size is made, so the temporaries stay in cache and the
    allocator reuses them (whole-song copies cost more in page faults than the FFTs). Blocks of ~1-2 MiB
    (:func:`frames_per_block`) are fastest.

    Args:
        x: audio ``(n_samples, n_channels)``.
        pad: frames of ``x`` zero-padded by ``pad`` samples at both ends (without making the padded copy).
        precision: ``"float32"`` (float32 window and FFT) or ``"float64"`` (librosa's arithmetic: float64 window and
            FFT, the result rounded to complex64).
        gain: ``"float64"`` only: the samples are scaled by it in float64 first (the release's float64 analysis
            signal ``gain · x``, without making it).

    Yields:
        ``(start, complex64 (n_block_frames, n_channels, n_fft // 2 + 1))``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    dtype = np.float64 if precision == "float64" else np.float32
    window = sqrt_hann(n_fft, dtype) if window is None else window
    x = np.asarray(x, dtype=np.float32)
    count = n_frames(x.shape[0] + 2 * pad, n_fft, hop)
    windowed = np.empty((x.shape[1], min(block_frames, count), n_fft), dtype=dtype)
    for start in range(0, count, block_frames):
        size = min(block_frames, count - start)
        samples = _gather(x, start * hop - pad, (start + size - 1) * hop + n_fft - pad)
        if precision == "float64":
            samples = samples * np.float64(gain) if gain != 1.0 else samples.astype(np.float64)
        frames = sliding_window_view(samples, n_fft, axis=1)[:, ::hop]
        np.multiply(frames, window, out=windowed[:, :size])
        if precision == "float64":  # numpy.fft, as librosa
            spectrum = np.fft.rfft(windowed[:, :size], axis=-1).astype(np.complex64)
        else:
            spectrum = scipy.fft.rfft(windowed[:, :size], axis=-1).astype(np.complex64, copy=False)
        yield start, spectrum.transpose(1, 0, 2)


def frames_per_block(n_fft: int, n_channels: int = 2, block_bytes: int = 2 ** 21) -> int:
    """Frames per :func:`stft_blocks` block so that the windowed frames take about ``block_bytes`` (>= 1 frame)."""
    return max(1, block_bytes // (4 * n_fft * n_channels))


def stft(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray | None = None) -> np.ndarray:
    """Short-time Fourier transform without centring or padding.

    Args:
        x: audio, shape ``(n_samples, n_channels)``.
        n_fft: frame length in samples.
        hop: hop length in samples.
        window: analysis window ``(n_fft,)``; the periodic sqrt-Hann by default.

    Returns:
        complex64 array ``(n_frames, n_channels, n_fft // 2 + 1)``.
    """
    count = n_frames(x.shape[0], n_fft, hop)
    if count == 0:
        return np.zeros((0, x.shape[1], n_fft // 2 + 1), dtype=np.complex64)
    return next(stft_blocks(x, n_fft, hop, count, window))[1]


class OverlapAdd:
    """Inverse STFT accumulated block by block (librosa ``istft(center=False)`` normalization).

    ``add(start, spectrum)`` takes frames ``start : start + len(spectrum)``; ``result()`` returns the signal
    ``(n_fft + hop * (n_frames - 1), n_channels)``. Working in blocks of a few hundred frames keeps every
    temporary in cache instead of allocating arrays of the whole song (page faults dominate at that size).
    """

    def __init__(self, n_frames: int, n_channels: int, n_fft: int, hop: int, window: np.ndarray | None = None):
        if n_fft % hop:
            raise ValueError(f"overlap-add needs n_fft ({n_fft}) to be a multiple of hop ({hop})")
        self.n_frames, self.n_fft, self.hop, self.overlap = n_frames, n_fft, hop, n_fft // hop
        window = sqrt_hann(n_fft) if window is None else window
        squares = (window ** 2).reshape(self.overlap, hop)
        self.interior_sum = squares.sum(axis=0)  # window-sum-square of rows covered by every part, (hop,)
        tiny = np.finfo(np.float32).tiny
        self.safe_interior = np.where(self.interior_sum > tiny, self.interior_sum, 1.0).astype(np.float32)
        # The synthesis window is divided by the interior window sum up front, so the interior rows need no pass of
        # their own afterwards (result() only corrects the few partially covered rows at both ends).
        self.synthesis = (window.reshape(self.overlap, hop) / self.safe_interior).reshape(-1).astype(np.float32)
        self.squares = squares
        # output viewed as rows of hop samples: frame t adds its p-th hop-long part to row t + p
        self.rows = np.zeros((n_frames + self.overlap - 1, hop, n_channels), dtype=np.float32)

    def add(self, start: int, spectrum: np.ndarray) -> None:
        frames = scipy.fft.irfft(spectrum, n=self.n_fft, axis=-1).astype(np.float32, copy=False)
        frames *= self.synthesis
        for part in range(self.overlap):
            block = frames[:, :, part * self.hop:(part + 1) * self.hop].transpose(0, 2, 1)
            self.rows[start + part:start + part + len(frames)] += block

    def result(self) -> np.ndarray:
        tiny = np.finfo(np.float32).tiny
        n_rows, edges = self.rows.shape[0], {}
        for row in range(self.overlap - 1):  # partially covered rows at both ends (a later entry wins, as librosa)
            edges[row] = self.squares[:row + 1].sum(axis=0)
            edges[n_rows - 1 - row] = self.squares[self.overlap - 1 - row:].sum(axis=0)
        for index, partial in edges.items():
            # librosa divides by the window sum where it exceeds `tiny` and leaves the rest unnormalized
            factor = np.where(partial > tiny, self.safe_interior / np.maximum(partial, tiny), self.safe_interior)
            self.rows[index] *= factor.astype(np.float32)[:, None]
        return self.rows.reshape(-1, self.rows.shape[2])


class LibrosaOverlapAdd:
    """``librosa.istft(center=False)`` arithmetic, block by block (release mode; same interface as OverlapAdd).

    Each frame is ``irfft`` in float32 (``numpy.fft``), multiplied by the float64 window, and added frame after frame
    into a float32 buffer (every addition rounded to float32, earlier frames first, as librosa's numba loop); the
    result is divided by librosa's float32 window sum-square wherever that exceeds the float32 ``tiny``.
    """

    def __init__(self, n_frames: int, n_channels: int, n_fft: int, hop: int):
        if n_fft % hop:
            raise ValueError(f"overlap-add needs n_fft ({n_fft}) to be a multiple of hop ({hop})")
        self.n_frames, self.n_fft, self.hop, self.overlap = n_frames, n_fft, hop, n_fft // hop
        self.window = sqrt_hann(n_fft, np.float64)
        self.rows = np.zeros((n_frames + self.overlap - 1, hop, n_channels), dtype=np.float32)

    def add(self, start: int, spectrum: np.ndarray) -> None:
        frames = self.window * np.fft.irfft(spectrum, n=self.n_fft, axis=-1)  # float32 irfft -> float64 product
        # Row r receives part p of frame r - p: adding the parts from the last to the first adds earlier frames first.
        for part in reversed(range(self.overlap)):
            block = frames[:, :, part * self.hop:(part + 1) * self.hop].transpose(0, 2, 1)
            self.rows[start + part:start + part + len(frames)] += block

    def result(self) -> np.ndarray:
        n_rows = self.rows.shape[0]
        squares = (self.window ** 2).reshape(self.overlap, self.hop)
        total = np.zeros((n_rows, self.hop), dtype=np.float32)  # librosa's window_sumsquare, frame by frame
        for part in reversed(range(self.overlap)):
            total[part:part + self.n_frames] += squares[part]
        y = self.rows.reshape(-1, self.rows.shape[2])
        total = total.reshape(-1, 1)
        return np.divide(y, total, out=y, where=total > np.finfo(np.float32).tiny)


def istft(spectrum: np.ndarray, hop: int, window: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`stft` with librosa's window-sum-square normalization (``center=False``).

    Args:
        spectrum: complex array ``(n_frames, n_channels, n_fft // 2 + 1)``; ``n_fft`` must be a multiple of ``hop``.
        hop: hop length in samples.
        window: synthesis window ``(n_fft,)``; the periodic sqrt-Hann by default.

    Returns:
        float32 audio ``(n_fft + hop * (n_frames - 1), n_channels)``.
    """
    count, n_channels, n_bins = spectrum.shape
    adder = OverlapAdd(count, n_channels, 2 * (n_bins - 1), hop, window)
    adder.add(0, spectrum)
    return adder.result()


def mean_magnitude(x: np.ndarray, n_fft: int = ANALYSIS_FFT_SIZE, hop: int = ANALYSIS_HOP) -> np.ndarray:
    """Mean STFT magnitude over frames, per channel, computed in blocks of frames to bound memory.

    Args:
        x: audio, shape ``(n_samples, n_channels)``.

    Returns:
        float32 array ``(n_channels, n_fft // 2 + 1)``.
    """
    count = n_frames(x.shape[0], n_fft, hop)
    if count == 0:
        raise ValueError(f"signal of {x.shape[0]} samples is shorter than one {n_fft}-sample analysis frame")
    total = np.zeros((x.shape[1], n_fft // 2 + 1), dtype=np.float64)
    for _, spectrum in stft_blocks(x, n_fft, hop, frames_per_block(n_fft, x.shape[1])):
        total += np.abs(spectrum).sum(axis=0)
    return (total / count).astype(np.float32)


def accumulate_frames(total: np.ndarray, values: np.ndarray) -> None:
    """``total += values[0]; total += values[1]; ...`` in ``total``'s dtype, frame by frame.

    This is the order in which ``np.mean(a, axis=0)`` (and ``axis=(0, 1)``, C order) accumulates a float32 array,
    so the release's float32 frame means are reproduced bit for bit.
    """
    for row in values.reshape(-1, values.shape[-1]):
        total += row


def release_mean_magnitude(x: np.ndarray, gain: float = 1.0, n_fft: int = ANALYSIS_FFT_SIZE,
                           hop: int = ANALYSIS_HOP, over_channels: bool = False) -> np.ndarray:
    """The release's mean STFT magnitude of ``gain · x``: librosa STFT (float64 arithmetic, complex64 result),
    ``|.|`` in float32, mean over frames (and channels, ``over_channels``) accumulated in float32 as NumPy does.

    Returns:
        float32 ``(n_channels, n_fft // 2 + 1)``, or ``(n_fft // 2 + 1,)`` with ``over_channels``.
    """
    count = n_frames(x.shape[0], n_fft, hop)
    if count == 0:
        raise ValueError(f"signal of {x.shape[0]} samples is shorter than one {n_fft}-sample analysis frame")
    n_bins = n_fft // 2 + 1
    total = np.zeros(n_bins if over_channels else (x.shape[1], n_bins), dtype=np.float32)
    for _, spectrum in stft_blocks(x, n_fft, hop, frames_per_block(n_fft, x.shape[1]), precision="float64",
                                   gain=gain):
        magnitude = np.abs(spectrum)
        if over_channels:  # frames outer, channels inner: np.mean(axis=(0, 1))
            accumulate_frames(total, magnitude)
        else:
            for channel in range(x.shape[1]):
                accumulate_frames(total[channel], magnitude[:, channel])
    return total / np.float32(count * (x.shape[1] if over_channels else 1))
