"""Training songs: file discovery and reading only the frames a segment needs.

A song is a folder of a split folder (MUSDB18 layout, see :mod:`automix.dataset`) with one file per name in
``names`` (``<song>/<name>.wav`` or ``.flac``), e.g. the four ``<stem>_normalized`` files and ``mixture``.

Reading: a folder given with ``load_into_memory=False`` is read lazily, segment by segment
(``soundfile`` seek + read of the frames needed), so memory does not grow with the dataset. With
``load_into_memory=True`` each file is read once, at discovery, and kept in its stored integer type (int16 for
16-bit files: a quarter of float32), converted per segment. Integer PCM is scaled as :func:`automix.audio.read`
(÷32768 for 16-bit, ÷2**31 for 24/32-bit); mono files are duplicated to stereo. Files with more than two channels,
another rate than 44.1 kHz, no samples, or that cannot be read raise :class:`automix.audio.AudioError` naming the
file: training never drops a bad file silently.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from automix import audio
from automix.dataset import _find_file

logger = logging.getLogger(__name__)


@dataclass
class AudioFile:
    """One file of a song.

    Attributes:
        path: the file.
        n_samples: frames in the file.
        n_channels: 1 or 2 (mono is duplicated when read).
        subtype: soundfile subtype (``PCM_16``, ``FLOAT``, ...): decides the read type and scale.
        data: the stored samples ``(n_samples, n_channels)`` in the read type when the folder is loaded into
            memory, else None.
    """

    path: Path
    n_samples: int
    n_channels: int
    subtype: str
    data: np.ndarray | None = field(default=None, repr=False)


@dataclass
class SongFiles:
    """A song's files, by name (e.g. ``vocals_normalized``, ``mixture``).

    Attributes:
        name: song folder name.
        path: song folder.
        files: name -> :class:`AudioFile`.
        load_into_memory: whether the samples are held in memory.
    """

    name: str
    path: Path
    files: dict
    load_into_memory: bool = False

    @property
    def n_samples(self) -> int:
        """The song's length: its longest file (shorter files are padded with zeros, see the samplers)."""
        return max(f.n_samples for f in self.files.values())


def _read_type(file: AudioFile) -> tuple[str, float]:
    # one table for the whole package: automix.audio's integer read types and scales
    return audio._INT_READ.get(file.subtype, ("float32", 1.0))


def open_audio_file(path: Path, load_into_memory: bool = False) -> AudioFile:
    """Index one file: check it is readable, complete, non-empty, mono or stereo and 44.1 kHz.

    Raises:
        automix.audio.AudioError: naming the file and the fix.
    """
    rate, n_samples, n_channels = audio.info(path)  # missing or unreadable
    meta = sf.info(str(path))
    if audio._TRUNCATED.search(meta.extra_info or ""):
        raise audio.AudioError(f"{path}: truncated: the file is shorter than its header says; re-export or re-copy it")
    if rate != audio.SAMPLE_RATE:
        raise audio.AudioError(f"{path}: {rate} Hz; training files must be {audio.SAMPLE_RATE} Hz (resample the "
                               "song, e.g. re-run the effect normalization on 44.1 kHz stems)")
    if n_samples == 0:
        raise audio.AudioError(f"{path}: contains zero samples")
    if n_channels > 2:
        raise audio.AudioError(f"{path}: has {n_channels} channels; only mono or stereo is supported (downmix it)")
    file = AudioFile(path=path, n_samples=n_samples, n_channels=n_channels, subtype=meta.subtype)
    if load_into_memory:
        dtype, _ = _read_type(file)
        try:
            file.data = sf.read(str(path), dtype=dtype, always_2d=True)[0]
        except (sf.LibsndfileError, RuntimeError) as err:
            raise audio.AudioError(f"{path}: cannot be read ({err}); re-export it as WAV or FLAC") from None
        if file.data.shape[0] != n_samples:
            raise audio.AudioError(f"{path}: read {file.data.shape[0]} of {n_samples} frames (corrupt file?)")
    return file


