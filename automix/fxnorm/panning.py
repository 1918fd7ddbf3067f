"""Stereo-image (panning) feature and matching (spec §1.8).

Similarity of a time-frequency bin with channel magnitudes ``L``, ``R``: ``phi = 2·L·R / (L² + R²)`` (1 = centre,
0 = one side only). The feature of a stem is ``phi`` averaged over frames of a 65536-point STFT. Matching works on
a 2048/1024 STFT: a static pre-pan (0.3/0.7 gains towards the stem's dominant side), then a per-bin re-weighting
towards ``0.9 x`` the reference similarity.

Modes:
    ``release``: the release's gain-ratio heuristic with one global side; the "no re-panning above 16 kHz (6 kHz for
        drums)" rule applied to the *frame* index, so only the first ~15.7 s (~4.9 s for drums) are re-panned.
        Computed with the release's arithmetic: the pre-pan applied to the samples (float32), STFTs in float64
        rounded to complex64 and the inverse as ``librosa.istft`` (:mod:`~automix.fxnorm.stft`), the output rebuilt
        as ``|X|·gain·(cos + i·sin)(angle X)``. The heuristic's gains reach ~1000x in near-silent bins of the weak
        channel, so float32 FFT rounding there would be audible in the comparison with the release.
    ``fixed``: the limit applied to frequency bins over the whole file; each bin is moved exactly to the target
        similarity (energy ``L² + R²`` kept, the bin's own louder side kept); a side that carries nothing of the
        source (more than 40 dB down, e.g. a hard-panned part) takes the louder side's phase, so the part is
        really re-panned instead of left one-sided.
All arithmetic is vectorized over frames, bins and channels (no Python loop).
"""

from __future__ import annotations

import numpy as np

from automix.conventions import MODES
from automix.fxnorm.loudness import SAMPLE_RATE, is_silent
from automix.fxnorm.stft import (ANALYSIS_FFT_SIZE, ANALYSIS_HOP, LibrosaOverlapAdd, OverlapAdd, accumulate_frames,
                                 frames_per_block, n_frames, stft_blocks)

PAN_FFT_SIZE = 2048
PAN_HOP = 1024
PANNING_GAIN_K = 0.9  # the stem is moved towards 0.9 x the reference similarity
PANNING_SMOOTHING_WINDOW = 501  # Savitzky-Golay window, in bins
SIDE_BAND_HZ = (50.0, 2500.0)  # band deciding the dominant side
PRE_PAN_ALPHA = 0.7  # linear pan law: L x (1 - alpha), R x alpha towards the dominant side
FRAME_GATE_DB = -10.0  # frames whose loudest |X_L + X_R| bin is below this (STFT units) are left alone
MAX_PAN_FREQ_HZ = {"vocals": 16000.0, "bass": 16000.0, "other": 16000.0, "drums": 6000.0}
WEAK_SIDE_DB = -40.0  # fixed mode: a side this far below the other takes the louder side's phase
_EPS = 1e-20
_BLOCK_FRAMES = 128  # frames per processing block: ~1-2 MiB temporaries stay in cache (measured fastest)


def similarity(left_mag: np.ndarray, right_mag: np.ndarray, release: bool = False) -> np.ndarray:
    """Stereo similarity ``2·L·R / (L² + R²)`` in [0, 1] (magnitudes already floored).

    ``release``: in the release's order ``2·(L·R)``, which differs in float32 where ``L·R`` is subnormal (bins of
    all-zero frames, floored to 1e-20, give exactly 1 instead of 1.0000002).
    """
    if release:
        return 2 * (left_mag * right_mag) / (left_mag ** 2 + right_mag ** 2)
    return 2.0 * left_mag * right_mag / (left_mag ** 2 + right_mag ** 2)


