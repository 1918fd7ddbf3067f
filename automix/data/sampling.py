"""Segment sampling, song order and the per-example pipeline (numpy only; spec §2.2-2.3).

Every random draw comes from generators seeded by ``(seed, epoch, ...)`` (:func:`order_rng`, :func:`item_rngs`),
never from global state, so an example depends only on the seed, the epoch and its place in the epoch: a resumed
run, any number of loader workers and any number of DDP ranks see the same examples.

Sampling modes:

* ``"default"``: the segment never splices the song's end onto its start: the start is uniform in
  ``[0, n - T]`` (``n`` = the song's longest file); a song shorter than ``T`` and shorter files are zero-padded at
  the end. A segment whose targets are near-silent (RMS below ``silence_threshold_db``) is re-drawn up to
  ``max_silence_tries`` times, then kept (logged once per song).
* ``"release"``: the release's ``generate_data``: ``max_length = max(T, longest file)``, files shorter than it
  zero-padded by ``(max_length - len)//2 + 1`` on both sides, one start uniform in ``[0, max_length)`` shared by
  all files, wrapping around the (padded) file's end; no silence check; channel shuffling off (it was a no-op in
  the release, spec §2.3).

Segment plans are lists of ``(file_start, n_frames, out_offset)`` reads (:func:`automix.data.songs.read_pieces`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from automix.conventions import SAMPLE_RATE
from automix.data.songs import SongFiles, read_pieces

logger = logging.getLogger(__name__)

SAMPLING_MODES = ("default", "release")
SONG_ORDERS = ("stratified", "shuffle")
_ORDER_STREAM, _ITEM_STREAM = 0, 1  # keys have a fixed length: SeedSequence pads short keys with zeros


def order_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of an epoch's song order."""
    return np.random.default_rng([seed, epoch, _ORDER_STREAM, 0, 0])


