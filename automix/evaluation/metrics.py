"""Objective mixing metrics of the paper (Martínez-Ramírez et al., ISMIR 2022; spec §6), NumPy/SciPy/numba, no torch.

Four families compare a system's mix (``estimate``) with the reference mixture, both ``(n_samples, 2)`` float at
44.1 kHz:

* loudness: integrated loudness (BS.1770-4) and sample peak of the raw signals;
* spectral: centroid, bandwidth, contrast (low/mid/high), roll-off and flatness of a 4096/1024 sqrt-Hann STFT
  after -1 dBFS peak normalization;
* panning: RMS over frequency bands of the stereo panning spectrum (2048/1024);
* dynamics: frame RMS level, dynamic spread, crest factor and low-frequency ratio (4096/1024 frames).

Every per-frame series is smoothed by a 40-frame moving average. Each feature is reported twice:

* ``<name>`` as the release computes it: the mean absolute percentage error (MAPE,
  ``mean |r - e| / max(|r|, eps)``, as scikit-learn's) between the smoothed reference and estimate series
  (comparable with the paper's tables);
* ``<name>_abs_<unit>``: the mean absolute difference in the feature's own unit (LU, dB, Hz, panning RMS), which a
  reader can interpret ("the mix is 2.1 LU too loud" instead of "7 %").

Plus waveform ``l1`` / ``l2`` and a multi-resolution STFT distance (:func:`mrstft_distance`, equal to auraloss's
``MultiResolutionSTFTLoss`` with its defaults). The stereo losses La/Lb are torch modules
(:mod:`automix.losses`); the evaluation runner adds them.

Speed (all metrics of a 3-minute song in a few seconds on 2 cores): every STFT is computed and reduced a block of
frames at a time (temporaries stay in cache: whole-song spectrograms cost more in page faults than in FFTs), the
fused reductions are numba kernels (:mod:`automix.evaluation.kernels`), and the two signals of a family, or the
blocks of the MRSTFT, run on :func:`_threads` threads. The values are those of the plain NumPy definitions (tests
compare) up to the order of float32 sums, which are float64 where they were float32 before.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.signal
from numpy.lib.stride_tricks import sliding_window_view

from automix.fxnorm.loudness import SAMPLE_RATE, integrated_loudness, max_abs, peak_db
from automix.fxnorm.panning import similarity
from automix.fxnorm.stft import n_frames, stft, stft_blocks

SMOOTHING_FRAMES = 40  # moving-average length of every per-frame series (release)
SPECTRAL_FFT, SPECTRAL_HOP = 4096, 1024
PANNING_FFT, PANNING_HOP = 2048, 1024
PANNING_BANDS_HZ = {"t": (0.0, 22050.0), "l": (0.0, 250.0), "m": (250.0, 2500.0), "h": (2500.0, 22050.0)}
NORMALIZATION_PEAK_DB = -1.0
LOW_FREQUENCY_CUTOFF_HZ = 1000.0
_MAPE_EPS = np.finfo(np.float64).eps  # scikit-learn's mean_absolute_percentage_error floor
_TINY = 1e-10  # amplitude floor before a logarithm (-200 dB)


def _threads() -> int:
    """Threads for the per-signal and per-block work: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _map(function, items) -> list:
    """``[function(item) for item in items]`` on :func:`_threads` threads (NumPy, SciPy's FFT, the numba kernels and
    pyloudnorm-equivalent loudness release the GIL on large arrays: the cores work in parallel)."""
    items = list(items)
    if len(items) <= 1 or _threads() == 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(min(_threads(), len(items))) as pool:
        return list(pool.map(function, items))


