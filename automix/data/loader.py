"""Torch Dataset and DataLoader of training minibatches: the one place numpy audio becomes tensors.

Item ``i`` of :class:`TrainingBatches` is minibatch ``i`` of the current epoch. The GLOBAL minibatch ``i``
(``batch_size`` examples) depends only on ``(seed, epoch, i)``; rank ``r`` of ``world_size`` takes examples
``r*B_local : (r+1)*B_local`` (``B_local = batch_size // world_size``), so N DDP ranks together see exactly the
examples of one process, and the batches do not depend on the number of loader workers or on resuming.

:func:`make_loader` passes ``(epoch, i)`` through its sampler, so ``set_epoch`` reaches persistent workers too.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from automix.conventions import SAMPLE_RATE
from automix.data.sampling import ExampleSampler, item_rngs, order_rng, song_order
from automix.data.songs import SongFiles

logger = logging.getLogger(__name__)


def _check_seed(seed) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


class TrainingBatches(torch.utils.data.Dataset):
    """One epoch of training minibatches (spec §2.2-2.4, with the project's fixes by default).

    Args:
        songs: from :func:`automix.data.find_songs` (each must hold every input and target name).
        input_names: input file names in network order (e.g. ``vocals_normalized``, ``bass_normalized``, ...).
        target_names: target file names (``["mixture"]``, or the four normalized stems for pre-training).
        segment_samples: segment length ``T`` in samples.
        batch_size: GLOBAL minibatch size (all ranks together).
        n_batches: minibatches per epoch.
        seed: integer >= 0; with the epoch and the minibatch index it fixes every draw.
        sampling: ``"default"`` (no splice, silent targets re-drawn) or ``"release"`` (wrap-around, spec §2.2).
        song_order: ``"stratified"`` (the release) or ``"shuffle"``.
        shuffle_channels: swap L/R of inputs and targets together with probability 0.5 (no-op in release mode,
            as the release's was).
        shuffle_stems: permute the input stems (and the targets, when several) per example.
        augmentation: an :class:`automix.data.augment.AugmentationChain` (or any ``(x, rng, sample_rate) -> y``),
            applied per input stem; None for none (the ISMIR configs).
        silence_threshold_db: target RMS below which a default-mode segment is re-drawn; None disables.
        rank, world_size: this process's slice of every minibatch.
        augment_targets: also augment the targets (each independently).
        max_silence_tries: draws before a silent segment is kept.
        sample_rate: in Hz (passed to the augmentation).

    Item ``i``: ``{"inputs": float32 (B_local, n_inputs*2, T), "targets": float32 (n_targets, B_local, 2, T)}``,
    inputs stem-major (vocals L, vocals R, bass L, ...).
    """

    def __init__(self, songs: list[SongFiles], input_names, target_names, segment_samples: int, batch_size: int,
                 n_batches: int, seed: int, sampling: str = "default", song_order: str = "stratified",
                 shuffle_channels: bool = True, shuffle_stems: bool = False, augmentation=None,
                 silence_threshold_db: float | None = -60.0, rank: int = 0, world_size: int = 1,
                 augment_targets: bool = False, max_silence_tries: int = 10, sample_rate: int = SAMPLE_RATE):
        if not songs:
            raise ValueError("TrainingBatches needs at least one song")
        if world_size < 1 or not 0 <= rank < world_size or batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} must split evenly over world_size {world_size} "
                             f"(rank {rank} must be in [0, world_size))")
        if n_batches < 1 or batch_size < 1:
            raise ValueError(f"n_batches and batch_size must be >= 1, got {n_batches} and {batch_size}")
        self.songs, self.seed, self.epoch = list(songs), _check_seed(seed), 0
        self.batch_size, self.n_batches, self.order_mode = batch_size, n_batches, song_order
        self.rank, self.world_size = rank, world_size
        self.sampler = ExampleSampler(
            input_names=tuple(input_names), target_names=tuple(target_names), n_samples=segment_samples,
            sampling=sampling, shuffle_channels=shuffle_channels, shuffle_stems=shuffle_stems,
            augmentation=augmentation, augment_targets=augment_targets, silence_threshold_db=silence_threshold_db,
            max_silence_tries=max_silence_tries, sample_rate=sample_rate)
        _check_names(self.songs, set(input_names) | set(target_names))
        self._order_cache = (None, None)
        self.order(0)  # fails early on a bad song_order name
        if sampling == "release" and shuffle_channels:
            logger.info("release sampling: channel shuffling is off, as the release's no-op SHUFFLE_CHANNELS")

    def __len__(self) -> int:
        return self.n_batches

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose minibatches the items are (0-based)."""
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """Song indices of every global minibatch of an epoch, ``(n_batches, batch_size)``."""
        if self._order_cache[0] != epoch:
            order = song_order(len(self.songs), self.batch_size, self.n_batches, order_rng(self.seed, epoch),
                               self.order_mode)
            self._order_cache = (epoch, order)
        return self._order_cache[1]

    def __getitem__(self, index) -> dict:
        """Minibatch ``index`` of the current epoch, or of ``epoch`` when ``index`` is ``(epoch, i)``."""
        epoch, batch = index if isinstance(index, tuple) else (self.epoch, index)
        if not 0 <= batch < self.n_batches:
            raise IndexError(f"minibatch {batch} outside [0, {self.n_batches})")
        songs = self.order(epoch)[batch]
        local = self.batch_size // self.world_size
        n_samples = self.sampler.n_samples
        # channel-major batches filled in place: one copy per stem, no stacking or transposing afterwards
        inputs = np.empty((local, len(self.sampler.input_names), 2, n_samples), dtype=np.float32)
        targets = np.empty((len(self.sampler.target_names), local, 2, n_samples), dtype=np.float32)
        for b, item in enumerate(range(self.rank * local, (self.rank + 1) * local)):
            rng, augment_rng = item_rngs(self.seed, epoch, batch, item)
            stems, outputs = self.sampler.draw(self.songs[songs[item]], rng, augment_rng)
            for k, x in enumerate(stems):
                inputs[b, k] = x.T
            for k, y in enumerate(outputs):
                targets[k, b] = y.T
        return {"inputs": torch.from_numpy(inputs.reshape(local, -1, n_samples)),
                "targets": torch.from_numpy(targets)}


def _check_names(songs: list[SongFiles], names: set) -> None:
    for song in songs:
        missing = sorted(names - set(song.files))
        if missing:
            raise ValueError(f"song {song.path} has no file {missing}; index it with find_songs(folders, names) "
                             "listing every input and target name")


class _EpochIndices(torch.utils.data.Sampler):
    """Yields ``(epoch, i)`` for every minibatch, reading the epoch when an epoch's iteration starts."""

    def __init__(self, dataset: TrainingBatches):
        self.dataset = dataset

    def __iter__(self):
        epoch = self.dataset.epoch
        return iter([(epoch, i) for i in range(len(self.dataset))])

    def __len__(self) -> int:
        return len(self.dataset)


def _worker_init(worker_id: int) -> None:
    # examples are numpy work on one item per worker; torch threads would only oversubscribe the cores
    torch.set_num_threads(1)


def make_loader(dataset: TrainingBatches, num_workers: int = 0, seed: int = 0, pin_memory: bool = False,
                prefetch_factor: int | None = None) -> torch.utils.data.DataLoader:
    """A DataLoader over the minibatches of ``dataset`` in order (each item is already a minibatch).

    Args:
        dataset: the epoch dataset; call ``dataset.set_epoch(e)`` before iterating epoch ``e``.
        num_workers: loader processes (0: in the main process). The batches are the same for any number.
        seed: seeds torch's worker base seed (the examples themselves draw from ``dataset.seed``).
        pin_memory: pin the batches (for CUDA copies).
        prefetch_factor: minibatches prefetched per worker (torch's default when None).
    """
    extra = {"prefetch_factor": prefetch_factor} if num_workers and prefetch_factor else {}
    return torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=_EpochIndices(dataset), num_workers=num_workers,
        persistent_workers=num_workers > 0, pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(_check_seed(seed)),
        worker_init_fn=_worker_init if num_workers else None, **extra)
