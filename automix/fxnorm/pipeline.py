"""Dataset-level effect normalization: features pass and normalization pass over songs, one process pool per run.

Workers receive everything through their arguments (song paths, the stem's features, IR paths), so the pool works
with the ``spawn`` start method; every random draw comes from :func:`automix.fxnorm.normalize.stem_rng`, so the same
seed gives the same bytes for any number of workers.

Features are chained in memory (spec §1.2): the feature of effect *k* is computed on stems normalized by the effects
before it. No intermediate file is written; each task re-applies the earlier effects to its stem instead, which keeps
memory at one stem per worker whatever the dataset size.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from automix.fxnorm.features import FEATURE_STEMS, average_feature
from automix.fxnorm.normalize import EFFECTS, FEATURE_EFFECTS, normalize_stem, stem_feature, stem_rng

logger = logging.getLogger(__name__)

DEFAULT_CACHE_MB = 4096  # features pass: keep processed stems in memory between effects up to this dataset size


class InlineExecutor:
    """Runs submitted calls immediately in this process (``workers <= 1``); same interface as a process pool."""

    def submit(self, fn, *args, **kwargs) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 - delivered to the caller through the future, like a pool
            future.set_exception(err)
        return future

    def shutdown(self, wait=True):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


def make_executor(workers: int):
    """One pool for a whole run: in-process for ``workers <= 1``, else ``spawn``-started worker processes."""
    if workers <= 1:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def song_length(song) -> int:
    """Longest stem of a song, in samples (all-zero stems are written at this length)."""
    from automix import audio

    return max(audio.info(path)[1] for path in song.stems.values())


def _load_stem(path, n_samples: int) -> np.ndarray:
    from automix import audio

    x = audio.read(path, sample_rate=None)
    return np.pad(x, ((0, n_samples - x.shape[0]), (0, 0))) if x.shape[0] < n_samples else x


def _stem_features(features: dict | None, stem: str) -> dict | None:
    """Only this stem's arrays (small pickles for the workers)."""
    return None if features is None else {e: {stem: v[stem]} for e, v in features.items() if stem in v}


def feature_task(source, n_samples: int, song: str, stem: str, effect: str, features, effects_before, mode: str,
                 seed: int, irs, keep_audio: bool) -> tuple:
    """Worker: the ``effect`` feature of one stem after ``effects_before``; returns ``(feature, status, audio)``.

    ``source`` is the stem's path, or the padded stem already processed by the earlier effects (cache).
    """
    cached = isinstance(source, np.ndarray)
    x = source if cached else _load_stem(source, n_samples)
    value, status, *audio = stem_feature(x, stem, effect, features, effects_before, mode, stem_rng(seed, song, stem),
                                         irs, keep_audio=keep_audio, padded=cached)
    return value, status, (audio[0] if audio else None)


def normalize_task(path: str, n_samples: int, song: str, stem: str, out_path: str, features, effects, mode: str,
                   seed: int, irs, pre_irs) -> tuple:
    """Worker: normalize one stem and write it (atomically); returns ``(report, seconds)``."""
    from automix import audio

    start = time.perf_counter()
    x = _load_stem(path, n_samples)
    y, report = normalize_stem(x, stem, features, effects, mode, stem_rng(seed, song, stem), irs, pre_irs)
    audio.write(out_path, y, subtype="PCM_16")
    return report, time.perf_counter() - start


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="stem", disable=not enabled, leave=False)


def compute_features(songs, executor=None, mode: str = "fixed", seed: int = 0, irs=None, progress: bool = True,
                     cache_mb: float = DEFAULT_CACHE_MB) -> tuple[dict, dict]:
    """Dataset-average features, effect by effect, each on stems normalized by the effects before it.

    Args:
        songs: :class:`automix.dataset.Song` list.
        executor: from :func:`make_executor` (in-process if None).
        mode: ``"fixed"`` or ``"release"``.
        seed: seed of the reverb draws (only used when ``irs`` is given: reverb then comes first in the chain).
        irs: reverb IRs, or None (the recommended features pass has no reverb).
        cache_mb: if the whole dataset (float32) fits in this many MiB, the stems processed by the effects so far
            are kept in memory between effects; otherwise each effect re-applies the earlier ones to the raw stem
            (memory: one stem per worker, compute: about twice).

    Returns:
        ``(features, metadata)``; metadata counts the files averaged and the exclusions per effect and stem.

    Raises:
        ValueError: if some effect/stem has no usable file at all.
    """
    executor = executor or InlineExecutor()
    lengths, failed = {}, {}
    for song in songs:
        try:
            lengths[song.name] = song_length(song)
        except ValueError as err:
            failed[song.name] = str(err)
    chain = [e for e in EFFECTS if e != "reverb" or irs]
    use_cache = sum(lengths.values()) * len(FEATURE_STEMS) * 2 * 4 <= cache_mb * 2 ** 20
    cache = {}  # (song, stem) -> (stem after the effects applied so far, those effects)
    features, n_files, excluded, seconds = {}, defaultdict(dict), defaultdict(dict), {}
    for effect in FEATURE_EFFECTS:
        stage_start = time.perf_counter()
        before = chain[:chain.index(effect)]
        jobs = {}
        for song in (s for s in songs if s.name not in failed):
            for stem in FEATURE_STEMS:
                source, applied = cache.pop((song.name, stem), (str(song.stems[stem]), []))
                keep = use_cache and effect != FEATURE_EFFECTS[-1]
                jobs[executor.submit(feature_task, source, lengths[song.name], song.name, stem, effect,
                                     _stem_features(features, stem), before[len(applied):], mode, seed, irs,
                                     keep)] = (song, stem)
        values, reasons = _collect_stage(jobs, effect, before, cache, failed, progress)
        features[effect] = {}
        for stem in FEATURE_STEMS:
            kept = [values[stem][name] for name in sorted(values[stem]) if name not in failed]
            features[effect][stem] = average_feature(effect, stem, kept)
            n_files[effect][stem] = len(kept)
            excluded[effect][stem] = dict(reasons[stem])
        seconds[effect] = time.perf_counter() - stage_start
        logger.info("%s feature: files averaged %s, excluded %s", effect, n_files[effect], excluded[effect])
    metadata = {"mode": mode, "seed": seed, "with_reverb": bool(irs), "n_songs": len(songs) - len(failed),
                "n_files": dict(n_files), "excluded": dict(excluded), "failed_songs": failed,
                "smoothed_at_save": True, "seconds_per_stage": seconds, "feature_cache": use_cache}
    return features, metadata


