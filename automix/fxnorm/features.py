"""Dataset-average effect features: averaging, smoothing, the safe file format and the legacy import (spec §1.9-1.10).

In memory the features are a dict ``{effect: {stem: array}}`` with the release's layout:
``eq`` float32 (32769,), ``compression`` float64 (2,) ``[mean_db, std_db]``, ``panning`` float32 (32769,),
``loudness`` float64 (1,) LUFS.

On disk: an ``.npz`` (no pickles) with one array per ``<effect>/<stem>`` key plus ``__metadata__``, a JSON string
(sample rate, FFT size, mode, files averaged per effect and stem, exclusions, package version). The release's pickled
``features_MUSDB18.npy`` is read only by :func:`import_legacy_features`, explicitly, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from automix.fxnorm.eq import EQ_SMOOTHING_WINDOWS, smooth_spectrum
from automix.fxnorm.panning import PANNING_SMOOTHING_WINDOW
from automix.fxnorm.stft import ANALYSIS_FFT_SIZE

logger = logging.getLogger(__name__)

FEATURE_EFFECTS = ("eq", "compression", "panning", "loudness")
FEATURE_STEMS = ("vocals", "bass", "drums", "other")
FEATURE_SHAPES = {"eq": (ANALYSIS_FFT_SIZE // 2 + 1,), "compression": (2,), "panning": (ANALYSIS_FFT_SIZE // 2 + 1,),
                  "loudness": (1,)}
FEATURE_DTYPES = {"eq": np.float32, "compression": np.float64, "panning": np.float32, "loudness": np.float64}
FORMAT_VERSION = 1
_METADATA_KEY = "__metadata__"


def _package_version() -> str:
    import automix

    return getattr(automix, "__version__", "unknown")


def smooth_feature(effect: str, stem: str, values: np.ndarray) -> np.ndarray:
    """Savitzky-Golay smoothing of an EQ or panning curve (other effects are returned as they are)."""
    if effect == "eq":
        return smooth_spectrum(values, EQ_SMOOTHING_WINDOWS[stem])
    if effect == "panning":
        return smooth_spectrum(values, PANNING_SMOOTHING_WINDOW)
    return values


def average_feature(effect: str, stem: str, per_file: list) -> np.ndarray:
    """Dataset feature of one effect and stem: arithmetic mean of the per-file features, then smoothing.

    Raises:
        ValueError: if no file gave a feature (all silent / without onsets).
    """
    if not per_file:
        raise ValueError(f"no usable '{stem}' file for the {effect} feature (all silent, all-zero or without "
                         "onsets); the dataset needs at least one non-silent stem of each type")
    mean = np.mean(np.stack(per_file), axis=0).astype(FEATURE_DTYPES[effect])
    return smooth_feature(effect, stem, mean).astype(FEATURE_DTYPES[effect])


def validate_features(features: dict, source="features") -> None:
    """Check that every effect/stem array is present with the expected shape and finite values.

    Raises:
        ValueError: naming the source and the first bad entry.
    """
    for effect in FEATURE_EFFECTS:
        for stem in FEATURE_STEMS:
            try:
                value = np.asarray(features[effect][stem])
            except (KeyError, TypeError):
                raise ValueError(f"{source}: missing feature {effect}/{stem}") from None
            if value.shape != FEATURE_SHAPES[effect] or not np.all(np.isfinite(value)):
                raise ValueError(f"{source}: feature {effect}/{stem} must be finite with shape "
                                 f"{FEATURE_SHAPES[effect]}, got shape {value.shape}")


def save_features(path, features: dict, metadata: dict | None = None) -> None:
    """Write features to an ``.npz`` file atomically (temp file + rename); arrays are stored as they are."""
    validate_features(features)
    path = Path(path)
    meta = {"format_version": FORMAT_VERSION, "sample_rate": 44100, "fft_size": ANALYSIS_FFT_SIZE,
            "package_version": _package_version(), **(metadata or {})}
    arrays = {f"{effect}/{stem}": np.asarray(features[effect][stem])
              for effect in FEATURE_EFFECTS for stem in FEATURE_STEMS}
    arrays[_METADATA_KEY] = np.array(json.dumps(meta, default=str))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_features(path, mode: str = "fixed") -> tuple[dict, dict]:
    """Read a features ``.npz`` (``allow_pickle=False``).

    Args:
        path: file written by :func:`save_features` or :func:`import_legacy_features`.
        mode: ``"release"`` smooths EQ and panning a second time, as the release does at every load;
            ``"fixed"`` uses them as stored.

    Returns:
        ``(features, metadata)``.

    Raises:
        FileNotFoundError, ValueError: missing file, pickled/legacy file (with the import command to use), or
            incomplete content.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: features file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except ValueError as err:
        raise ValueError(f"{path}: not a safe features file ({err}). A pickled release file "
                         "(features_MUSDB18.npy) must be converted once with "
                         f"'automix features import {path} NEW.npz'") from None
    if _METADATA_KEY not in arrays:
        raise ValueError(f"{path}: no metadata; not a features file written by automix")
    metadata = json.loads(str(arrays[_METADATA_KEY]))
    features = {effect: {stem: arrays.get(f"{effect}/{stem}") for stem in FEATURE_STEMS}
                for effect in FEATURE_EFFECTS}
    validate_features(features, source=str(path))
    if mode == "release":  # [release behaviour] stored curves are smoothed again at load
        for effect in ("eq", "panning"):
            for stem in FEATURE_STEMS:
                features[effect][stem] = smooth_feature(effect, stem, features[effect][stem])
    elif mode != "fixed":
        raise ValueError(f"mode must be 'fixed' or 'release', got {mode!r}")
    return features, metadata


def import_legacy_features(old_path, new_path) -> dict:
    """Convert the release's pickled ``features_MUSDB18.npy`` to the safe ``.npz`` format, values bit-exact.

    This **executes the pickle** inside the file (``allow_pickle=True``): only run it on a file you trust.

    Returns:
        the imported features dict.
    """
    old_path = Path(old_path)
    message = (f"{old_path}: reading a legacy pickled features file executes code stored in it; only do this with "
               "a file you trust (e.g. the official features_MUSDB18.npy)")
    warnings.warn(message, stacklevel=2)
    logger.warning(message)
    loaded = np.load(old_path, allow_pickle=True)
    content = loaded[()] if isinstance(loaded, np.ndarray) and loaded.dtype == object else None
    if not isinstance(content, dict):
        raise ValueError(f"{old_path}: expected a pickled dict {{effect: {{stem: array}}}} (release layout)")
    features = {effect: {stem: np.asarray(content[effect][stem]) for stem in FEATURE_STEMS}
                for effect in FEATURE_EFFECTS if effect in content}
    validate_features(features, source=str(old_path))
    save_features(new_path, features, {"mode": "release", "source": f"imported from {old_path.name}",
                                       "n_files": None, "smoothed_at_save": True})
    return features