def _split(items: range, parts: int) -> list[range]:
    """``items`` cut into at most ``parts`` contiguous ranges of (nearly) equal length."""
    bounds = np.linspace(0, len(items), min(parts, max(1, len(items))) + 1).astype(int)
    return [items[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


class MetricsError(ValueError):
    """The signals cannot be compared (the message says why); the runner reports it as a note for the song."""


def mape(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean absolute percentage error ``mean |r - e| / max(|r|, eps)`` (scikit-learn's definition, as a fraction)."""
    reference, estimate = np.asarray(reference, np.float64), np.asarray(estimate, np.float64)
    return float(np.mean(np.abs(reference - estimate) / np.maximum(np.abs(reference), _MAPE_EPS)))


def mean_abs_difference(reference: np.ndarray, estimate: np.ndarray) -> float:
    """``mean |r - e|`` in the unit of the inputs."""
    return float(np.mean(np.abs(np.asarray(reference, np.float64) - np.asarray(estimate, np.float64))))


def moving_average(series: np.ndarray, length: int = SMOOTHING_FRAMES) -> np.ndarray:
    """'valid' moving average along the last axis: ``n - length + 1`` values."""
    series = np.asarray(series, np.float64)
    if series.shape[-1] < length:
        raise MetricsError(f"{series.shape[-1]} frames are fewer than the {length}-frame smoothing window")
    cumulative = np.cumsum(np.concatenate([np.zeros(series.shape[:-1] + (1,)), series], axis=-1), axis=-1)
    return (cumulative[..., length:] - cumulative[..., :-length]) / length


def peak_normalize(x: np.ndarray, target_db: float = NORMALIZATION_PEAK_DB) -> np.ndarray:
    """Scale to a sample peak of ``target_db`` dBFS (float64 copy); a silent signal is an error."""
    peak = max_abs(x)
    if not peak > 0:
        raise MetricsError("the signal is silent (all zeros)")
    return np.asarray(x, np.float64) * (10.0 ** (target_db / 20.0) / peak)


def _check_pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference, estimate = np.asarray(reference), np.asarray(estimate)
    if reference.ndim != 2 or reference.shape[1] != 2 or reference.shape != estimate.shape:
        raise ValueError(f"reference and estimate must both be (n_samples, 2), got {reference.shape} and "
                         f"{estimate.shape}")
    if not (np.isfinite(max_abs(reference)) and np.isfinite(max_abs(estimate))):
        raise ValueError("reference or estimate contains NaN or infinite samples")
    return reference, estimate


def _compare(ref_series: np.ndarray, est_series: np.ndarray) -> tuple[float, float]:
    """(MAPE, mean abs difference) of two ``(channels, frames)`` series after smoothing, averaged over channels."""
    ref_smooth, est_smooth = moving_average(ref_series), moving_average(est_series)
    mapes = [mape(r, e) for r, e in zip(ref_smooth, est_smooth)]
    diffs = [mean_abs_difference(r, e) for r, e in zip(ref_smooth, est_smooth)]
    return float(np.mean(mapes)), float(np.mean(diffs))


_BLOCK_FRAMES = 64  # STFT frames per block of the families (4096-point: 2 MiB of float32 magnitudes per signal)


class Analysis:
    """A signal with what several families share, computed once (lazily) instead of once per family: its -1 dBFS
    peak-normalization gain, the normalized copy (float64 and float32), and each family's per-frame series of the
    signal (:meth:`memo`), so that one ``Analysis`` of a reference serves the comparisons with every system's mix.

    The spectral descriptors and the dynamics' low-frequency ratio share one pass over the 4096/1024 STFT
    (:func:`_spectral_and_ratio`, memoized under ``("spectral and ratio", sample_rate)``).
    """

    def __init__(self, x: np.ndarray):
        self.raw = x
        self._gain = self._normalized = self._normalized32 = None
        self.series = {}  # per-family results of this signal alone (see memo): a reference's are reused

    def memo(self, key, compute):
        """``compute()`` once per ``key`` for this signal (a reference compared with several mixes is analysed
        once)."""
        if key not in self.series:
            self.series[key] = compute()
        return self.series[key]

    @property
    def gain(self) -> float:
        """The factor of the -1 dBFS peak normalization (as :func:`peak_normalize`)."""
        if self._gain is None:
            peak = max_abs(self.raw)
            if not peak > 0:
                raise MetricsError("the signal is silent (all zeros)")
            self._gain = 10.0 ** (NORMALIZATION_PEAK_DB / 20.0) / peak
        return self._gain

    @property
    def normalized(self) -> np.ndarray:
        """:func:`peak_normalize` of the signal, float64 ``(n_samples, 2)``."""
        if self._normalized is None:
            self._normalized = np.asarray(self.raw, np.float64) * self.gain
        return self._normalized

    @property
    def normalized32(self) -> np.ndarray:
        """:attr:`normalized` rounded to float32 (what the STFTs read), made in cache-sized chunks."""
        if self._normalized32 is None:
            raw, gain = np.asarray(self.raw), self.gain
            out = np.empty(raw.shape, dtype=np.float32)
            for lo in range(0, raw.shape[0], 2 ** 16):
                out[lo:lo + 2 ** 16] = np.asarray(raw[lo:lo + 2 ** 16], np.float64) * gain
            self._normalized32 = out
        return self._normalized32


def _analyses(reference, estimate) -> tuple[Analysis, Analysis]:
    if isinstance(reference, Analysis) and isinstance(estimate, Analysis):
        return reference, estimate
    reference, estimate = _check_pair(reference, estimate)
    return Analysis(reference), Analysis(estimate)


# --------------------------------------------------------------------------------------------------- loudness

def loudness_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """``d_lufs``/``d_peak`` (release MAPE) and ``lufs_abs_lu``/``peak_abs_db`` of the raw signals (arrays, or
    :class:`Analysis` objects)."""
    pair = _analyses(reference, estimate)
    lufs = _map(lambda a: a.memo(("lufs", sample_rate), lambda: integrated_loudness(np.asarray(a.raw, np.float32), sample_rate)),
                pair)
    peaks = [a.memo(("peak",), lambda: peak_db(a.raw)) for a in pair]
    if not all(np.isfinite(lufs + peaks)):
        raise MetricsError("loudness is undefined (silent signal or shorter than one 400-ms block)")
    return {"d_lufs": mape([lufs[0]], [lufs[1]]), "d_peak": mape([peaks[0]], [peaks[1]]),
            "lufs_abs_lu": abs(lufs[1] - lufs[0]), "peak_abs_db": abs(peaks[1] - peaks[0]),
            "lufs_reference": lufs[0], "lufs_estimate": lufs[1]}


# --------------------------------------------------------------------------------------------------- spectral

def _frame_blocks(magnitude: np.ndarray):
    """Yield ``(first, block)``: ``magnitude (channels, bins, frames)`` as frame-major blocks
    ``(channels, frames, bins)`` of :data:`_BLOCK_FRAMES` frames with contiguous bins (views of a frame-major
    array's transpose; copies otherwise)."""
    frames = np.moveaxis(magnitude, 1, 2)
    for first in range(0, frames.shape[1], _BLOCK_FRAMES):
        block = frames[:, first:first + _BLOCK_FRAMES]
        yield first, block if block.strides[-1] == block.itemsize else np.ascontiguousarray(block)


class _ShapeSums:
    """librosa's spectral centroid, bandwidth (p = 2, normalized), roll-off (85 %) and flatness (power 2,
    amin 1e-10), from per-frame sums instead of per-frame normalized copies (tests check equality with librosa),
    accumulated block by block (:meth:`add`), each ``(channels, frames)`` at the end (:meth:`result`).

    Each block is reduced over its contiguous bins by two kernels: float64 moments ``sum |X|·[1, f, f²]`` and the
    flatness' power means in one pass (:func:`~automix.evaluation.kernels.spectral_moments`), float32 running sums
    for the roll-off (:func:`~automix.evaluation.kernels.rolloff_bins`, the additions of ``np.cumsum``).
    """

    def __init__(self, n_channels: int, n_frames_total: int, frequencies: np.ndarray):
        self.frequencies = frequencies
        self.moments = np.empty((n_channels, n_frames_total, 3))
        self.rolloff = np.empty((n_channels, n_frames_total), dtype=frequencies.dtype)
        self.log_power, self.mean_power = np.empty((2, n_channels, n_frames_total))
        self.index = np.empty(n_channels * _BLOCK_FRAMES, dtype=np.int64)
        self.block_moments = np.empty((n_channels * _BLOCK_FRAMES, 3))
        self.part = np.empty((2, n_channels * _BLOCK_FRAMES))

    def add(self, first: int, block: np.ndarray) -> None:
        """Frames ``first...`` of ``block`` float32 ``(channels, <= _BLOCK_FRAMES frames, bins)``, bins contiguous."""
        from automix.evaluation.kernels import rolloff_bins, spectral_moments  # lazy: numba

        stop = first + block.shape[1]
        rows = block.reshape(-1, block.shape[-1])
        n, part = rows.shape[0], self.part
        spectral_moments(rows, self.frequencies, self.block_moments[:n], part[0, :n], part[1, :n])
        self.moments[:, first:stop] = self.block_moments[:n].reshape(*block.shape[:2], 3)
        self.mean_power[:, first:stop] = part[0, :n].reshape(block.shape[:2])
        self.log_power[:, first:stop] = part[1, :n].reshape(block.shape[:2])
        rolloff_bins(rows, np.float32(0.85), self.index[:n])
        self.rolloff[:, first:stop] = self.frequencies[self.index[:n].reshape(block.shape[:2])]

    def result(self) -> dict:
        total, first_moment, second_moment = self.moments[..., 0], self.moments[..., 1], self.moments[..., 2]
        active = total > np.finfo(np.float32).tiny
        safe = np.where(active, total, 1.0)
        centroid = np.where(active, first_moment / safe, 0.0)
        bandwidth = np.sqrt(np.maximum(np.where(active, second_moment / safe - centroid ** 2, 0.0), 0.0))
        flatness = np.exp(self.log_power) / self.mean_power
        return {"centroid": centroid, "bandwidth": bandwidth, "rolloff": self.rolloff, "flatness": flatness}


def _spectral_shape(magnitude: np.ndarray, frequencies: np.ndarray) -> dict:
    """:class:`_ShapeSums` of a whole ``magnitude (channels, bins, frames)`` float32; each ``(channels, frames)``."""
    sums = _ShapeSums(magnitude.shape[0], magnitude.shape[2], frequencies)
    for first, block in _frame_blocks(magnitude):
        sums.add(first, block)
    return sums.result()


def _power_to_db(x: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """librosa's ``power_to_db(x)`` (ref 1, amin 1e-10, clipped at ``max - top_db`` over the whole array)."""
    db = 10.0 * np.log10(np.maximum(1e-10, x))
    return np.maximum(db, db.max() - top_db)


def _contrast_bands(frequencies: np.ndarray, fmin: float, n_bands: int, quantile: float) -> list[tuple[int, int, int]]:
    """librosa's contrast sub-bands as ``(first_bin, stop_bin, count)``: each band is a contiguous run of bins (the
    edge bin below it included, the last band running to the top), ``count`` its quantile's number of bins."""
    edges = np.zeros(n_bands + 2)
    edges[1:] = fmin * 2.0 ** np.arange(n_bands + 1)
    bands = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        band = (frequencies >= low) & (frequencies <= high)
        index = np.flatnonzero(band)
        if k > 0:
            band[index[0] - 1] = True
        if k == n_bands:
            band[index[-1] + 1:] = True
        count = max(int(np.rint(quantile * np.sum(band))), 1)
        selected = np.flatnonzero(band)
        stop = selected[-1] + 1 if k == n_bands else selected[-1]  # librosa drops the top bin of inner bands
        bands.append((int(selected[0]), int(stop), count))
    return bands


class _ContrastSums:
    """librosa's ``spectral_contrast`` (same bands, edge bins and quantile rule), with a partial sort per band
    instead of a full one, over contiguous bins, accumulated block by block (:meth:`add`); :meth:`result` is
    ``(channels, n_bands + 1, frames)`` in dB (its clipping at ``max - 80 dB`` needs every frame first)."""

    def __init__(self, n_channels: int, n_frames_total: int, frequencies: np.ndarray, fmin: float = 250.0,
                 n_bands: int = 4, quantile: float = 0.02):
        shape = (n_channels, n_bands + 1, n_frames_total)
        self.valley, self.peak = np.zeros(shape), np.zeros(shape)
        self.bands = _contrast_bands(frequencies, fmin, n_bands, quantile)

    def add(self, first: int, block: np.ndarray) -> None:
        """Frames ``first...`` of ``block`` float32 ``(channels, frames, bins)``, bins contiguous."""
        stop = first + block.shape[1]
        for k, (lo, hi, count) in enumerate(self.bands):
            n, band = hi - lo, block[..., lo:hi]
            # two one-kth partitions: NumPy's SIMD quickselect takes one kth (~3x faster than one two-kth call)
            lowest = np.partition(band, count - 1, axis=-1)[..., :count]
            highest = np.partition(band, n - count, axis=-1)[..., n - count:]
            self.valley[:, k, first:stop] = lowest.mean(axis=-1, dtype=np.float64)
            self.peak[:, k, first:stop] = highest.mean(axis=-1, dtype=np.float64)

    def result(self) -> np.ndarray:
        return _power_to_db(self.peak) - _power_to_db(self.valley)


def _spectral_contrast(magnitude: np.ndarray, frequencies: np.ndarray, fmin: float = 250.0, n_bands: int = 4,
                       quantile: float = 0.02) -> np.ndarray:
    """:class:`_ContrastSums` of a whole ``magnitude (channels, bins, frames)``: ``(channels, n_bands + 1,
    frames)`` in dB."""
    sums = _ContrastSums(magnitude.shape[0], magnitude.shape[2], frequencies, fmin, n_bands, quantile)
    for first, block in _frame_blocks(magnitude):
        sums.add(first, block)
    return sums.result()


def _spectral_and_ratio(signal: Analysis, sample_rate: int) -> tuple[dict, np.ndarray]:
    """:func:`_spectral_and_ratio_pass` of the signal, once (memoized in the :class:`Analysis`): the spectral and
    the dynamics family both read it."""
    return signal.memo(("spectral and ratio", sample_rate), lambda: _spectral_and_ratio_pass(signal, sample_rate))


def _spectral_and_ratio_pass(signal: Analysis, sample_rate: int) -> tuple[dict, np.ndarray]:
    """One pass over the 4096/1024 magnitude STFT of the signal's peak-normalized copy, a block of frames at a time,
    beside the STFT of its 1-kHz low-passed copy: the spectral descriptors (:func:`spectral_series`) and the
    low-frequency ratio ``sum_k |X_low(k)| / (|X(k)| + 1e-5)`` per channel ``(channels, frames)``.

    ``|X|`` of one block at a time stays in cache and is reduced by every consumer before the next: no array of the
    whole song's magnitudes is made (127 MB per 3-min stereo signal, whose first-touch page faults cost more than
    computing it).
    """
    from automix.evaluation.kernels import magnitude_ratio_sums  # lazy: numba

    x = signal.normalized32
    count = n_frames(x.shape[0], SPECTRAL_FFT, SPECTRAL_HOP)
    if count == 0:
        raise MetricsError("the signal is shorter than one 4096-sample frame")
    n_channels, n_bins = x.shape[1], SPECTRAL_FFT // 2 + 1
    frequencies = (np.arange(n_bins) * sample_rate / SPECTRAL_FFT).astype(np.float32)
    shape, contrast = _ShapeSums(n_channels, count, frequencies), _ContrastSums(n_channels, count, frequencies)
    ratio = np.empty((n_channels, count))
    magnitude = np.empty((n_channels, _BLOCK_FRAMES, n_bins), dtype=np.float32)
    blocks = zip(stft_blocks(x, SPECTRAL_FFT, SPECTRAL_HOP, _BLOCK_FRAMES),
                 stft_blocks(_low_passed(signal, sample_rate), SPECTRAL_FFT, SPECTRAL_HOP, _BLOCK_FRAMES))
    for (first, spectrum), (_, low_spectrum) in blocks:
        block = magnitude[:, :spectrum.shape[0]]
        np.abs(spectrum.transpose(1, 0, 2), out=block)
        shape.add(first, block)
        contrast.add(first, block)
        magnitude_ratio_sums(low_spectrum, block, 0, np.float32(1e-5), ratio[:, first:])
    shape, contrast = shape.result(), contrast.result()
    series = {
        "centroid": shape["centroid"] + 1.0, "bandwidth": shape["bandwidth"] + 1.0,
        "contrast_l": contrast[:, 0], "contrast_m": contrast[:, 1:4].mean(axis=1), "contrast_h": contrast[:, 4],
        "rolloff": shape["rolloff"] + 1.0,
        "flatness": 1.0 - 20.0 * np.log10(np.maximum(shape["flatness"], _TINY)),
    }
    return series, ratio


def spectral_series(signal: Analysis, sample_rate: int = SAMPLE_RATE) -> dict:
    """Per-frame spectral descriptors of a signal's peak-normalized copy, each ``(2, frames)``.

    centroid, bandwidth, roll-off in Hz (+1 Hz, as the release, so MAPE never divides by 0), contrast low
    (< 250 Hz), mid (mean of 250-500, 500-1k, 1-2k Hz) and high (> 2 kHz) in dB, flatness as ``1 - dB``.
    Computed with the dynamics' low-frequency ratio in one pass (:func:`_spectral_and_ratio`).
    """
    return _spectral_and_ratio(signal, sample_rate)[0]


_SPECTRAL_UNITS = {"centroid": "hz", "bandwidth": "hz", "contrast_l": "db", "contrast_m": "db", "contrast_h": "db",
                   "rolloff": "hz", "flatness": "db"}


def spectral_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """``<feature>_mean`` (release MAPE), ``<feature>_abs_<unit>`` and ``spectral_mape_mean``."""
    ref, est = _map(lambda a: a.memo(("spectral", sample_rate), lambda: spectral_series(a, sample_rate)),
                    _analyses(reference, estimate))
    result = {}
    for name, unit in _SPECTRAL_UNITS.items():
        result[f"{name}_mean"], result[f"{name}_abs_{unit}"] = _compare(ref[name], est[name])
    contrast = np.mean([result["contrast_l_mean"], result["contrast_m_mean"], result["contrast_h_mean"]])
    result["spectral_mape_mean"] = float(np.mean([result["centroid_mean"], result["bandwidth_mean"], contrast,
                                                  result["rolloff_mean"], result["flatness_mean"]]))
    return result


# --------------------------------------------------------------------------------------------------- panning

def _panning_of(spectrum: np.ndarray) -> np.ndarray:
    """``(1 - phi)·sign(R/L - L/R)`` of an STFT ``(frames, 2, bins)``, float32 ``(frames, bins)``."""
    left, right = np.abs(spectrum[:, 0] + 1e-20), np.abs(spectrum[:, 1] + 1e-20)
    return (1.0 - similarity(left, right)) * np.sign(right / left - left / right)


def panning_spectrum(x: np.ndarray) -> np.ndarray:
    """Stereo panning spectrum ``(1 - phi)·sign(R/L - L/R)`` per frame, ``(frames, 1025)`` (spec §1.8)."""
    return _panning_of(stft(np.asarray(x, np.float32), PANNING_FFT, PANNING_HOP))


def panning_band_rms(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """RMS of the panning spectrum over the bands total/low/mid/high, ``(4, frames)``; frames in blocks."""
    x = np.asarray(x, np.float32)
    bands = [tuple(int(np.floor(f * PANNING_FFT / sample_rate)) for f in edges) for edges in PANNING_BANDS_HZ.values()]
    rows = np.empty((len(bands), n_frames(x.shape[0], PANNING_FFT, PANNING_HOP)))
    for first, spectrum in stft_blocks(x, PANNING_FFT, PANNING_HOP, 2 * _BLOCK_FRAMES):
        sps = _panning_of(spectrum).astype(np.float64)
        for row, (lo, hi) in enumerate(bands):
            rows[row, first:first + sps.shape[0]] = np.sqrt(np.mean(sps[:, lo:hi] ** 2, axis=1))
    return rows


def panning_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """``P_<band>_mean`` (release MAPE), ``pan_<band>_abs`` (panning RMS units, 0-1) and ``panning_mape_mean``.

    Frames whose total-band panning RMS is 0 in the reference (a mono or silent frame) are removed from both.
    """
    ref, est = _map(lambda a: a.memo(("panning", sample_rate), lambda: panning_band_rms(a.normalized32, sample_rate)),
                    _analyses(reference, estimate))
    keep = ref[0] != 0
    ref, est = ref[:, keep], est[:, keep]
    if ref.shape[1] < SMOOTHING_FRAMES:
        raise MetricsError(f"only {ref.shape[1]} frames with a stereo image in the reference (need "
                           f"{SMOOTHING_FRAMES}): the reference is (nearly) mono or too short")
    result = {}
    for row, band in enumerate(PANNING_BANDS_HZ):
        # one "channel" per band: _compare averages over its first axis
        result[f"P_{band}_mean"], result[f"pan_{band}_abs"] = _compare(ref[row:row + 1], est[row:row + 1])
    result["panning_mape_mean"] = float(np.mean([result[f"P_{band}_mean"] for band in PANNING_BANDS_HZ]))
    return result


# --------------------------------------------------------------------------------------------------- dynamics

def _hop_statistics(channel: np.ndarray, gain: float, count: int, hop: int = SPECTRAL_HOP) -> np.ndarray:
    """Per hop of the normalized channel ``float64(channel) · gain``: ``sum x²``, ``sum 20 log10 max(|x|, 1e-10)``
    and ``max |x|``, ``(3, hops)`` for the hops of ``count`` non-centred frames
    (:func:`~automix.evaluation.kernels.hop_statistics`, one pass)."""
    from automix.evaluation.kernels import hop_statistics  # lazy: numba

    out = np.empty((3, count - 1 + SPECTRAL_FFT // hop))
    hop_statistics(channel, float(gain), hop, out)
    return out


def _low_passed(signal: Analysis, sample_rate: int) -> np.ndarray:
    """The normalized signal through a zero-phase 4th-order Butterworth low-pass at 1 kHz, float32 ``(n, 2)``:
    ``scipy.signal.sosfiltfilt`` (odd padding) computed by a numba kernel in the same float64 arithmetic."""
    from automix.evaluation.kernels import scaled_sosfiltfilt, scaled_sosfiltfilt_stereo_two_sections  # lazy: numba

    sos = scipy.signal.butter(4, LOW_FREQUENCY_CUTOFF_HZ, btype="low", fs=sample_rate, output="sos")
    n_taps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    raw = np.asarray(signal.raw)
    if raw.dtype not in (np.float32, np.float64):
        raw = raw.astype(np.float64)
    out = np.empty(raw.shape, dtype=np.float32)
    fast = raw.shape[1] == 2 and sos.shape[0] == 2
    (scaled_sosfiltfilt_stereo_two_sections if fast else scaled_sosfiltfilt)(
        raw, signal.gain, sos, scipy.signal.sosfilt_zi(sos), 3 * n_taps, out)
    return out


def dynamics_series(signal: Analysis, sample_rate: int = SAMPLE_RATE) -> dict:
    """Per-frame dynamics of a signal's peak-normalized copy: ``rms_db``, ``spread_db``, ``crest`` ``(2, frames)``
    and ``l_ratio`` ``(1, frames)`` (channel-averaged).

    rms_db ``r = 20 log10 sqrt(sum x² / 4096)``; dynamic spread ``mean_n(20 log10|x[n]|) - r``; crest
    ``20 log10 max|x| / r`` (a ratio of dB values, as the release); low-frequency ratio
    ``sum_k |X_low(k)| / (|X(k)| + 1e-5)`` with a zero-phase 4th-order Butterworth low-pass at 1 kHz.
    """
    _, ratio = _spectral_and_ratio(signal, sample_rate)
    count, per_frame_hops = ratio.shape[1], SPECTRAL_FFT // SPECTRAL_HOP
    raw = np.asarray(signal.raw)
    rms, spread, crest = [], [], []
    for c in range(raw.shape[1]):  # frame length 4096 = 4 hops: per-frame sums from per-hop sums
        squares, levels, peaks = _hop_statistics(raw[:, c], signal.gain, count)
        r = 20.0 * np.log10(np.maximum(np.sqrt(sliding_window_view(squares, per_frame_hops).sum(axis=1)
                                               / SPECTRAL_FFT), _TINY))
        rms.append(r)
        spread.append(sliding_window_view(levels, per_frame_hops).sum(axis=1) / SPECTRAL_FFT - r)
        frame_peak = sliding_window_view(peaks, per_frame_hops).max(axis=1)
        crest.append(20.0 * np.log10(np.maximum(frame_peak, _TINY)) / np.minimum(r, -1e-6))
    return {"rms_db": np.array(rms), "spread_db": np.array(spread), "crest": np.array(crest),
            "l_ratio": ratio.mean(axis=0)[None, :]}


def dynamics_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """``rms_mean``, ``dyn_mean``, ``crest_mean``, ``l_ratio_mean_mape`` (release MAPE; r and spread projected to
    ``1 - value`` first, as the release), ``l_ratio_mean_l2`` (MSE), ``dynamics_mape_mean``, and the absolute
    differences ``rms_abs_db``, ``dyn_abs_db``, ``crest_abs``, ``l_ratio_abs``."""
    ref, est = _map(lambda a: a.memo(("dynamics", sample_rate), lambda: dynamics_series(a, sample_rate)),
                    _analyses(reference, estimate))
    result = {}
    result["rms_mean"], _ = _compare(1.0 - ref["rms_db"], 1.0 - est["rms_db"])
    result["dyn_mean"], _ = _compare(1.0 - ref["spread_db"], 1.0 - est["spread_db"])
    _, result["rms_abs_db"] = _compare(ref["rms_db"], est["rms_db"])
    _, result["dyn_abs_db"] = _compare(ref["spread_db"], est["spread_db"])
    result["crest_mean"], result["crest_abs"] = _compare(ref["crest"], est["crest"])
    result["l_ratio_mean_mape"], result["l_ratio_abs"] = _compare(ref["l_ratio"], est["l_ratio"])
    result["l_ratio_mean_l2"] = float(np.mean((moving_average(ref["l_ratio"]) - moving_average(est["l_ratio"])) ** 2))
    result["dynamics_mape_mean"] = float(np.mean([result["rms_mean"], result["dyn_mean"], result["crest_mean"]]))
    return result


# --------------------------------------------------------------------------------------------------- waveform

def _reflect_padded(x: np.ndarray, pad: int) -> np.ndarray:
    """``np.pad(x, ((0, 0), (pad, pad)), mode="reflect")`` as C-contiguous float32 (``x``: ``(signals, n)``).

    ``x`` is made C-contiguous first: ``np.pad`` keeps the memory order of its input, and the transposed view of an
    ``(n, 2)`` song would give a Fortran-ordered copy that every resolution then had to copy again (0.86 s of a
    3-min song's MRSTFT)."""
    return np.pad(np.ascontiguousarray(x, np.float32), ((0, 0), (pad, pad)), mode="reflect")


def _stft_distance_tasks(x_padded: np.ndarray, y_padded: np.ndarray, pad: int, n_fft: int, hop: int,
                         win_length: int, eps: float, block_bytes: int = 2 ** 19):
    """The work of one resolution of :func:`mrstft_distance` as independent tasks, and the bin count.

    The magnitudes are auraloss's: ``sqrt(max(|STFT|², eps))`` of ``torch.stft(center=True, pad_mode="reflect")``
    with a periodic Hann of ``win_length`` centred in ``n_fft``. ``x_padded``, ``y_padded``: ``(signals, n + 2 pad)``
    reflect-padded by ``pad >= n_fft // 2``. Each task, called, returns the sums over its frames of ``(Y - X)²``,
    ``Y²`` and ``|log X - log Y|``: frames go in blocks of ~``block_bytes`` of windowed samples per signal (in cache
    through FFT and reduction), each block reduced by :func:`~automix.evaluation.kernels.stft_distance_sums` in one
    pass (one logarithm per 8 bins).
    """
    import scipy.fft

    from automix.evaluation.kernels import stft_distance_sums, windowed_frames  # lazy: numba

    lo = (n_fft - win_length) // 2
    window = scipy.signal.get_window("hann", win_length, fftbins=True).astype(np.float32)  # samples [lo, lo + win)
    skip = pad - n_fft // 2  # frame j of a row starts at sample skip + j hop of the padded signal
    n_signals = x_padded.shape[0]
    n_frames_total = 1 + (x_padded.shape[1] - 2 * skip - n_fft) // hop
    block_frames = max(1, block_bytes // (4 * n_fft * n_signals))
    eps32 = np.float32(eps)
    signals = [np.ascontiguousarray(s, np.float32) for s in (x_padded, y_padded)]

    def blocks(firsts: range) -> np.ndarray:
        # buffers reused by every block: a fresh ~0.5 MB array per block costs page faults (glibc trims freed
        # memory); zero outside the window's win_length samples once, only those are written per block
        windowed = np.zeros((2, n_signals, block_frames, n_fft), dtype=np.float32)
        sums = np.zeros(3)
        for first in firsts:
            size = min(block_frames, n_frames_total - first)
            for s, w in zip(signals, windowed):
                windowed_frames(s, skip, hop, first, size, window, lo, w)
            x_spec, y_spec = (scipy.fft.rfft(w[:, :size], axis=-1).reshape(-1) for w in windowed)
            sums += stft_distance_sums(x_spec, y_spec, eps32)
        return sums

    tasks = [functools.partial(blocks, firsts)
             for firsts in _split(range(0, n_frames_total, block_frames), _threads())]
    return tasks, n_signals * n_frames_total * (n_fft // 2 + 1)


def mrstft_distance(reference: np.ndarray, estimate: np.ndarray, fft_sizes=(1024, 2048, 512),
                    hop_sizes=(120, 240, 50), win_lengths=(600, 1200, 240), eps: float = 1e-8) -> float:
    """Multi-resolution STFT distance (Yamamoto et al. 2019), equal to auraloss 0.4's ``MultiResolutionSTFTLoss()``.

    Per resolution: spectral convergence ``||Y - X||_F / ||Y||_F`` + ``mean |log X - log Y|``, averaged over the
    resolutions; the channels of ``(n_samples, channels)`` inputs are separate signals. The blocks of frames of all
    resolutions are spread over :func:`_threads` threads.
    """
    x = np.asarray(estimate).T
    y = np.asarray(reference).T
    pad = max(fft_sizes) // 2
    if x.shape[1] > pad:  # one reflection: every resolution's padding is a slice of the largest one
        x_padded, y_padded = _reflect_padded(x, pad), _reflect_padded(y, pad)
    resolutions = []
    for n_fft, hop, win in zip(fft_sizes, hop_sizes, win_lengths):
        if x.shape[1] <= pad:
            x_padded, y_padded, pad = _reflect_padded(x, n_fft // 2), _reflect_padded(y, n_fft // 2), n_fft // 2
        resolutions.append(_stft_distance_tasks(x_padded, y_padded, pad, n_fft, hop, win, eps))
    sums = _map(lambda task: task(), [task for tasks, _ in resolutions for task in tasks])
    total = 0.0
    for tasks, count in resolutions:
        squared_error, target_energy, log_error = np.sum(sums[:len(tasks)], axis=0)
        sums = sums[len(tasks):]
        total += np.sqrt(squared_error) / np.sqrt(target_energy) + log_error / count
    return float(total / len(fft_sizes))


def waveform_metrics(reference: np.ndarray, estimate: np.ndarray) -> dict:
    """``l1`` (mean absolute error), ``l2`` (mean squared error) of the samples and ``mrstft``; the sample sums in
    float64 over cache-sized chunks, on :func:`_threads` threads."""
    reference, estimate = _check_pair(reference, estimate)

    def sums(rows: range) -> np.ndarray:
        out = np.zeros(2)
        for lo in range(rows.start, rows.stop, 2 ** 15):
            hi = min(lo + 2 ** 15, rows.stop)
            difference = np.asarray(estimate[lo:hi], np.float64) - np.asarray(reference[lo:hi], np.float64)
            out += (np.abs(difference).sum(), np.square(difference, out=difference).sum())
        return out

    l1, l2 = np.sum(_map(sums, _split(range(reference.shape[0]), _threads())), axis=0) / reference.size
    return {"l1": float(l1), "l2": float(l2), "mrstft": mrstft_distance(reference, estimate)}


FAMILIES = {"loudness": loudness_metrics, "spectral": spectral_metrics, "panning": panning_metrics,
            "dynamics": dynamics_metrics}


def all_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE,
                reference_analysis: Analysis | None = None) -> tuple[dict, list]:
    """Every metric of every family; returns ``(metrics, notes)``.

    A family that cannot be computed (silent reference, fewer frames than the smoothing window, a mono reference
    for panning) is left out with a note saying why, instead of NaN or a crash.

    Args:
        reference_analysis: an :class:`Analysis` of this same ``reference`` array, kept by the caller to compare
            it with several estimates: its per-family series are computed once.
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"metrics are defined at {SAMPLE_RATE} Hz, got {sample_rate} Hz; resample first")
    if reference_analysis is not None and reference_analysis.raw is not reference:
        raise ValueError("reference_analysis must be an Analysis of the reference array given")
    metrics, notes = waveform_metrics(reference, estimate), []
    # one normalization, STFT and series per signal for all families
    analyses = (reference_analysis or Analysis(reference), Analysis(estimate))
    for family, function in FAMILIES.items():
        try:
            metrics.update(function(*analyses, sample_rate))
        except MetricsError as err:
            notes.append(f"{family}: {err}")
    return metrics, notes
