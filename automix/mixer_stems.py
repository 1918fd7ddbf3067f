"""Stems on their way into :class:`automix.mixer.Mixer`: input checks, 44.1-kHz preparation, the normalization task
and the per-stem report (numpy only: worker processes import this module, never torch).

Preparation of one stem (arrays, a file, or several files summed): float32 stereo (mono duplicated), resampled to
44.1 kHz with soxr (HQ), DC offset removed (the per-channel mean: a constant offset would otherwise be carried
through the effect chain into the mix). Values beyond full scale are kept (the normalization sets the level) and
noted.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from automix import audio
from automix.allocator import release_free_memory
from automix.conventions import SAMPLE_RATE, STEMS
from automix.fxnorm.normalize import EFFECTS, PAD_SAMPLES, normalize_padded_stem, normalize_stem, stem_rng

logger = logging.getLogger(__name__)

DC_NOTE_LEVEL = 1e-3  # a per-channel mean above this (-60 dBFS) is reported; smaller ones are removed silently
SHORT_SONG_SECONDS = 3.0  # below this the loudness and onset statistics rest on very few blocks: say so
_INT_SCALES = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2.0**31, np.dtype(np.int8): 128.0}


@dataclass
class PreparedStem:
    """One stem at 44.1 kHz.

    Attributes:
        audio: float32 ``(n_samples, 2)`` at 44.1 kHz, DC removed.
        seconds: duration of the input in seconds (the longest of its tracks).
        sources: per input track ``{"source", "sample_rate", "samples", "channels", "subtype"}``.
        notes: what was changed, in words.
    """

    audio: np.ndarray
    seconds: float
    sources: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _float_stereo(x, name: str) -> np.ndarray:
    """float32 ``(n, 2)`` from an array ``(n,)``/``(n, 1|2)``; integer PCM scaled like :mod:`automix.audio`."""
    x = np.asarray(x)
    if x.dtype in _INT_SCALES:
        x = x.astype(np.float32) / np.float32(_INT_SCALES[x.dtype])
    elif not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name}: audio must be a float (or int16/int32 PCM) array, got dtype {x.dtype}")
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        raise ValueError(f"{name}: audio must be (n_samples,) or (n_samples, 1 or 2 channels), got shape "
                         f"{x.shape} (more than 2 channels: downmix or split it into stereo stems first)")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: contains zero samples")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or Inf samples; the audio is corrupt or was computed from invalid "
                         "data")
    return np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x


def _read_track(value, sample_rate, stem: str) -> tuple[np.ndarray, int, dict]:
    """``(float32 (n, 2) at the track's rate, rate, source info)`` of an array or a file path."""
    if isinstance(value, (str, Path)):
        path = Path(value)
        rate, _, channels = audio.info(path)  # missing / unreadable file
        import soundfile

        subtype = soundfile.info(str(path)).subtype
        x = audio.read(path, sample_rate=None, channels=channels)  # truncated, empty, > 2 channels, NaN/Inf
        info = {"source": str(path), "sample_rate": rate, "samples": x.shape[0], "channels": channels,
                "subtype": subtype}
        return np.repeat(x, 2, axis=1) if channels == 1 else x, rate, info
    rate = sample_rate.get(stem) if isinstance(sample_rate, dict) else sample_rate
    if rate is None:
        raise ValueError(f"{stem}: an array needs its sample_rate (an int, or a dict per stem)")
    x = np.asarray(value)
    channels = 1 if x.ndim == 1 else x.shape[1] if x.ndim == 2 else None
    x = _float_stereo(x, f"{stem} (array)")
    return x, int(rate), {"source": "array", "sample_rate": int(rate), "samples": x.shape[0], "channels": channels,
                          "subtype": None}


def _to_44k(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return x
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    import soxr

    return soxr.resample(x, rate, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)


def prepare_stem(value, sample_rate, stem: str) -> PreparedStem:
    """Read (or take) one stem's tracks, bring them to 44.1 kHz stereo, sum them and remove the DC offset.

    Args:
        value: an array ``(n,)``/``(n, 1|2)``, a file path, or a list of those (tracks summed).
        sample_rate: Hz of array input (an int, or ``{stem: Hz}``); files carry their own rate.
        stem: the stem's name (messages, report).

    Raises:
        automix.audio.AudioError / ValueError: naming the file (or stem) and the fix.
    """
    tracks = list(value) if isinstance(value, (list, tuple)) else [value]
    if not tracks:
        raise ValueError(f"{stem}: an empty list of tracks")
    total, sources, notes, seconds = None, [], [], 0.0
    for track in tracks:
        x, rate, info = _read_track(track, sample_rate, stem)
        sources.append(info)
        seconds = max(seconds, x.shape[0] / rate)
        peak = float(np.maximum(np.max(x), -np.min(x)))  # max |x| without a |x| temporary
        if peak > 1.0:
            notes.append(f"{Path(info['source']).name}: float values beyond full scale (peak {peak:.2f}) kept; "
                         "the normalization sets the level")
            if info["source"] == "array":
                logger.warning("%s: float samples reach %.3f (beyond ±1); kept as they are", stem, peak)
        if rate != SAMPLE_RATE:
            notes.append(f"{Path(info['source']).name}: resampled {rate} Hz -> {SAMPLE_RATE} Hz (soxr HQ)")
        owned = isinstance(track, (str, Path)) or rate != SAMPLE_RATE  # else x may be the caller's array
        x = _to_44k(x, rate)
        if total is None:
            total = x if owned else x.copy()  # modified in place below
        else:
            if x.shape[0] > total.shape[0]:
                total = np.pad(total, ((0, x.shape[0] - total.shape[0]), (0, 0)))
            total[:x.shape[0]] += x
    if len(tracks) > 1:
        notes.append(f"{len(tracks)} tracks summed")
    _remove_dc(total, notes)
    return PreparedStem(audio=total, seconds=seconds, sources=sources, notes=notes)


def _remove_dc(x: np.ndarray, notes: list) -> None:
    """Subtract each channel's mean in place (a constant offset is not music and would reach the mix)."""
    # float32 sums of 65536-sample blocks, added in float64: ~30x faster than a strided float64 mean, as exact
    mean = np.add.reduceat(x, np.arange(0, x.shape[0], 1 << 16), axis=0).sum(axis=0, dtype=np.float64) / x.shape[0]
    if np.any(mean):
        for c, m in enumerate(mean.astype(np.float32)):  # per column: (n, 2) -= (2,) runs a 2-element inner loop
            x[:, c] -= m
    if np.max(np.abs(mean)) > DC_NOTE_LEVEL:
        notes.append("DC offset removed (" + ", ".join(f"{c} {m:+.4f}" for c, m in zip("LR", mean)) + ")")


def warm_up_prefix(x: np.ndarray, n_samples: int) -> np.ndarray:
    """The release's warm-up: the stem's own last ``n_samples`` prepended (wrapping around when it is shorter)."""
    return np.pad(x, ((n_samples, 0), (0, 0)), mode="wrap")


def stem_features(features: dict, stem: str) -> dict:
    """Only this stem's feature arrays (small to send to a worker)."""
    return {effect: {stem: values[stem]} for effect, values in features.items()}


def read_padded(path: str, n_pad: int = PAD_SAMPLES) -> np.ndarray:
    """A float32 ``(n, 2)`` ``.npy`` read into the middle of a zero-padded ``(n_pad + n + n_pad, 2)`` array.

    One stem-sized array: no separate copy for the padding, and no memory map whose pages would count in the
    process's memory while the chain runs.
    """
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype != np.float32 or fortran or len(shape) != 2:
            raise ValueError(f"{path}: expected a C-ordered float32 (n, channels) array, got {dtype} {shape}")
        padded = np.zeros((shape[0] + 2 * n_pad, shape[1]), dtype=np.float32)
        view = memoryview(padded[n_pad:n_pad + shape[0]]).cast("B")
        if f.readinto(view) != view.nbytes:
            raise ValueError(f"{path}: truncated array file")
    return padded


def normalize_task(source, stem: str, features: dict, mode: str, seed: int, song: str, irs, pre_irs,
                   out_path: str | None = None) -> tuple:
    """Worker: normalize one prepared stem (``source``: the array, or a ``.npy`` path) in memory.

    Returns:
        ``(y or out_path, report, input LUFS, seconds)``; with ``out_path`` the result is saved there as ``.npy``
        (cheaper than pickling a long stem back through the pool's pipe).
    """
    from automix.fxnorm.loudness import integrated_loudness

    start = time.perf_counter()
    holder = [read_padded(source)] if isinstance(source, str) else None

    def normalize(effects):  # the same draws for a retry
        rng = stem_rng(seed, song, stem)
        if holder is None:
            return normalize_stem(source, stem, features, effects, mode, rng, irs, pre_irs)
        # a worker's file, read padded: the chain frees it after the first effect (memory of long songs)
        return normalize_padded_stem(holder, stem, features, effects, mode, rng, irs, pre_irs)

    x = source if holder is None else holder[0][PAD_SAMPLES:-PAD_SAMPLES]
    lufs_in = integrated_loudness(x) if np.any(x) else -math.inf
    del x
    try:
        y, report = normalize(EFFECTS)
    except ValueError as err:
        if mode != "release" or "onset" not in str(err):
            raise
        # [release behaviour] the release crashes on a channel without onsets; a mix is still wanted: no compression
        if holder is not None:
            holder[:] = [read_padded(source)]
        y, report = normalize([e for e in EFFECTS if e != "compression"])
        report["compression"] = {"action": "skipped", "reason": "no onsets detected (the release crashes here)"}
    if out_path is not None:
        np.save(out_path, y, allow_pickle=False)
        y = out_path
        release_free_memory()  # a worker: do not hold this stem's peak while idle or on the next, shorter task
    return y, report, float(lufs_in), time.perf_counter() - start


def _compression_summary(report: dict):
    if "channels" not in report:
        return report.get("action")
    entries = [{"action": c.get("action"), "ratio": c.get("ratio"), "threshold_db": c.get("threshold_db")}
               for c in report["channels"]]
    return entries[0] if report.get("linked") or len(entries) == 1 else entries


def summarize(report: dict, lufs_in: float) -> dict:
    """What the normalization changed in one stem: EQ range, compression, pan change, gain, reverb."""
    summary = {"status": report.get("status")}
    if summary["status"] != "normalized":
        return summary
    eq = report.get("eq", {})
    ranges = [c for c in eq.get("channels", [eq]) if "gain_min_db" in c]
    if ranges:
        summary["eq_range_db"] = [min(c["gain_min_db"] for c in ranges), max(c["gain_max_db"] for c in ranges)]
    summary["compression"] = _compression_summary(report.get("compression", {}))
    pan = report.get("panning", {})
    if "similarity_before" in pan:
        summary["pan"] = {"side": pan["side"], "similarity_before": pan["similarity_before"],
                          "similarity_after": pan["similarity_after"], "target": pan["target_similarity"]}
    loudness = report.get("loudness", {})
    if "lufs_after" in loudness:
        summary["lufs_in"] = lufs_in if math.isfinite(lufs_in) else None
        summary["lufs_out"] = float(loudness["lufs_after"])
        if math.isfinite(lufs_in) and math.isfinite(summary["lufs_out"]):
            summary["gain_db"] = summary["lufs_out"] - lufs_in
    for key in ("reverb", "pre_reverb"):
        if isinstance(report.get(key), dict) and "action" not in report[key]:
            summary[key] = report[key]
    return summary


def _describe_compression(value) -> str:
    if isinstance(value, list):
        parts = [_describe_compression(v) for v in value]
        return parts[0] if len(set(parts)) == 1 else "; ".join(f"{c} {p}" for c, p in zip("LR", parts))
    if not isinstance(value, dict):
        return str(value)
    if value["action"] in ("compressed", "exhausted"):
        return f"{value['action']} {value['ratio']:g}:1 at {value['threshold_db']:g} dB"
    return value["action"].replace("_", " ")


def describe(stem: str, entry: dict) -> str:
    """One line for a stem's entry of the report, e.g. ``vocals  normalized: EQ -3.1..+4.2 dB, ...``."""
    parts = []
    if "eq_range_db" in entry:
        parts.append("EQ {:+.1f}..{:+.1f} dB".format(*entry["eq_range_db"]))
    if entry.get("compression") is not None:
        parts.append("compression " + _describe_compression(entry["compression"]))
    if "pan" in entry:
        pan = entry["pan"]
        parts.append(f"stereo similarity {pan['similarity_before']:.2f} -> {pan['similarity_after']:.2f}")
    if "gain_db" in entry:
        parts.append(f"gain {entry['gain_db']:+.1f} dB")
    if "reverb" in entry:
        parts.append(f"reverb send {entry['reverb'].get('ir')}")
    if "pre_reverb" in entry:
        pre = entry["pre_reverb"]
        parts.append("pre-reverb " + (f"IR {pre['ir']}" if "ir" in pre else "shelves only (release)"))
    text = f"{stem:<7} {entry['status']}" + (": " + ", ".join(parts) if parts else "")
    return text + "".join(f"\n          note: {note}" for note in entry.get("notes", ()))
