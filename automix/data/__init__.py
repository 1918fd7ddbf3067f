"""Training data: song files -> segments -> augmentation -> torch minibatches.

* :mod:`automix.data.songs`: :func:`find_songs` (file discovery and checks), lazy per-segment reading,
  :func:`validation_songs` (numpy).
* :mod:`automix.data.sampling`: segment sampling (default / release), song order, the per-example pipeline (numpy).
* :mod:`automix.data.augment`: the augmentation chain and its effects (numpy/scipy/pedalboard, never torch).
* :mod:`automix.data.loader`: :class:`TrainingBatches` (torch ``Dataset``) and :func:`make_loader` — the only
  module here that imports torch; it is imported on first use, so ``automix.data.augment`` stays torch-free.
"""
from automix.data.songs import AudioFile, SongFiles, find_songs, validation_songs

__all__ = ["AudioFile", "SongFiles", "TrainingBatches", "find_songs", "make_loader", "validation_songs"]


def __getattr__(name):
    if name in ("TrainingBatches", "make_loader"):
        from automix.data import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'automix.data' has no attribute {name!r}")
