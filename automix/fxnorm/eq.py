"""EQ normalization: long-term average spectrum feature and FIR spectral matching (spec §1.5).

The feature of a stem is its mean 65536-point STFT magnitude at -30 LUFS. Matching designs a 1001-tap linear-phase
FIR (``firwin2``) whose response is ``sqrt(reference / input)`` and applies it forward and backward (zero phase), so
the net magnitude change is ``reference / input``.

Modes:
    ``release``: each channel on its own (each normalized to -30 LUFS, so the L/R balance is lost), raw input
        spectrum, unbounded gains; computed in the release's arithmetic under NumPy 2 (the -30 LUFS signal is
        float64, so are its STFT and the zero-phase filter; the spectra and the desired response are float32).
    ``fixed``: one filter for both channels, designed from the stereo spectrum at -30 LUFS (L/R balance kept),
        input spectrum smoothed like the reference, net gain bounded to ``[-EQ_MAX_CUT_DB, +EQ_MAX_BOOST_DB]``.

Zero phase: the release uses ``scipy.signal.filtfilt(b, 1, x)``. Here the signal is convolved once (blocked FFT
overlap-save, :mod:`~automix.fxnorm.convolution`) with ``b * b`` (``b`` is symmetric) and the 1000-sample delay
removed. On the zero-padded stems of the pipeline (65536 zeros at each end) this equals ``filtfilt`` to float
rounding; on unpadded signals only the first and last ~3000 samples differ, because ``filtfilt`` extends the edges by
odd reflection. The -30 LUFS analysis gain is folded into the spectrum and the filter (both linear) instead of
scaling the stem first.
"""

from __future__ import annotations

import numpy as np

from automix.fxnorm.convolution import convolve_segment
from automix.fxnorm.loudness import ANALYSIS_LUFS, SAMPLE_RATE, is_silent, lufs_gain
from automix.fxnorm.stft import ANALYSIS_FFT_SIZE, ANALYSIS_HOP, mean_magnitude, release_mean_magnitude

EQ_NUMTAPS = 1001
EQ_SMOOTHING_WINDOWS = {"vocals": 401, "other": 401, "bass": 151, "drums": 151}  # Savitzky-Golay, in bins
EQ_MAX_BOOST_DB = 12.0  # fixed mode: most a band may be raised (net, after both passes); noise would rise with it
EQ_MAX_CUT_DB = 40.0  # fixed mode: most a band may be lowered (net)
_SPECTRUM_FLOOR = 1e-12  # avoids log(0) for bins without any energy


def smooth_spectrum(spectrum: np.ndarray, window: int) -> np.ndarray:
    """Savitzky-Golay smoothing along frequency (order 1, ``mirror``), as the release; dtype kept."""
    import scipy.signal  # lazy: ~1.6 s to import, which a process that only reads features need not pay
    return scipy.signal.savgol_filter(spectrum, window, 1, mode="mirror")


def eq_feature(x: np.ndarray, sample_rate: int = SAMPLE_RATE, mode: str = "fixed") -> np.ndarray | None:
    """Per-file EQ feature: mean STFT magnitude over frames and channels of the stem at -30 LUFS.

    Args:
        x: padded stereo stem ``(n_samples, n_channels)``.
        mode: ``"release"`` computes it in the release's arithmetic (see :func:`eq_analysis`).

    Returns:
        float32 ``(32769,)`` or ``None`` for silence (excluded from the average).
    """
    if is_silent(x):
        return None
    _, spectrum, lufs = eq_analysis(x, sample_rate, mode)
    return spectrum if np.isfinite(lufs) else None