def item_rngs(seed: int, epoch: int, batch: int, item: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators ``(sampling, augmentation)`` of item ``item`` of global minibatch ``batch``.

    Two streams, so that adding or removing an augmentation never changes which segments are drawn.
    """
    sampling, augmentation = np.random.SeedSequence([seed, epoch, _ITEM_STREAM, batch, item]).spawn(2)
    return np.random.default_rng(sampling), np.random.default_rng(augmentation)


def song_order(n_songs: int, batch_size: int, n_batches: int, rng: np.random.Generator,
               mode: str = "stratified") -> np.ndarray:
    """Song indices of every item of an epoch, int64 ``(n_batches, batch_size)``.

    ``"stratified"`` (the release, spec §2.3): rounds of ``batch_size`` independent permutations of all songs,
    concatenated and cut into minibatches, so a round uses every song ``batch_size`` times. ``"shuffle"``: rounds of
    one permutation, cut the same way (every song once per ``n_songs`` items). Rounds start afresh every epoch
    (the release's queue ran across epochs).
    """
    if mode not in SONG_ORDERS:
        raise ValueError(f"song_order must be one of {SONG_ORDERS}, got {mode!r}")
    per_round = batch_size if mode == "stratified" else 1
    n_items = n_batches * batch_size
    n_rounds = -(-n_items // (per_round * n_songs))
    order = np.concatenate([rng.permutation(n_songs) for _ in range(n_rounds * per_round)])
    return order[:n_items].reshape(n_batches, batch_size)


def default_start(song_length: int, n_samples: int, rng: np.random.Generator) -> int:
    """Start uniform in ``[0, song_length - n_samples]`` (0 when the song is shorter than the segment)."""
    return int(rng.integers(0, song_length - n_samples + 1)) if song_length > n_samples else 0


def default_pieces(file_length: int, start: int, n_samples: int) -> list:
    """Reads of a no-splice segment: ``[start, start + n_samples)`` clipped to the file, zeros after its end."""
    count = min(n_samples, file_length - start)
    return [(start, count, 0)] if count > 0 else []


def release_start(song_length: int, n_samples: int, rng: np.random.Generator) -> int:
    """The release's start: uniform in ``[0, max(n_samples, song_length))``."""
    return int(rng.integers(0, max(n_samples, song_length)))


def release_pieces(file_length: int, max_length: int, start: int, n_samples: int) -> list:
    """Reads of the release's wrap-around segment of one file (spec §2.2).

    The file is zero-padded symmetrically by ``(max_length - file_length)//2 + 1`` when shorter than
    ``max_length``; the segment ``padded[start : start + n_samples]`` wraps past the padded end (at most once: the
    padded length is at least ``max_length >= n_samples``).
    """
    pad = (max_length - file_length) // 2 + 1 if file_length < max_length else 0
    padded_length = file_length + 2 * pad
    first = min(n_samples, padded_length - start)
    spans = [(start, start + first, 0)]
    if first < n_samples:
        spans.append((0, n_samples - first, first))
    pieces = []
    for begin, end, offset in spans:  # padded coordinates -> file coordinates
        lo, hi = max(begin - pad, 0), min(end - pad, file_length)
        if hi > lo:
            pieces.append((lo, hi - lo, offset + lo - (begin - pad)))
    return pieces


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS of all samples of ``x`` (-inf-safe: -400 dB for digital silence)."""
    return float(10.0 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-40))


@dataclass
class ExampleSampler:
    """Draws one training example of a song: segment, augmentation, channel swap, stem permutation.

    Attributes:
        input_names, target_names: file names of the inputs (network order) and the targets.
        n_samples: segment length ``T``.
        sampling: ``"default"`` or ``"release"`` (see the module docstring).
        shuffle_channels: swap L/R of inputs and targets together with probability 0.5 (off in release mode).
        shuffle_stems: permute the input stems (and the targets with them when there are as many) per example.
        augmentation: a callable ``(x, rng, sample_rate) -> y`` (e.g. :class:`automix.data.augment.AugmentationChain`),
            applied to each input stem independently (and each target when ``augment_targets``), or None.
        silence_threshold_db: targets below this RMS are re-drawn (default mode); None disables the check.
        max_silence_tries: draws per example before a silent segment is kept.
        sample_rate: in Hz, passed to the augmentation.
    """

    input_names: tuple
    target_names: tuple
    n_samples: int
    sampling: str = "default"
    shuffle_channels: bool = True
    shuffle_stems: bool = False
    augmentation: object = None
    augment_targets: bool = False
    silence_threshold_db: float | None = -60.0
    max_silence_tries: int = 10
    sample_rate: int = SAMPLE_RATE
    _warned: set = field(default_factory=set, repr=False)

    def __post_init__(self):
        if self.sampling not in SAMPLING_MODES:
            raise ValueError(f"sampling must be one of {SAMPLING_MODES}, got {self.sampling!r}")
        if self.n_samples <= 0:
            raise ValueError(f"segment length must be > 0 samples, got {self.n_samples}")
        n_in, n_out = len(self.input_names), len(self.target_names)
        if self.shuffle_stems and n_out > 1 and n_out != n_in:
            raise ValueError(f"shuffle_stems permutes targets with the inputs: needs 1 target or as many as inputs "
                             f"({n_in}), got {n_out}")

    def segments(self, song: SongFiles, rng: np.random.Generator) -> dict:
        """name -> float32 ``(T, 2)`` for every input and target name (one shared start)."""
        if self.sampling == "release":
            start = release_start(song.n_samples, self.n_samples, rng)
            length = max(self.n_samples, song.n_samples)
            return {name: read_pieces(f, release_pieces(f.n_samples, length, start, self.n_samples), self.n_samples)
                    for name, f in song.files.items()}
        targets = list(dict.fromkeys(self.target_names))
        for _ in range(max(1, self.max_silence_tries)):
            start = default_start(song.n_samples, self.n_samples, rng)
            read = {name: self._read_default(song, name, start) for name in targets}
            if self.silence_threshold_db is None or rms_db(np.stack(list(read.values()))) >= self.silence_threshold_db:
                break
        else:
            if song.name not in self._warned:
                self._warned.add(song.name)
                logger.warning("%s: no segment with targets above %.0f dBFS in %d draws; keeping a silent one "
                               "(logged once per song)", song.path, self.silence_threshold_db, self.max_silence_tries)
        for name in song.files:
            if name not in read:
                read[name] = self._read_default(song, name, start)
        return read

    def _read_default(self, song: SongFiles, name: str, start: int) -> np.ndarray:
        file = song.files[name]
        return read_pieces(file, default_pieces(file.n_samples, start, self.n_samples), self.n_samples)

    def draw(self, song: SongFiles, rng: np.random.Generator, augment_rng: np.random.Generator
             ) -> tuple[list, list]:
        """One example: the input stems and the targets, each float32 ``(T, 2)`` (possibly a view; never written).

        Lists rather than stacked arrays: the loader copies each once, straight into its channel-major batch.
        """
        read = self.segments(song, rng)
        inputs = [self._augment(read[name], augment_rng) for name in self.input_names]
        targets = [self._augment(read[name], augment_rng) if self.augment_targets else read[name]
                   for name in self.target_names]
        if self.shuffle_channels and self.sampling != "release" and rng.random() < 0.5:
            inputs, targets = [x[:, ::-1] for x in inputs], [y[:, ::-1] for y in targets]
        if self.shuffle_stems:
            order = rng.permutation(len(self.input_names))
            inputs = [inputs[k] for k in order]
            if len(self.target_names) > 1:
                targets = [targets[k] for k in order]
        return inputs, targets

    def _augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.augmentation is None:
            return x
        y = np.asarray(self.augmentation(x, rng, self.sample_rate), dtype=np.float32)
        if y.shape != x.shape:
            raise ValueError(f"augmentation changed the segment's shape {x.shape} -> {y.shape}")
        return y
