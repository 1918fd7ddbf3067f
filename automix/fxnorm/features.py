"""Dataset-average effect features: averaging, smoothing, the safe file format and the legacy import (spec §1.9-1.10).

In memory the features are a dict ``{effect: {stem: array}}`` with the release's layout:
``eq`` float32 (32769,), ``compression`` float64 (2,) ``[mean_db, std_db]``, ``panning`` float32 (32769,),
``loudness`` float64 (1,) LUFS.

On disk: an ``.npz`` (no pickles) with one array per ``<effect>/<stem>`` key plus ``__metadata__``, a JSON string
(format version, sample rate, FFT size, mode, songs, files averaged per effect and stem, exclusions, package
version). :func:`load_features` checks that provenance against what the caller asks (mode, sample rate, FFT size,
format version) and refuses a mismatch unless told to accept it. The release's pickled ``features_MUSDB18.npy`` is
read only by :func:`import_legacy_features`, explicitly, with a warning; the result is marked ``mode: release``.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np

from automix.atomic import atomic_path
from automix.conventions import MODES, SAMPLE_RATE
from automix.conventions import STEMS as FEATURE_STEMS
from automix.fxnorm.eq import EQ_SMOOTHING_WINDOWS, smooth_spectrum
from automix.fxnorm.panning import PANNING_SMOOTHING_WINDOW
from automix.fxnorm.stft import ANALYSIS_FFT_SIZE

logger = logging.getLogger(__name__)

FEATURE_EFFECTS = ("eq", "compression", "panning", "loudness")
FEATURE_SHAPES = {"eq": (ANALYSIS_FFT_SIZE // 2 + 1,), "compression": (2,), "panning": (ANALYSIS_FFT_SIZE // 2 + 1,),
                  "loudness": (1,)}
FEATURE_DTYPES = {"eq": np.float32, "compression": np.float64, "panning": np.float32, "loudness": np.float64}
FORMAT_VERSION = 1
_METADATA_KEY = "__metadata__"


class FeaturesMismatchError(ValueError):
    """A features file was made for another mode, sample rate, FFT size or format version than the caller asks."""


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


def save_features(path, features: dict, metadata: dict) -> None:
    """Write features to an ``.npz`` file atomically (temp file + rename); arrays are stored as they are.

    Args:
        metadata: provenance, stored as JSON; must hold ``mode`` (``"fixed"`` or ``"release"``), which
            :func:`load_features` checks. Format version, sample rate, FFT size and package version are added.
    """
    validate_features(features)
    if (metadata or {}).get("mode") not in MODES:
        raise ValueError(f"features metadata must name the mode they were made in ('fixed' or 'release'), got "
                         f"{(metadata or {}).get('mode')!r}")
    path = Path(path)
    meta = {"format_version": FORMAT_VERSION, "sample_rate": SAMPLE_RATE, "fft_size": ANALYSIS_FFT_SIZE,
            "package_version": _package_version(), **metadata}
    arrays = {f"{effect}/{stem}": np.asarray(features[effect][stem])
              for effect in FEATURE_EFFECTS for stem in FEATURE_STEMS}
    arrays[_METADATA_KEY] = np.array(json.dumps(meta, default=str))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:  # np.savez appends .npz to any other name
        np.savez(tmp, **arrays)


def read_features_file(path) -> tuple[dict, dict]:
    """Read a features ``.npz`` as stored (``allow_pickle=False``): no provenance check, no smoothing (inspection).

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
    return features, metadata


def features_mismatches(metadata: dict, mode: str, sample_rate: int = SAMPLE_RATE,
                        fft_size: int = ANALYSIS_FFT_SIZE) -> list[str]:
    """What differs between a features file's metadata and what a run asks, e.g.
    ``["mode 'fixed' in the file, 'release' asked"]`` (empty: the file fits)."""
    asked = {"mode": mode, "sample_rate": sample_rate, "fft_size": fft_size, "format_version": FORMAT_VERSION}
    return [f"{key} {metadata.get(key, 'missing')!r} in the file, {value!r} asked"
            for key, value in asked.items() if metadata.get(key) != value]


def load_features(path, mode: str = "fixed", *, sample_rate: int = SAMPLE_RATE, fft_size: int = ANALYSIS_FFT_SIZE,
                  allow_mismatch: bool = False) -> tuple[dict, dict]:
    """Read a features ``.npz`` (``allow_pickle=False``) for a run in ``mode``, checking its provenance.

    Args:
        path: file written by :func:`save_features` or :func:`import_legacy_features`.
        mode: ``"release"`` smooths EQ and panning a second time, as the release does at every load;
            ``"fixed"`` uses them as stored. The file must have been made in the same mode (the official imported
            features are ``release``).
        sample_rate, fft_size: what the run uses (Hz, analysis FFT points); the file's must match.
        allow_mismatch: expert override: accept a file whose mode, sample rate, FFT size or format version differ
            (logged as a warning) instead of raising.

    Returns:
        ``(features, metadata)``.

    Raises:
        FileNotFoundError, ValueError: missing file, pickled/legacy file (with the import command to use), or
            incomplete content.
        FeaturesMismatchError (a ValueError): the metadata differ from what is asked; the message names the file,
            both values and the override.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be 'fixed' or 'release', got {mode!r}")
    features, metadata = read_features_file(path)
    mismatches = features_mismatches(metadata, mode, sample_rate, fft_size)
    if mismatches:
        message = f"{path}: features file does not fit this run: {'; '.join(mismatches)}"
        if not allow_mismatch:
            raise FeaturesMismatchError(f"{message}. Use features made for this run (or recompute them), or accept "
                                        "this file with --allow-features-mismatch (Python: allow_mismatch=True)")
        logger.warning("%s; used anyway (allow_mismatch)", message)
    if mode == "release":  # [release behaviour] stored curves are smoothed again at load
        for effect in ("eq", "panning"):
            for stem in FEATURE_STEMS:
                features[effect][stem] = smooth_feature(effect, stem, features[effect][stem])
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
    # The official features were computed and are used by the release: marked so that loading them for a fixed-mode
    # run needs the explicit override.
    save_features(new_path, features, {"mode": "release", "imported": True,
                                       "source": f"imported from {old_path.name}", "n_files": None,
                                       "smoothed_at_save": True})
    return features