def eq_analysis(x: np.ndarray, sample_rate: int = SAMPLE_RATE, mode: str = "fixed") -> tuple[float, np.ndarray, float]:
    """What both the EQ feature and fixed-mode matching measure: ``(gain, spectrum, lufs)``.

    ``gain`` brings ``x`` to -30 LUFS (1 if its loudness ``lufs`` is not finite); ``spectrum`` is the mean 65536-point
    STFT magnitude over frames and channels of ``gain · x``, float32 ``(32769,)``. The STFT is linear, so the
    spectrum of ``x`` is scaled instead of scaling the signal first (same to float32 rounding, one whole-song copy
    less). The features pass hands this to the matching of the same stem (``analysis`` of :func:`match_eq`), which
    then skips its own 65536-point STFT. ``mode="release"``: float64 gain and STFT, float32 magnitudes and frame
    mean accumulated as NumPy does (:func:`~automix.fxnorm.stft.release_mean_magnitude`).
    """
    if mode == "release":
        gain, lufs = lufs_gain(x, ANALYSIS_LUFS, sample_rate, precision="float64")
        return gain, release_mean_magnitude(x, gain, over_channels=True), lufs
    gain, lufs = lufs_gain(x, ANALYSIS_LUFS, sample_rate)
    return gain, mean_magnitude(x, ANALYSIS_FFT_SIZE, ANALYSIS_HOP).mean(axis=0) * np.float32(gain), lufs


def matching_gain_db(reference: np.ndarray, spectrum: np.ndarray, max_boost_db: float | None = None,
                     max_cut_db: float | None = None) -> np.ndarray:
    """Net gain ``20·log10(reference / spectrum)`` per bin in dB, optionally bounded."""
    gain_db = 20.0 * (np.log10(np.maximum(reference, _SPECTRUM_FLOOR).astype(np.float64))
                      - np.log10(np.maximum(spectrum, _SPECTRUM_FLOOR).astype(np.float64)))
    if max_boost_db is not None or max_cut_db is not None:
        gain_db = np.clip(gain_db, -np.inf if max_cut_db is None else -max_cut_db,
                          np.inf if max_boost_db is None else max_boost_db)
    return gain_db


def design_matching_filter(gain_db: np.ndarray, numtaps: int = EQ_NUMTAPS) -> np.ndarray:
    """Linear-phase FIR whose magnitude is the square root of the net gain (it is applied twice).

    Args:
        gain_db: net gain per bin on a linear grid from 0 to Nyquist, shape ``(n_bins,)``.

    Returns:
        float64 taps ``(numtaps,)`` (``firwin2``, Hamming window, default interpolation mesh).
    """
    import scipy.signal

    grid = np.linspace(0.0, 1.0, gain_db.size)
    return scipy.signal.firwin2(numtaps, grid, 10.0 ** (gain_db / 40.0), window="hamming")


def apply_zero_phase(x: np.ndarray, taps: np.ndarray, gain: float = 1.0, precision: str = "float32") -> np.ndarray:
    """Apply a symmetric FIR forward and backward (zero phase) with one FFT convolution by ``taps * taps``.

    Args:
        x: audio ``(n_samples, n_channels)``; not modified.
        taps: symmetric (linear-phase) FIR, odd length.
        gain: scale of the output, folded into the filter (e.g. the -30 LUFS normalization gain).
        precision: ``"float64"`` convolves in double precision (``filtfilt``'s float64 result, rounded once).

    Returns:
        float32 ``(n_samples, n_channels)``.
    """
    kernel = np.convolve(taps, taps)  # float64: the spectrum is computed from it in float64
    # Blocked overlap-save with the 2000-sample delay removed (convolve_segment: no whole-song temporaries).
    return convolve_segment(np.asarray(x, dtype=np.float32), kernel, (kernel.size - 1) // 2, gain,
                            precision=precision)


def _report(gain_db: np.ndarray, sample_rate: int) -> dict:
    freqs = np.linspace(0.0, sample_rate / 2, gain_db.size)
    audible = (freqs >= 20.0) & (freqs <= 20000.0)
    return {"gain_min_db": float(gain_db[audible].min()), "gain_max_db": float(gain_db[audible].max())}


def _release_db(values: np.ndarray) -> np.ndarray:
    """The release's ``amp_to_db``, ``20·log10(x + 1e-30)``, in the input's (float32) precision."""
    return 20 * np.log10(values + 1e-30)


