"""Objective mixing metrics of the paper (Martínez-Ramírez et al., ISMIR 2022; spec §6), numpy/scipy/librosa only.

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
"""

from __future__ import annotations

import numpy as np
import scipy.signal
from numpy.lib.stride_tricks import sliding_window_view

from automix.fxnorm.loudness import SAMPLE_RATE, integrated_loudness, max_abs, peak_db
from automix.fxnorm.panning import similarity
from automix.fxnorm.stft import n_frames, stft

SMOOTHING_FRAMES = 40  # moving-average length of every per-frame series (release)
SPECTRAL_FFT, SPECTRAL_HOP = 4096, 1024
PANNING_FFT, PANNING_HOP = 2048, 1024
PANNING_BANDS_HZ = {"t": (0.0, 22050.0), "l": (0.0, 250.0), "m": (250.0, 2500.0), "h": (2500.0, 22050.0)}
NORMALIZATION_PEAK_DB = -1.0
LOW_FREQUENCY_CUTOFF_HZ = 1000.0
_MAPE_EPS = np.finfo(np.float64).eps  # scikit-learn's mean_absolute_percentage_error floor
_TINY = 1e-10  # amplitude floor before a logarithm (-200 dB)


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


class Analysis:
    """A signal with what several families share: its -1 dBFS peak-normalized copy and that copy's 4096/1024
    magnitude STFT ``(channels, bins, frames)``, computed once (lazily) instead of once per family."""

    def __init__(self, x: np.ndarray):
        self.raw = x
        self._normalized = self._magnitude = None

    @property
    def normalized(self) -> np.ndarray:
        if self._normalized is None:
            self._normalized = peak_normalize(self.raw)
        return self._normalized

    @property
    def magnitude(self) -> np.ndarray:
        if self._magnitude is None:
            spectrum = stft(self.normalized.astype(np.float32), SPECTRAL_FFT, SPECTRAL_HOP)
            if spectrum.shape[0] == 0:
                raise MetricsError("the signal is shorter than one 4096-sample frame")
            self._magnitude = np.ascontiguousarray(np.abs(spectrum).transpose(1, 2, 0))
        return self._magnitude


def _analyses(reference, estimate) -> tuple[Analysis, Analysis]:
    if isinstance(reference, Analysis) and isinstance(estimate, Analysis):
        return reference, estimate
    reference, estimate = _check_pair(reference, estimate)
    return Analysis(reference), Analysis(estimate)


# --------------------------------------------------------------------------------------------------- loudness

def loudness_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """``d_lufs``/``d_peak`` (release MAPE) and ``lufs_abs_lu``/``peak_abs_db`` of the raw signals."""
    reference, estimate = _check_pair(reference, estimate)
    lufs = [integrated_loudness(np.asarray(s, np.float32), sample_rate) for s in (reference, estimate)]
    peaks = [peak_db(s) for s in (reference, estimate)]
    if not all(np.isfinite(lufs + peaks)):
        raise MetricsError("loudness is undefined (silent signal or shorter than one 400-ms block)")
    return {"d_lufs": mape([lufs[0]], [lufs[1]]), "d_peak": mape([peaks[0]], [peaks[1]]),
            "lufs_abs_lu": abs(lufs[1] - lufs[0]), "peak_abs_db": abs(peaks[1] - peaks[0]),
            "lufs_reference": lufs[0], "lufs_estimate": lufs[1]}


# --------------------------------------------------------------------------------------------------- spectral

def _spectral_shape(magnitude: np.ndarray, frequencies: np.ndarray) -> dict:
    """librosa's spectral centroid, bandwidth (p = 2, normalized), roll-off (85 %) and flatness (power 2,
    amin 1e-10) of ``magnitude (channels, bins, frames)`` float32, by matrix products instead of per-frame
    normalized copies (tests check equality with librosa); each ``(channels, frames)``."""
    total = np.einsum("cbf->cf", magnitude, dtype=np.float64)
    active = total > np.finfo(np.float32).tiny
    safe = np.where(active, total, 1.0)
    first = np.einsum("b,cbf->cf", frequencies, magnitude, dtype=np.float64)
    second = np.einsum("b,cbf->cf", frequencies.astype(np.float64) ** 2, magnitude, dtype=np.float64)
    centroid = np.where(active, first / safe, 0.0)
    bandwidth = np.sqrt(np.maximum(np.where(active, second / safe - centroid ** 2, 0.0), 0.0))
    cumulative = np.cumsum(magnitude, axis=1, dtype=np.float32)
    rolloff = frequencies[np.argmax(cumulative >= np.float32(0.85) * cumulative[:, -1:, :], axis=1)]
    power = np.maximum(magnitude * magnitude, np.float32(1e-10))
    flatness = np.exp(np.log(power).mean(axis=1, dtype=np.float64)) / power.mean(axis=1, dtype=np.float64)
    return {"centroid": centroid, "bandwidth": bandwidth, "rolloff": rolloff, "flatness": flatness}