def read_frames(file: AudioFile, start: int, n_frames: int, out: np.ndarray | None = None) -> np.ndarray:
    """Frames ``[start, start + n_frames)`` of a file as stereo float32 ``(n_frames, 2)``.

    Args:
        file: the indexed file; ``0 <= start`` and ``start + n_frames <= file.n_samples``.
        start: first frame.
        n_frames: frames to read (>= 0).
        out: optional float32 ``(n_frames, 2)`` array to write into (saves a copy).

    Raises:
        automix.audio.AudioError: if the file changed since it was indexed (fewer frames, unreadable, NaN/Inf).
    """
    if start < 0 or n_frames < 0 or start + n_frames > file.n_samples:
        raise ValueError(f"{file.path}: frames [{start}, {start + n_frames}) outside [0, {file.n_samples})")
    dtype, scale = _read_type(file)
    if file.data is not None:
        raw = file.data[start:start + n_frames]
    else:
        try:
            with sf.SoundFile(str(file.path)) as handle:
                handle.seek(start)
                raw = handle.read(n_frames, dtype=dtype, always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise audio.AudioError(f"{file.path}: cannot be read any more ({err}); was it changed during "
                                   "training?") from None
        if raw.shape[0] != n_frames:
            raise audio.AudioError(f"{file.path}: read {raw.shape[0]} of {n_frames} frames at {start}: the file "
                                   "is shorter than when it was indexed")
    out = np.empty((n_frames, 2), dtype=np.float32) if out is None else out
    # the scales are powers of two, so multiplying by 1/scale equals automix.audio.read's division; a mono
    # column broadcasts to both channels
    np.multiply(raw, np.float32(1.0 / scale), out=out, casting="unsafe")
    if scale == 1.0 and not np.all(np.isfinite(out)):
        raise audio.AudioError(f"{file.path}: contains NaN or Inf samples near frame {start}")
    return out


def read_pieces(file: AudioFile, pieces: list, n_samples: int) -> np.ndarray:
    """Assemble a segment from file ranges; everything not covered is zero.

    Args:
        file: the indexed file.
        pieces: ``(file_start, n_frames, out_offset)`` triples (see :mod:`automix.data.sampling`).
        n_samples: segment length.

    Returns:
        float32 ``(n_samples, 2)``.
    """
    out = np.zeros((n_samples, 2), dtype=np.float32)
    for file_start, n_frames, out_offset in pieces:
        if n_frames > 0:
            read_frames(file, file_start, n_frames, out=out[out_offset:out_offset + n_frames])
    return out


def _song_files(folder: Path, names: list, load_into_memory: bool) -> SongFiles | str:
    """The song's files, or the reason the song is skipped (a missing name)."""
    found = {name: _find_file(folder, name) for name in dict.fromkeys(names)}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        return f"missing {', '.join(repr(m) for m in missing)} (.wav or .flac)"
    files = {name: open_audio_file(path, load_into_memory) for name, path in found.items()}
    lengths = {f.n_samples for f in files.values()}
    if len(lengths) > 1:
        logger.warning("%s: files of unequal length (%d to %d samples); shorter ones are padded with zeros",
                       folder, min(lengths), max(lengths))
    return SongFiles(name=folder.name, path=folder, files=files, load_into_memory=load_into_memory)


def find_songs(folders, names) -> list[SongFiles]:
    """Index the training (or validation) songs of one or more split folders.

    Args:
        folders: ``(folder, load_into_memory)`` pairs (the config's ``DATA_DIR_TRAIN`` / ``DATA_DIR_VALID``).
        names: file base names every song needs (inputs then targets; duplicates allowed).

    Returns:
        The songs of each folder sorted by name, folders in the given order.

    Raises:
        FileNotFoundError: a folder does not exist.
        automix.audio.AudioError: a file of a song cannot be used (named in the message).
        ValueError: no folder holds a single usable song.
    """
    songs = []
    for folder, load_into_memory in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: data folder not found (expected one sub-folder per song)")
        for song_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            song = _song_files(song_dir, list(names), bool(load_into_memory))
            if isinstance(song, str):
                logger.warning("skipping song %s: %s", song_dir, song)
            else:
                songs.append(song)
    if not songs:
        listed = ", ".join(str(f) for f, _ in folders) or "(none given)"
        raise ValueError(f"no song with all of {list(names)} found in {listed}; run the effect normalization "
                         "first or check DATA_DIR_TRAIN / DATA_DIR_VALID")
    return songs


def _first_samples(file: AudioFile, n_samples: int) -> np.ndarray:
    return read_pieces(file, [(0, min(n_samples, file.n_samples), 0)], n_samples)


def validation_songs(songs: list[SongFiles], input_names, target_names, max_samples: int, multiple: int = 1024):
    """Whole validation songs, truncated to ``T = min(song length, max_samples)`` rounded down to ``multiple``.

    Yields:
        ``(name, inputs float32 (n_inputs*2, T), targets float32 (n_targets, 2, T))``; files shorter than the
        song are zero-padded at the end. A song shorter than ``multiple`` is skipped with a warning.
    """
    for song in songs:
        n_samples = min(song.n_samples, max_samples) // multiple * multiple
        if n_samples == 0:
            logger.warning("%s: shorter than %d samples; left out of validation", song.path, multiple)
            continue
        inputs = np.concatenate([_first_samples(song.files[name], n_samples).T for name in input_names])
        targets = np.stack([_first_samples(song.files[name], n_samples).T for name in target_names])
        yield song.name, np.ascontiguousarray(inputs), np.ascontiguousarray(targets)