def _match_release(x: np.ndarray, reference: np.ndarray, sample_rate: int) -> tuple[np.ndarray, dict]:
    """The release: every channel normalized to -30 LUFS and equalized on its own; no bounds, no smoothing.

    In its arithmetic: float64 -30 LUFS gain, STFT and zero-phase filter; float32 spectrum, dB difference and
    desired response ``sqrt(10^(dB/20))``; the frequency grid built as the release builds it.
    """
    import scipy.signal

    y = x.astype(np.float32, copy=True)
    reference_db = _release_db(np.asarray(reference, dtype=np.float32))
    frequencies = np.arange(reference.size) / (reference.size / sample_rate) / 2
    grid = frequencies / np.max(frequencies)
    channels = []
    for c in range(x.shape[1]):
        if is_silent(x[:, c]):
            channels.append({"action": "gated"})
            continue
        mono = np.ascontiguousarray(x[:, c:c + 1], dtype=np.float32)
        scale, _ = lufs_gain(mono, ANALYSIS_LUFS, sample_rate, precision="float64")  # folded into STFT and filter
        difference_db = reference_db - _release_db(release_mean_magnitude(mono, scale)[0])
        response = np.sqrt(10 ** (difference_db / 20))
        taps = scipy.signal.firwin2(EQ_NUMTAPS, grid, response, window="hamming")
        y[:, c:c + 1] = apply_zero_phase(mono, taps, scale, precision="float64")
        channels.append({"action": "equalized", **_report(difference_db.astype(np.float64), sample_rate)})
    return y, {"channels": channels}


def _match_fixed(x: np.ndarray, reference: np.ndarray, stem: str, sample_rate: int,
                 analysis: tuple | None = None) -> tuple[np.ndarray, dict]:
    """One bounded filter from the smoothed stereo spectrum at -30 LUFS, applied to both channels."""
    scale, spectrum, _ = eq_analysis(x, sample_rate) if analysis is None else analysis
    spectrum = smooth_spectrum(spectrum, EQ_SMOOTHING_WINDOWS[stem])  # the -30 LUFS gain is folded into the filter
    gain_db = matching_gain_db(reference, spectrum, EQ_MAX_BOOST_DB, EQ_MAX_CUT_DB)
    y = apply_zero_phase(x, design_matching_filter(gain_db), scale)
    return y, {"action": "equalized", **_report(gain_db, sample_rate)}


def match_eq(x: np.ndarray, reference: np.ndarray, stem: str, mode: str = "fixed",
             sample_rate: int = SAMPLE_RATE, analysis: tuple | None = None) -> tuple[np.ndarray, dict]:
    """Equalize a stem towards the dataset-average spectrum (spec §1.5); the output sits at about -30 LUFS.

    Args:
        x: padded stem ``(n_samples, n_channels)``; not modified.
        reference: dataset EQ feature ``(32769,)`` (65536-point bins).
        stem: stem type (sets the smoothing window in fixed mode).
        mode: ``"fixed"`` or ``"release"`` (see the module docstring).
        analysis: ``eq_analysis(x)`` if already computed (fixed mode; ignored in release mode).

    Returns:
        ``(y, report)``: float32 audio like ``x``; report with the net gain range in dB over 20 Hz-20 kHz
        (per channel in release mode).
    """
    reference = np.asarray(reference)
    if reference.shape != (ANALYSIS_FFT_SIZE // 2 + 1,):
        raise ValueError(f"EQ reference must have {ANALYSIS_FFT_SIZE // 2 + 1} bins, got shape {reference.shape}")
    if is_silent(x):
        return x.astype(np.float32, copy=True), {"action": "gated"}
    if mode == "release":
        return _match_release(x, reference, sample_rate)
    if mode != "fixed":
        raise ValueError(f"mode must be 'fixed' or 'release', got {mode!r}")
    return _match_fixed(x, reference, stem, sample_rate, analysis)