def _magnitudes(spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|X_L + 1e-20|``, ``|X_R + 1e-20|`` of a ``(frames, 2, bins)`` STFT."""
    return np.abs(spectrum[:, 0] + _EPS), np.abs(spectrum[:, 1] + _EPS)


def panning_feature(x: np.ndarray, mode: str = "fixed") -> np.ndarray | None:
    """Per-file panning feature: frame-mean similarity of a 65536/16384 STFT, float32 ``(32769,)``.

    ``mode="release"`` computes it with the release's arithmetic (float64 STFT rounded to complex64, float32 frame
    mean accumulated as NumPy does); ``"fixed"`` with a float32 STFT and a float64 sum (same to float32 rounding
    except in near-silent bins).

    Returns ``None`` for silence or a non-stereo input (excluded from the average).
    """
    if is_silent(x) or x.shape[1] != 2:
        return None
    block = frames_per_block(ANALYSIS_FFT_SIZE)  # small blocks: temporaries stay in cache
    count = n_frames(x.shape[0], ANALYSIS_FFT_SIZE, ANALYSIS_HOP)
    if mode == "release":
        total = np.zeros(ANALYSIS_FFT_SIZE // 2 + 1, dtype=np.float32)
        for _, spectrum in stft_blocks(x, ANALYSIS_FFT_SIZE, ANALYSIS_HOP, block, precision="float64"):
            accumulate_frames(total, similarity(*_magnitudes(spectrum), release=True))
        return total / np.float32(count)
    total = np.zeros(ANALYSIS_FFT_SIZE // 2 + 1, dtype=np.float64)
    for _, spectrum in stft_blocks(x, ANALYSIS_FFT_SIZE, ANALYSIS_HOP, block):
        total += similarity(*_magnitudes(spectrum)).sum(axis=0)
    return (total / count).astype(np.float32)


def reference_to_pan_bins(reference: np.ndarray) -> np.ndarray:
    """32769-bin reference -> 1025 bins of the 2048-point STFT (mean of 32-bin groups, last bin kept)."""
    reference = np.asarray(reference, dtype=np.float32)
    factor = ANALYSIS_FFT_SIZE // PAN_FFT_SIZE
    grouped = reference[:-1].reshape(-1, factor).mean(axis=1)
    return np.concatenate([grouped, reference[-1:]])


def pan_spectrum_sum(spectrum: np.ndarray) -> np.ndarray:
    """Sum over frames of the panning spectrum ``(1 - phi)·sign(R/L - L/R)``, float64 ``(bins,)``."""
    left, right = _magnitudes(spectrum)
    return ((1.0 - similarity(left, right)) * np.sign(right / left - left / right)).sum(axis=0, dtype=np.float64)


def dominant_side(mean_pan_spectrum: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """+1 (right), -1 (left) or NaN (undecided) from the frame-mean panning spectrum (2048-point bins).

    The spectrum is smoothed (Savitzky-Golay 501) and the signs between 50 and 2500 Hz are averaged.
    """
    import scipy.signal  # lazy: ~1.6 s to import, which a process that only reads features need not pay
    smoothed = scipy.signal.savgol_filter(mean_pan_spectrum, PANNING_SMOOTHING_WINDOW, 1, mode="mirror")
    lo, hi = (int(np.floor(f * PAN_FFT_SIZE / sample_rate)) for f in SIDE_BAND_HZ)
    mean_sign = float(np.mean(np.sign(smoothed[lo:hi] + 1e-10)))
    return mean_sign / abs(mean_sign) if mean_sign != 0 else float("nan")


def _side_gains(phi: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
    """The release's similarity -> (gL, gR) map: g = phi/2 on the weak side, 1 - g on the dominant side.

    Written as the release computes it (``p`` = the right gain, left = ``1 - p``), so the float32 rounding is the
    same (``1 - (1 - g)`` is not always ``g``).
    """
    g = np.clip(phi + 1e-30, 0.0, 1.0) / 2.0
    p = (1.0 - g) if side > 0 else g if side < 0 else np.full_like(g, 0.5)
    return 1.0 - p, p


def _release_outputs(spectrum, target, side, limit_index, active, first_frame):
    """The release heuristic on a block of frames starting at ``first_frame`` (frame-axis limit), in its arithmetic:
    float32 gains, output ``|X|·gain·(cos + i·sin)(angle X)``."""
    left, right = _magnitudes(spectrum)
    in_l, in_r = _side_gains(similarity(left, right, release=True), side)
    ref_l, ref_r = _side_gains(target, side)
    gains = np.stack([ref_l / (in_l + _EPS), ref_r / (in_r + _EPS)], axis=1).astype(np.float32)
    gains[~active] = 1.0
    gains[max(0, limit_index - first_frame):] = 1.0  # [BUG reproduced] a frequency limit applied to frames
    phase = np.angle(spectrum)
    return (np.abs(spectrum) * gains) * (np.cos(phase) + np.sin(phase) * 1j)


def _fixed_outputs(spectrum, target, side, limit_index, active, first_frame=0, magnitudes=None):
    """Re-panned STFT: every bin moved exactly to the target similarity, bins >= limit untouched.

    ``magnitudes``: ``_magnitudes(spectrum)`` if already computed."""
    left, right = _magnitudes(spectrum) if magnitudes is None else magnitudes
    target = np.clip(target, 1e-6, 1.0).astype(np.float32)
    ratio = (1.0 - np.sqrt(1.0 - target ** 2)) / target  # weak/strong magnitude ratio with similarity = target
    strong_scale = 1.0 / np.sqrt(1.0 + ratio ** 2)  # strong = sqrt(L² + R²) * strong_scale, weak = ratio * strong
    strong = np.sqrt(left * left + right * right) * strong_scale
    weak = strong * ratio
    left_strong = (left > right) | ((left == right) & (side < 0))
    floor = np.float32(10.0 ** (WEAK_SIDE_DB / 20.0))
    out = np.empty_like(spectrum)
    for channel, own, other, target_mag in ((0, left, right, np.where(left_strong, strong, weak)),
                                            (1, right, left, np.where(left_strong, weak, strong))):
        rescaled = spectrum[:, channel] * (target_mag / own)
        # A side carrying nothing of the source has no meaningful phase: borrow the louder side's.
        borrow = own < floor * other
        if np.any(borrow):
            rescaled = np.where(borrow, spectrum[:, 1 - channel] * (target_mag / other), rescaled)
        out[:, channel] = rescaled
    out[~active] = spectrum[~active]
    out[:, :, limit_index:] = spectrum[:, :, limit_index:]
    return out


def _similarity_sum(spectrum: np.ndarray, active: np.ndarray, limit_bin: int, magnitudes=None) -> tuple[float, int]:
    """Sum of the similarity over the active frames' bins below ``limit_bin`` and their number; ``magnitudes``:
    ``_magnitudes(spectrum)`` if already computed (the same values, without measuring them again)."""
    if magnitudes is None:
        left, right = _magnitudes(spectrum[active, :, :limit_bin])
    else:
        left, right = (m[active, :limit_bin] for m in magnitudes)
    return float(similarity(left, right).sum(dtype=np.float64)), left.size


def match_panning(x: np.ndarray, reference: np.ndarray, stem: str, mode: str = "fixed",
                  sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, dict]:
    """Re-pan a stereo stem towards ``0.9 x`` the dataset-average similarity (spec §1.8).

    Works in blocks of frames (two STFT passes: the dominant side needs the whole file first).

    Args:
        x: padded stereo stem ``(n_samples, 2)``; not modified.
        reference: dataset panning feature ``(32769,)``.
        stem: stem type (drums: 6 kHz limit, others 16 kHz).
        mode: ``"fixed"`` or ``"release"`` (see the module docstring).

    Returns:
        ``(y, report)``: float32 ``(n_samples, 2)``; report with the side, the pre-pan gains, and the mean
        similarity below the limit frequency before and after (active frames).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be 'fixed' or 'release', got {mode!r}")
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"panning needs stereo audio (n_samples, 2), got shape {x.shape}")
    if is_silent(x):
        return x.astype(np.float32, copy=True), {"action": "gated"}
    x = np.asarray(x, dtype=np.float32)
    count = n_frames(x.shape[0] + 2 * PAN_FFT_SIZE, PAN_FFT_SIZE, PAN_HOP)
    precision = "float64" if mode == "release" else "float32"
    # 2048 zeros at both ends (the release's padding), added block by block instead of copying the stem
    blocks = lambda signal: stft_blocks(signal, PAN_FFT_SIZE, PAN_HOP, _BLOCK_FRAMES, pad=PAN_FFT_SIZE,  # noqa: E731
                                        precision=precision)
    pan_sum = sum(pan_spectrum_sum(block) for _, block in blocks(x))
    side = dominant_side(pan_sum / count, sample_rate)
    alpha = PRE_PAN_ALPHA if side > 0 else 1.0 - PRE_PAN_ALPHA
    target = PANNING_GAIN_K * reference_to_pan_bins(reference)
    limit_index = int(np.floor(MAX_PAN_FREQ_HZ[stem] * PAN_FFT_SIZE / sample_rate))
    if mode == "release":  # the release's Panner scales the samples (float32 gains), then takes a new STFT
        source, pre_pan = x * _linear_pan_gains(alpha), None
        remap, adder = _release_outputs, LibrosaOverlapAdd(count, 2, PAN_FFT_SIZE, PAN_HOP)
    else:  # the same gains applied to the spectrum (linear), no copy of the stem
        source, pre_pan = x, np.array([1.0 - alpha, alpha], dtype=np.float32)[None, :, None]
        remap, adder = _fixed_outputs, OverlapAdd(count, 2, PAN_FFT_SIZE, PAN_HOP)
    sums = np.zeros(3)  # similarity before, after, number of bins
    for start, spectrum in blocks(source):
        spectrum = spectrum if pre_pan is None else spectrum * pre_pan
        loudest = np.abs(spectrum[:, 0] + spectrum[:, 1]).max(axis=1)
        active = 20.0 * np.log10(loudest + _EPS) >= FRAME_GATE_DB
        magnitudes = _magnitudes(spectrum) if pre_pan is not None else None  # fixed: measured once per block
        if magnitudes is None:
            out = remap(spectrum, target, side, limit_index, active, start)
        else:
            out = remap(spectrum, target, side, limit_index, active, start, magnitudes)
        before, n_bins = _similarity_sum(spectrum, active, limit_index, magnitudes)
        del magnitudes
        sums += (before, _similarity_sum(out, active, limit_index)[0], n_bins)
        adder.add(start, out)
    y = adder.result()[PAN_FFT_SIZE:PAN_FFT_SIZE + x.shape[0]]
    mean = (lambda total: total / sums[2] if sums[2] else float("nan"))
    report = {"side": "right" if side > 0 else "left" if side < 0 else "undecided",
              "pre_pan_gains": [1.0 - alpha, alpha], "similarity_before": mean(sums[0]),
              "similarity_after": mean(sums[1]), "target_similarity": float(target[:limit_index].mean())}
    return np.ascontiguousarray(y), report


def _linear_pan_gains(pan: float) -> np.ndarray:
    """The release's linear pan law gains ``(L, R)`` for a pan position in [0, 1], as float32 (its Panner)."""
    theta = pan * (np.pi / 2)
    return np.array([((np.pi / 2) - theta) * (2 / np.pi), theta * (2 / np.pi)], dtype=np.float32)