def _collect_stage(jobs: dict, effect: str, before: list, cache: dict, failed: dict, progress: bool) -> tuple:
    """Gather one stage's per-file features; fills ``cache`` (processed stems) and ``failed`` (song -> reason)."""
    values, reasons = defaultdict(dict), defaultdict(Counter)
    with _progress(len(jobs), f"features: {effect}", progress) as bar:
        for future in as_completed(jobs):
            song, stem = jobs[future]
            bar.update()
            try:
                value, status, processed = future.result()
            except Exception as err:  # noqa: BLE001 - a bad song is reported, the others continue
                failed[song.name] = f"{stem}: {err}"
                logger.error("song %s failed (%s feature, %s): %s", song.name, effect, stem, err)
                continue
            if processed is not None:
                cache[(song.name, stem)] = (processed, before)
            if value is None:
                reasons[stem][status] += 1
            else:
                values[stem][song.name] = value
    return values, reasons


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    return value


def write_json_atomic(path, obj) -> None:
    """Write JSON through a temporary file in the same folder and a rename (never half-written)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(_json_safe(obj), handle, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def output_paths(song, suffix: str) -> tuple[dict, Path]:
    """``{stem: <song>/<stem>_<suffix>.wav}`` and ``<song>/normalization_<suffix>.json``."""
    return ({stem: song.path / f"{stem}_{suffix}.wav" for stem in FEATURE_STEMS},
            song.path / f"normalization_{suffix}.json")


def is_done(song, suffix: str) -> bool:
    """A song is done when its four normalized stems and its report exist (the report is written last)."""
    stems, report = output_paths(song, suffix)
    return report.is_file() and all(p.is_file() for p in stems.values())


def _submit_song(executor, song, suffix, features, effects, mode, seed, irs, pre_irs) -> dict:
    n_samples = song_length(song)
    outputs, _ = output_paths(song, suffix)
    return {executor.submit(normalize_task, str(song.stems[stem]), n_samples, song.name, stem, str(outputs[stem]),
                            _stem_features(features, stem), effects, mode, seed, irs, pre_irs): (song, stem)
            for stem in FEATURE_STEMS}


def normalize_dataset(songs, features: dict, suffix: str, executor=None, mode: str = "fixed", seed: int = 0,
                      irs=None, pre_irs=None, effects=EFFECTS, overwrite: bool = False, progress: bool = True
                      ) -> dict:
    """Write ``<song>/<stem>_<suffix>.wav`` and ``<song>/normalization_<suffix>.json`` for every song.

    A song whose outputs and report already exist is skipped unless ``overwrite`` (so a killed run resumes); a song
    that fails (unreadable stem, release-mode crash, ...) is reported and the others continue.

    Returns:
        summary dict: ``done`` / ``skipped`` (song names), ``failed`` ({song: reason}), ``seconds_per_song``
        (worker seconds per processed song), ``wall_seconds``.
    """
    executor = executor or InlineExecutor()
    start = time.perf_counter()
    summary = {"done": [], "skipped": [], "failed": {}, "seconds_per_song": None, "wall_seconds": None}
    jobs, pending = {}, {}
    for song in songs:
        if not overwrite and is_done(song, suffix):
            summary["skipped"].append(song.name)
            continue
        try:
            jobs.update(_submit_song(executor, song, suffix, features, effects, mode, seed, irs, pre_irs))
            pending[song.name] = {"song": song, "stems": {}, "seconds": 0.0, "error": None}
        except ValueError as err:  # unreadable header: reported, the rest continue
            summary["failed"][song.name] = str(err)
    seconds = []
    with _progress(len(jobs), "normalizing", progress) as bar:
        for future in as_completed(jobs):
            song, stem = jobs[future]
            bar.update()
            state = pending[song.name]
            try:
                state["stems"][stem], spent = future.result()
                state["seconds"] += spent
            except Exception as err:  # noqa: BLE001 - reported per song
                state["error"] = state["error"] or f"{stem}: {err}"
                state["stems"][stem] = None
            if len(state["stems"]) == len(FEATURE_STEMS):
                _finish_song(state, suffix, mode, seed, summary)
                if state["error"] is None:
                    seconds.append(state["seconds"])
    summary["wall_seconds"] = time.perf_counter() - start
    summary["seconds_per_song"] = float(np.mean(seconds)) if seconds else None
    return summary


def _finish_song(state: dict, suffix: str, mode: str, seed: int, summary: dict) -> None:
    song = state["song"]
    if state["error"] is not None:
        logger.error("song %s failed: %s", song.name, state["error"])
        summary["failed"][song.name] = state["error"]
        return
    import automix

    _, report_path = output_paths(song, suffix)
    write_json_atomic(report_path, {"song": song.name, "suffix": suffix, "mode": mode, "seed": seed,
                                    "package_version": getattr(automix, "__version__", "unknown"),
                                    "seconds": state["seconds"], "stems": state["stems"]})
    summary["done"].append(song.name)