def _power_to_db(x: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """librosa's ``power_to_db(x)`` (ref 1, amin 1e-10, clipped at ``max - top_db`` over the whole array)."""
    db = 10.0 * np.log10(np.maximum(1e-10, x))
    return np.maximum(db, db.max() - top_db)


def _spectral_contrast(magnitude: np.ndarray, frequencies: np.ndarray, fmin: float = 250.0, n_bands: int = 4,
                       quantile: float = 0.02) -> np.ndarray:
    """librosa's ``spectral_contrast`` (same bands, edge bins and quantile rule), with a partial sort per band
    instead of a full one; ``(channels, n_bands + 1, frames)`` in dB."""
    edges = np.zeros(n_bands + 2)
    edges[1:] = fmin * 2.0 ** np.arange(n_bands + 1)
    shape = (magnitude.shape[0], n_bands + 1, magnitude.shape[2])
    valley, peak = np.zeros(shape), np.zeros(shape)
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        band = (frequencies >= low) & (frequencies <= high)
        index = np.flatnonzero(band)
        if k > 0:
            band[index[0] - 1] = True
        if k == n_bands:
            band[index[-1] + 1:] = True
        sub_band = magnitude[:, band, :]
        if k < n_bands:
            sub_band = sub_band[:, :-1, :]
        count = max(int(np.rint(quantile * np.sum(band))), 1)
        n = sub_band.shape[1]
        part = np.partition(sub_band, (count - 1, n - count), axis=1)
        valley[:, k] = part[:, :count].mean(axis=1)
        peak[:, k] = part[:, n - count:].mean(axis=1)
    return _power_to_db(peak) - _power_to_db(valley)


def spectral_series(signal: Analysis, sample_rate: int = SAMPLE_RATE) -> dict:
    """Per-frame spectral descriptors of a signal's peak-normalized copy, each ``(2, frames)``.

    centroid, bandwidth, roll-off in Hz (+1 Hz, as the release, so MAPE never divides by 0), contrast low
    (< 250 Hz), mid (mean of 250-500, 500-1k, 1-2k Hz) and high (> 2 kHz) in dB, flatness as ``1 - dB``.
    """
    magnitude = signal.magnitude
    frequencies = (np.arange(magnitude.shape[1]) * sample_rate / SPECTRAL_FFT).astype(np.float32)
    shape = _spectral_shape(magnitude, frequencies)
    contrast = _spectral_contrast(magnitude, frequencies)
    return {
        "centroid": shape["centroid"] + 1.0, "bandwidth": shape["bandwidth"] + 1.0,
        "contrast_l": contrast[:, 0], "contrast_m": contrast[:, 1:4].mean(axis=1), "contrast_h": contrast[:, 4],
        "rolloff": shape["rolloff"] + 1.0,
        "flatness": 1.0 - 20.0 * np.log10(np.maximum(shape["flatness"], _TINY)),
    }


_SPECTRAL_UNITS = {"centroid": "hz", "bandwidth": "hz", "contrast_l": "db", "contrast_m": "db", "contrast_h": "db",
                   "rolloff": "hz", "flatness": "db"}


def spectral_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """``<feature>_mean`` (release MAPE), ``<feature>_abs_<unit>`` and ``spectral_mape_mean``."""
    ref, est = (spectral_series(a, sample_rate) for a in _analyses(reference, estimate))
    result = {}
    for name, unit in _SPECTRAL_UNITS.items():
        result[f"{name}_mean"], result[f"{name}_abs_{unit}"] = _compare(ref[name], est[name])
    contrast = np.mean([result["contrast_l_mean"], result["contrast_m_mean"], result["contrast_h_mean"]])
    result["spectral_mape_mean"] = float(np.mean([result["centroid_mean"], result["bandwidth_mean"], contrast,
                                                  result["rolloff_mean"], result["flatness_mean"]]))
    return result


# --------------------------------------------------------------------------------------------------- panning

def panning_spectrum(x: np.ndarray) -> np.ndarray:
    """Stereo panning spectrum ``(1 - phi)·sign(R/L - L/R)`` per frame, ``(frames, 1025)`` (spec §1.8)."""
    spectrum = stft(np.asarray(x, np.float32), PANNING_FFT, PANNING_HOP)
    left, right = np.abs(spectrum[:, 0] + 1e-20), np.abs(spectrum[:, 1] + 1e-20)
    return (1.0 - similarity(left, right)) * np.sign(right / left - left / right)


def panning_band_rms(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """RMS of the panning spectrum over the bands total/low/mid/high, ``(4, frames)``."""
    sps = panning_spectrum(x).astype(np.float64)
    rows = []
    for low_hz, high_hz in PANNING_BANDS_HZ.values():
        lo, hi = (int(np.floor(f * PANNING_FFT / sample_rate)) for f in (low_hz, high_hz))
        rows.append(np.sqrt(np.mean(sps[:, lo:hi] ** 2, axis=1)))
    return np.stack(rows)


def panning_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """``P_<band>_mean`` (release MAPE), ``pan_<band>_abs`` (panning RMS units, 0-1) and ``panning_mape_mean``.

    Frames whose total-band panning RMS is 0 in the reference (a mono or silent frame) are removed from both.
    """
    ref, est = (panning_band_rms(a.normalized, sample_rate) for a in _analyses(reference, estimate))
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

def _frame_sums(values: np.ndarray, length: int = SPECTRAL_FFT, hop: int = SPECTRAL_HOP) -> np.ndarray:
    """Sum of ``values`` (one channel) over every non-centred frame, from hop-long block sums (no frame copies)."""
    count = n_frames(values.shape[0], length, hop)
    if count == 0:
        raise MetricsError(f"the signal is shorter than one {length}-sample frame")
    per_frame_blocks = length // hop
    blocks = values[:(count - 1 + per_frame_blocks) * hop].reshape(-1, hop).sum(axis=1)
    return sliding_window_view(blocks, per_frame_blocks).sum(axis=1)


def _frame_max(values: np.ndarray, length: int = SPECTRAL_FFT, hop: int = SPECTRAL_HOP) -> np.ndarray:
    count = n_frames(values.shape[0], length, hop)
    per_frame_blocks = length // hop
    blocks = values[:(count - 1 + per_frame_blocks) * hop].reshape(-1, hop).max(axis=1)
    return sliding_window_view(blocks, per_frame_blocks).max(axis=1)


def dynamics_series(signal: Analysis, sample_rate: int = SAMPLE_RATE) -> dict:
    """Per-frame dynamics of a signal's peak-normalized copy: ``rms_db``, ``spread_db``, ``crest`` ``(2, frames)``
    and ``l_ratio`` ``(1, frames)`` (channel-averaged).

    rms_db ``r = 20 log10 sqrt(sum x² / 4096)``; dynamic spread ``mean_n(20 log10|x[n]|) - r``; crest
    ``20 log10 max|x| / r`` (a ratio of dB values, as the release); low-frequency ratio
    ``sum_k |X_low(k)| / (|X(k)| + 1e-5)`` with a zero-phase 4th-order Butterworth low-pass at 1 kHz.
    """
    x = np.asarray(signal.normalized, np.float64)
    rms, spread, crest = [], [], []
    for channel in x.T:  # frame length 4096 = 4 hops: per-frame sums from per-hop block sums
        magnitude = np.abs(channel)
        r = 20.0 * np.log10(np.maximum(np.sqrt(_frame_sums(channel ** 2) / SPECTRAL_FFT), _TINY))
        mean_sample_db = _frame_sums(20.0 * np.log10(np.maximum(magnitude, _TINY))) / SPECTRAL_FFT
        rms.append(r)
        spread.append(mean_sample_db - r)
        crest.append(20.0 * np.log10(np.maximum(_frame_max(magnitude), _TINY)) / np.minimum(r, -1e-6))
    sos = scipy.signal.butter(4, LOW_FREQUENCY_CUTOFF_HZ, btype="low", fs=sample_rate, output="sos")
    low = scipy.signal.sosfiltfilt(sos, x, axis=0)
    low_magnitude = np.abs(stft(low.astype(np.float32), SPECTRAL_FFT, SPECTRAL_HOP)).transpose(1, 2, 0)
    ratio = (low_magnitude / (signal.magnitude + np.float32(1e-5))).sum(axis=1).mean(axis=0)  # (frames,)
    return {"rms_db": np.array(rms), "spread_db": np.array(spread), "crest": np.array(crest),
            "l_ratio": ratio[None, :].astype(np.float64)}


def dynamics_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """``rms_mean``, ``dyn_mean``, ``crest_mean``, ``l_ratio_mean_mape`` (release MAPE; r and spread projected to
    ``1 - value`` first, as the release), ``l_ratio_mean_l2`` (MSE), ``dynamics_mape_mean``, and the absolute
    differences ``rms_abs_db``, ``dyn_abs_db``, ``crest_abs``, ``l_ratio_abs``."""
    ref, est = (dynamics_series(a, sample_rate) for a in _analyses(reference, estimate))
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

def _stft_distance_sums(x: np.ndarray, y: np.ndarray, n_fft: int, hop: int, win_length: int, eps: float,
                        block_frames: int = 4096) -> tuple[float, float, float, int]:
    """Sums over all bins and frames of ``(Y - X)²``, ``Y²`` and ``|log X - log Y|`` (and their count) for the
    magnitudes auraloss uses: ``sqrt(max(|STFT|², eps))`` of ``torch.stft(center=True, pad_mode="reflect")`` with a
    periodic Hann of ``win_length`` centred in ``n_fft``. ``x``, ``y``: ``(signals, n)``; frames in blocks."""
    import scipy.fft

    window = np.zeros(n_fft, dtype=np.float32)
    start = (n_fft - win_length) // 2
    window[start:start + win_length] = scipy.signal.get_window("hann", win_length, fftbins=True)
    pads = ((0, 0), (n_fft // 2, n_fft // 2))
    frames = [sliding_window_view(np.pad(s, pads, mode="reflect").astype(np.float32), n_fft, axis=1)[:, ::hop]
              for s in (x, y)]
    sums = np.zeros(3)
    for first in range(0, frames[0].shape[1], block_frames):
        x_mag, y_mag = (np.sqrt(np.maximum(np.abs(scipy.fft.rfft(f[:, first:first + block_frames] * window, workers=-1,
                                                                   axis=-1)) ** 2, eps)) for f in frames)
        sums += [np.sum((y_mag - x_mag) ** 2, dtype=np.float64), np.sum(y_mag ** 2, dtype=np.float64),
                 np.sum(np.abs(np.log(x_mag) - np.log(y_mag)), dtype=np.float64)]
    count = frames[0].shape[0] * frames[0].shape[1] * (n_fft // 2 + 1)
    return sums[0], sums[1], sums[2], count


def mrstft_distance(reference: np.ndarray, estimate: np.ndarray, fft_sizes=(1024, 2048, 512),
                    hop_sizes=(120, 240, 50), win_lengths=(600, 1200, 240), eps: float = 1e-8) -> float:
    """Multi-resolution STFT distance (Yamamoto et al. 2019), equal to auraloss 0.4's ``MultiResolutionSTFTLoss()``.

    Per resolution: spectral convergence ``||Y - X||_F / ||Y||_F`` + ``mean |log X - log Y|``, averaged over the
    resolutions; the channels of ``(n_samples, channels)`` inputs are separate signals.
    """
    x = np.asarray(estimate, np.float32).T
    y = np.asarray(reference, np.float32).T
    total = 0.0
    for n_fft, hop, win in zip(fft_sizes, hop_sizes, win_lengths):
        squared_error, target_energy, log_error, count = _stft_distance_sums(x, y, n_fft, hop, win, eps)
        total += np.sqrt(squared_error) / np.sqrt(target_energy) + log_error / count
    return float(total / len(fft_sizes))


def waveform_metrics(reference: np.ndarray, estimate: np.ndarray) -> dict:
    """``l1`` (mean absolute error), ``l2`` (mean squared error) of the samples and ``mrstft``."""
    reference, estimate = _check_pair(reference, estimate)
    difference = np.asarray(estimate, np.float64) - np.asarray(reference, np.float64)
    return {"l1": float(np.mean(np.abs(difference))), "l2": float(np.mean(difference ** 2)),
            "mrstft": mrstft_distance(reference, estimate)}


FAMILIES = {"loudness": loudness_metrics, "spectral": spectral_metrics, "panning": panning_metrics,
            "dynamics": dynamics_metrics}


def all_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[dict, list]:
    """Every metric of every family; returns ``(metrics, notes)``.

    A family that cannot be computed (silent reference, fewer frames than the smoothing window, a mono reference
    for panning) is left out with a note saying why, instead of NaN or a crash.
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"metrics are defined at {SAMPLE_RATE} Hz, got {sample_rate} Hz; resample first")
    metrics, notes = waveform_metrics(reference, estimate), []
    shared = {"loudness": (reference, estimate)}
    analyses = (Analysis(reference), Analysis(estimate))  # one normalization and STFT per signal for all families
    for family, function in FAMILIES.items():
        try:
            metrics.update(function(*shared.get(family, analyses), sample_rate))
        except MetricsError as err:
            notes.append(f"{family}: {err}")
    return metrics, notes
