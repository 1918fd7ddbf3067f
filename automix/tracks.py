"""Group any number of multitrack files into the four stems by their names (``automix mix --tracks``).

A file name is split into words at separators (``_``, ``-``, space, ``.``), at lower/upper-case changes and
at digits (``LeadVox_02`` -> ``lead``, ``vox``, ``02``), and every word is compared whole (a trailing plural ``s``
ignored) with the keyword lists below, so ``Bassoon.wav`` is *other*, not bass, and ``BassDrum.wav`` is drums.
Precedence: drums, then vocals, then bass; ``lead`` and voice ranges (``alto``, ``tenor``, ...) count as vocals
only when no instrument word is present (``Lead Guitar``, ``Alto Sax`` are other); everything else is *other*.
``NAME=STEM`` overrides (``--map``) match the file name, its name without extension, or a glob pattern
(``"Gtr*"``), case-insensitively.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from automix.conventions import STEMS

AUDIO_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".ogg")

DRUM_WORDS = frozenset(
    "drum drumkit kit kick kik bd bassdrum kickin kickout snare snr sd hat hihat hh tom floortom rack overhead oh "
    "cymbal crash ride china splash perc percussion clap shaker tambourine tamb conga bongo cowbell timbale "
    "cajon".split())
VOCAL_WORDS = frozenset(
    "vocal vox voc voice choir sing singer singing bgv bv bvs bgvs harmony harmonie adlib rap speech spoken "
    "leadvocal leadvox backingvocal backingvox".split())
WEAK_VOCAL_WORDS = frozenset("lead soprano alto tenor baritone".split())  # vocals unless an instrument is named
BASS_WORDS = frozenset("bass bassline bassdi bassamp subbass synthbass bassgtr bassguitar contrabass".split())
INSTRUMENT_WORDS = frozenset(
    "guitar gtr acoustic electric piano pno keys key keyboard synth organ rhodes wurli strings string violin viola "
    "cello brass horn sax saxophone trumpet trombone flute pad pluck arp bell".split())
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def words(name: str) -> set[str]:
    """Lower-case words of a file name (extension removed): whole separator-delimited tokens and their parts."""
    found = set()
    for token in re.split(r"[\s_\-.+()\[\],]+", Path(name).stem):
        if not token:
            continue
        found.add(token.lower())
        found.update(part.lower() for part in _WORD.findall(token))
    return found


def _has(found: set[str], keywords: frozenset) -> bool:
    return any(w in keywords or (w.endswith("s") and w[:-1] in keywords) for w in found)


def classify(name: str) -> str:
    """The stem a track belongs to, from its file name (see the module docstring)."""
    found = words(name)
    if _has(found, DRUM_WORDS) or {"bass", "drum"} <= found:
        return "drums"
    if _has(found, VOCAL_WORDS):
        return "vocals"
    if _has(found, BASS_WORDS):
        return "bass"
    if _has(found, WEAK_VOCAL_WORDS) and not _has(found, INSTRUMENT_WORDS):
        return "vocals"
    return "other"


def parse_map(items) -> list[tuple[str, str]]:
    """``["NAME=STEM", ...]`` -> ``[(name, stem)]``.

    Raises:
        ValueError: an item without ``=`` or with an unknown stem, naming the item and the fix.
    """
    pairs = []
    for item in items or ():
        name, sep, stem = item.rpartition("=")
        stem = stem.strip().lower()
        if not sep or not name.strip():
            raise ValueError(f"--map {item!r}: expected NAME=STEM, e.g. --map 'Gtr*.wav=other'")
        if stem not in STEMS:
            raise ValueError(f"--map {item!r}: unknown stem {stem!r}; use one of {', '.join(STEMS)}")
        pairs.append((name.strip(), stem))
    return pairs


def _matches(path: Path, pattern: str) -> bool:
    pattern = pattern.lower()
    return any(fnmatch.fnmatchcase(candidate.lower(), pattern) for candidate in (path.name, path.stem))


def list_tracks(items) -> list[Path]:
    """Audio files from folders (their audio files, sorted, not recursive) and/or file paths, in order.

    Raises:
        FileNotFoundError: a path that does not exist, or a folder without audio files.
    """
    tracks = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                           and not p.name.startswith("."))
            if not found:
                raise FileNotFoundError(f"{path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
            tracks.extend(found)
        elif path.is_file():
            tracks.append(path)
        else:
            raise FileNotFoundError(f"{path}: file not found (check the path)")
    return tracks


def group_tracks(tracks, mapping=()) -> dict[str, list[Path]]:
    """Group track paths into stems: ``{stem: [paths]}`` (only stems with at least one track).

    Args:
        tracks: paths (see :func:`list_tracks`).
        mapping: ``[(name or glob, stem)]`` overrides, the first match wins.

    Raises:
        ValueError: a mapping entry that matches no track.
    """
    tracks = [Path(t) for t in tracks]
    for pattern, _ in mapping:
        if not any(_matches(t, pattern) for t in tracks):
            raise ValueError(f"--map {pattern!r}: matches no track (tracks: {', '.join(t.name for t in tracks)})")
    groups: dict[str, list[Path]] = {}
    for track in tracks:
        stem = next((s for pattern, s in mapping if _matches(track, pattern)), None) or classify(track.name)
        groups.setdefault(stem, []).append(track)
    return {stem: groups[stem] for stem in STEMS if stem in groups}
