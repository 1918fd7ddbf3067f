"""Audio file reading and writing with clear errors and atomic writes.

Layout: numpy arrays of shape ``(n_samples, n_channels)``, float32.

Integer PCM is scaled as the original FxNorm-Automix release does it: a sample is divided by
``1 + iinfo(dtype).max`` of the container type, i.e. by 32768 for 16-bit files and by 2**31 for 24-bit and 32-bit
files (24-bit samples are read left-aligned in int32), and 8-bit files by 128. Writing multiplies by the same factor
and clips to the integer range. Float files are read as stored.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from automix.atomic import atomic_path
from automix.conventions import SAMPLE_RATE  # the only rate the networks and the features are defined for

logger = logging.getLogger(__name__)

# soundfile subtype -> (numpy dtype read from the file, scale that maps it to [-1, 1)).
_INT_READ = {
    "PCM_S8": ("int16", 32768.0),  # libsndfile promotes 8-bit to int16 left-aligned
    "PCM_U8": ("int16", 32768.0),
    "PCM_16": ("int16", 32768.0),
    "PCM_24": ("int32", 2.0**31),
    "PCM_32": ("int32", 2.0**31),
}
_WRITE_SCALE = {"PCM_16": (32768.0, np.int16), "PCM_24": (2.0**31, np.int32), "PCM_32": (2.0**31, np.int32)}


_TRUNCATED = re.compile(r"^data\s*:\s*\d+\s*\(should be", re.MULTILINE)


class AudioError(ValueError):
    """An audio file cannot be used; the message names the file, the reason and the fix."""


def _fail(path, reason: str) -> AudioError:
    return AudioError(f"{path}: {reason}")


def read(path, sample_rate: int | None = SAMPLE_RATE, channels: int = 2) -> np.ndarray:
    """Read an audio file as float32 ``(n_samples, channels)``.

    Args:
        path: any file soundfile reads (WAV int 8/16/24/32-bit or float, FLAC, ...).
        sample_rate: rate to return, in Hz. Files at another rate are resampled with soxr (high quality) and this is
            logged. ``None`` keeps the file's rate.
        channels: 1 or 2. Mono files are duplicated to stereo when ``channels == 2``; stereo files are averaged when
            ``channels == 1``. Files with more than 2 channels are rejected.

    Returns:
        float32 array ``(n_samples, channels)``. Float files may exceed ±1 (kept, with a warning).

    Raises:
        AudioError: missing, unreadable, truncated or non-audio file, zero samples, more than 2 channels,
            NaN/Inf samples.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "file not found (check the path)")
    try:
        info = sf.info(str(path))
        dtype, scale = _INT_READ.get(info.subtype, ("float32", 1.0))
        data, file_rate = sf.read(str(path), dtype=dtype, always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise _fail(path, f"not a readable audio file, or corrupt/truncated ({err}); re-export it as WAV or FLAC"
                    ) from None
    if _TRUNCATED.search(info.extra_info or ""):
        # libsndfile silently shortens a WAV whose data chunk is cut; its header check says "(should be N)"
        raise _fail(path, "truncated: the file is shorter than its header says (interrupted copy or write?); "
                          "re-export or re-copy it")
    if data.shape[0] == 0:
        raise _fail(path, "contains zero samples")
    if data.shape[1] > 2:
        raise _fail(path, f"has {data.shape[1]} channels; only mono or stereo is supported "
                          "(downmix or split it into stereo stems first)")
    if scale != 1.0:  # integer PCM: always finite and within ±1
        # one pass, float32 arithmetic: the same values as astype(float32) / scale (a power of two: exact)
        audio = np.multiply(data, np.float32(1.0 / scale), dtype=np.float32)
    else:
        audio = data.astype(np.float32, copy=False)
        peak = float(np.maximum(np.max(audio), -np.min(audio)))  # NaN propagates; no |x| temporary
        if not np.isfinite(peak):
            raise _fail(path, "contains NaN or Inf samples; the file is corrupt or was written from invalid data")
        if peak > 1.0:
            logger.warning("%s: float samples reach %.3f (beyond ±1); kept as they are", path, peak)
    if sample_rate is not None and file_rate != sample_rate:
        import soxr

        logger.info("%s: resampling %d Hz -> %d Hz (soxr HQ)", path, file_rate, sample_rate)
        audio = soxr.resample(audio, file_rate, sample_rate, quality="HQ").astype(np.float32)
    return _to_channels(audio, channels, path)


def _to_channels(audio: np.ndarray, channels: int, path) -> np.ndarray:
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    if audio.shape[1] == channels:
        return audio
    if channels == 2:
        return np.repeat(audio, 2, axis=1)
    return audio.mean(axis=1, keepdims=True)


def info(path) -> tuple[int, int, int]:
    """Return ``(sample_rate, n_samples, n_channels)`` of a file without reading its samples.

    Raises:
        AudioError: if the file is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "file not found (check the path)")
    try:
        meta = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _fail(path, f"not a readable audio file ({err}); re-export it as WAV or FLAC") from None
    return meta.samplerate, meta.frames, meta.channels


def write(path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, subtype: str = "PCM_16") -> None:
    """Write ``(n_samples, n_channels)`` audio atomically.

    The file is written to a temporary file in the same folder and renamed over ``path``, so an interrupted run
    never leaves a half-written file. Samples beyond full scale are clipped, with a warning.

    Args:
        path: output path; the format follows the extension (``.wav``, ``.flac``).
        audio: float array ``(n_samples,)`` or ``(n_samples, n_channels)``, nominally in [-1, 1].
        sample_rate: in Hz.
        subtype: ``PCM_16``, ``PCM_24``, ``PCM_32`` (scaled like the release: ×32768 or ×2**31, then clipped to the
            integer range) or ``FLOAT``.
    """
    path = Path(path)
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or audio.shape[1] > 2:
        raise ValueError(f"{path}: audio must be (n_samples, 1 or 2 channels), got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{path}: refusing to write NaN/Inf samples")
    data = _quantize(audio, subtype, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, sample_rate, subtype=subtype)


def _quantize(audio: np.ndarray, subtype: str, path) -> np.ndarray:
    if subtype == "FLOAT":
        return audio.astype(np.float32)
    if subtype not in _WRITE_SCALE:
        raise ValueError(f"{path}: unsupported subtype {subtype!r}; use PCM_16, PCM_24, PCM_32 or FLOAT")
    scale, dtype = _WRITE_SCALE[subtype]
    scaled = audio.astype(np.float64) * scale
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    n_clipped = int(np.count_nonzero((scaled < lo) | (scaled > hi)))
    if n_clipped:
        logger.warning("%s: %d samples beyond full scale were clipped", path, n_clipped)
    return np.clip(scaled, lo, hi).astype(dtype)
