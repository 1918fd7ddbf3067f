"""Song discovery in MUSDB18-style split folders.

A split folder (e.g. ``MUSDB18/train``) holds one folder per song with the stems ``vocals``, ``bass``, ``drums``,
``other`` and optionally ``mixture`` (``.wav`` or ``.flac``). After effect normalization a song folder also holds
``<stem>_<suffix>.wav`` (e.g. ``vocals_normalized.wav``).

Discovery never drops a song silently: every skipped song is logged with its reason and returned in
:func:`scan_songs`'s report.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from automix import audio
from automix.conventions import STEMS  # network input order: vocals L/R, bass L/R, drums L/R, other L/R

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac")


@dataclass(frozen=True)
class Song:
    """One song folder.

    Attributes:
        name: folder name.
        path: folder path.
        stems: stem type -> file path, for every type in :data:`STEMS`.
        mixture: path of ``mixture.wav``/``.flac`` or None.
    """

    name: str
    path: Path
    stems: dict = field(hash=False)
    mixture: Path | None = None


@dataclass
class ScanReport:
    """Result of scanning a split folder: the usable songs and the skipped ones with their reasons."""

    songs: list
    skipped: list  # (song folder, reason)


def _find_file(folder: Path, base: str) -> Path | None:
    for ext in AUDIO_EXTENSIONS:
        candidate = folder / f"{base}{ext}"
        if candidate.is_file():
            return candidate
    return None


def _check_song(folder: Path, suffix: str | None, require_mixture: bool, sample_rate: int | None) -> Song:
    """Build a :class:`Song` or raise ``ValueError`` with the reason it cannot be used."""
    stems = {}
    for stem in STEMS:
        base = f"{stem}_{suffix}" if suffix else stem
        found = _find_file(folder, base)
        if found is None:
            raise ValueError(f"missing stem '{base}' (.wav or .flac)")
        stems[stem] = found
    mixture = _find_file(folder, "mixture")
    if require_mixture and mixture is None:
        raise ValueError("missing 'mixture' (.wav or .flac)")
    files = list(stems.values()) + ([mixture] if mixture is not None else [])
    rates = {}
    for path in files:
        rate, n_samples, n_channels = audio.info(path)  # raises AudioError naming the file
        if n_samples == 0:
            raise ValueError(f"{path.name} contains zero samples")
        if n_channels > 2:
            raise ValueError(f"{path.name} has {n_channels} channels (only mono or stereo)")
        rates[path.name] = rate
    if len(set(rates.values())) > 1:
        raise ValueError(f"mismatched sample rates {rates}; resample all stems to one rate")
    if sample_rate is not None and set(rates.values()) != {sample_rate}:
        raise ValueError(f"sample rate {next(iter(rates.values()))} Hz, expected {sample_rate} Hz")
    return Song(name=folder.name, path=folder, stems=stems, mixture=mixture)


def scan_songs(split_dir, suffix: str | None = None, require_mixture: bool = False,
               sample_rate: int | None = None) -> ScanReport:
    """Scan a split folder for usable songs.

    Args:
        split_dir: folder with one sub-folder per song.
        suffix: if given, the stems are ``<stem>_<suffix>`` (normalized stems) instead of ``<stem>``.
        require_mixture: skip songs without a ``mixture`` file.
        sample_rate: if given (Hz), skip songs whose files have another rate.

    Returns:
        :class:`ScanReport` with songs sorted by name and skipped ``(folder, reason)`` pairs.

    Raises:
        FileNotFoundError: if ``split_dir`` is not a folder.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: dataset folder not found (expected one sub-folder per song)")
    songs, skipped = [], []
    for folder in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            songs.append(_check_song(folder, suffix, require_mixture, sample_rate))
        except ValueError as err:  # AudioError is a ValueError
            reason = str(err).replace(f"{folder}/", "")
            logger.warning("skipping song %s: %s", folder, reason)
            skipped.append((folder, reason))
    return ScanReport(songs=songs, skipped=skipped)


def discover_songs(split_dir, suffix: str | None = None, require_mixture: bool = False) -> list:
    """Return the usable songs of a split folder, sorted by name; skipped songs are logged with their reason."""
    return scan_songs(split_dir, suffix=suffix, require_mixture=require_mixture).songs


def load_stems(song: Song, sample_rate: int = audio.SAMPLE_RATE, with_mixture: bool = False) -> dict:
    """Read the stems (and optionally the mixture) of a song as equal-length stereo float32 arrays.

    Stems shorter than the longest one are padded with silence at the end, with a warning.

    Returns:
        dict name -> ``(n_samples, 2)`` float32, in :data:`STEMS` order (then ``mixture``).
    """
    files = dict(song.stems)
    if with_mixture:
        if song.mixture is None:
            raise audio.AudioError(f"{song.path}: no mixture file; add mixture.wav or load without it")
        files["mixture"] = song.mixture
    arrays = {name: audio.read(path, sample_rate=sample_rate) for name, path in files.items()}
    n_samples = max(a.shape[0] for a in arrays.values())
    for name, array in arrays.items():
        if array.shape[0] < n_samples:
            logger.warning("%s: %s is %d samples shorter than the longest stem; padded with silence at the end",
                           song.path, name, n_samples - array.shape[0])
            arrays[name] = np.pad(array, ((0, n_samples - array.shape[0]), (0, 0)))
    return arrays
