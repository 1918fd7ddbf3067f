"""Non-centred numpy STFT / iSTFT with the periodic square-root Hann window (spec §0.2).

The release calls ``librosa.stft(center=False)`` / ``librosa.istft(center=False)`` channel by channel. These
functions compute the same thing for all channels at once with ``scipy.fft`` (float32 in, complex64 out), so the
panning and EQ stages need no Python loop over frames, bins or channels.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

ANALYSIS_FFT_SIZE = 65536  # EQ and panning features, EQ matching (spec §1.1 FFT_SIZE)
ANALYSIS_HOP = 16384
_FRAMES_PER_CHUNK = 32  # bounds memory of the 65536-point analysis (32 frames x 65536 x 8 bytes = 16 MiB)


def sqrt_hann(n_fft: int) -> np.ndarray:
    """Periodic square-root Hann window ``sqrt(hanning(n_fft + 1)[:-1])``, float32, shape ``(n_fft,)``."""
    return np.sqrt(np.hanning(n_fft + 1)[:-1]).astype(np.float32)


def n_frames(n_samples: int, n_fft: int, hop: int) -> int:
    """Number of non-centred frames: ``1 + floor((n_samples - n_fft) / hop)`` (0 if the signal is too short)."""
    return 0 if n_samples < n_fft else 1 + (n_samples - n_fft) // hop


def _frames(x_channel_major: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Strided view of the frames of a ``(n_channels, n_samples)`` array: ``(n_channels, n_frames, n_fft)``."""
    count = n_frames(x_channel_major.shape[1], n_fft, hop)
    return sliding_window_view(x_channel_major, n_fft, axis=1)[:, : (count - 1) * hop + 1 : hop]


def _channel_major(x: np.ndarray) -> np.ndarray:
    # Frames cut from contiguous channel rows are ~2x faster to window and transform than from (n, C) audio.
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).T)


def stft_blocks(x: np.ndarray, n_fft: int, hop: int, block_frames: int, window: np.ndarray | None = None):
    """Yield ``(first_frame, spectrum)`` for consecutive blocks of ``block_frames`` frames of :func:`stft`.

    Args:
        x: audio ``(n_samples, n_channels)``.

    Yields:
        ``(start, complex64 (n_block_frames, n_channels, n_fft // 2 + 1))``.
    """
    window = sqrt_hann(n_fft) if window is None else window
    frames = _frames(_channel_major(x), n_fft, hop)
    for start in range(0, frames.shape[1], block_frames):
        spectrum = scipy.fft.rfft(frames[:, start:start + block_frames] * window, axis=-1)
        yield start, spectrum.astype(np.complex64, copy=False).transpose(1, 0, 2)


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
    return next(stft_blocks(x, n_fft, hop, max(count, 1), window))[1]


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
        self.window = sqrt_hann(n_fft) if window is None else window
        # output viewed as rows of hop samples: frame t adds its p-th hop-long part to row t + p
        self.rows = np.zeros((n_frames + self.overlap - 1, hop, n_channels), dtype=np.float32)

    def add(self, start: int, spectrum: np.ndarray) -> None:
        frames = scipy.fft.irfft(spectrum, n=self.n_fft, axis=-1).astype(np.float32, copy=False)
        frames *= self.window
        for part in range(self.overlap):
            block = frames[:, :, part * self.hop:(part + 1) * self.hop].transpose(0, 2, 1)
            self.rows[start + part:start + part + len(frames)] += block

    def result(self) -> np.ndarray:
        squares = (self.window ** 2).reshape(self.overlap, self.hop)
        window_sum = np.empty((self.rows.shape[0], self.hop), dtype=np.float32)
        window_sum[:] = squares.sum(axis=0)  # rows covered by every part
        for row in range(self.overlap - 1):  # partially covered rows at both ends
            window_sum[row] = squares[:row + 1].sum(axis=0)
            window_sum[-1 - row] = squares[self.overlap - 1 - row:].sum(axis=0)
        tiny = np.finfo(np.float32).tiny
        np.divide(self.rows, window_sum[..., None], out=self.rows, where=window_sum[..., None] > tiny)
        return self.rows.reshape(-1, self.rows.shape[2])


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
    for _, spectrum in stft_blocks(x, n_fft, hop, _FRAMES_PER_CHUNK):
        total += np.abs(spectrum).sum(axis=0)
    return (total / count).astype(np.float32)
