"""Dataset-level effect normalization: features pass and normalization pass over songs, one process pool per run.

Workers receive everything through their arguments (song paths, the stem's features, IR paths), so the pool works
with the ``spawn`` start method; every random draw comes from :func:`automix.fxnorm.normalize.stem_rng`, so the same
seed gives the same bytes for any number of workers.

Features are chained (spec §1.2): the feature of effect *k* is computed on stems normalized by the effects before it.
When the dataset fits in ``cache_mb``, each stage hands its processed stems to the next one (temporary ``.npy`` files
with a process pool, arrays in memory without one) together with the measurement the next stage's matching would
repeat (:func:`automix.fxnorm.normalize.feature_and_analysis`); otherwise each task re-applies the earlier effects
to the raw stem (memory: one stem per worker whatever the dataset size). No output file is written by this pass.

Work split: one task per (song, stem), so the stems of one song use every worker; in the normalization pass the
stems with a reverb send (the longest tasks) are submitted first.

Failures: a song that fails (bad input: one log line; an unexpected error: logged with its traceback) is reported
and the others continue. A song failing after the first feature stage already took part in the earlier averages:
the features are then recomputed without it, so no average carries a trace of it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import NamedTuple

import numpy as np

from automix.atomic import atomic_write_text
from automix.fxnorm.features import FEATURE_STEMS, average_feature
from automix.fxnorm.normalize import EFFECTS, FEATURE_EFFECTS, normalize_stem, stem_feature, stem_rng
from automix.fxnorm.reverb import REVERB_STEMS
from automix.fxnorm.workers import InlineExecutor, make_executor  # noqa: F401 - make_executor re-exported

logger = logging.getLogger(__name__)

DEFAULT_CACHE_MB = 4096  # features pass: keep processed stems in memory between effects up to this dataset size
EXPECTED_ERRORS = (ValueError, OSError)  # bad input (AudioError is a ValueError), unwritable output: one log line


def _failure_reason(stem: str, err: BaseException) -> str:
    return f"{stem}: {err}" if isinstance(err, EXPECTED_ERRORS) else f"{stem}: {type(err).__name__}: {err}"


def _log_unexpected(what: str, err: BaseException) -> bool:
    """Log an unexpected worker error with its traceback (a pool's includes the worker's); True if it was one."""
    if isinstance(err, EXPECTED_ERRORS):
        logger.debug("%s", what, exc_info=err)  # the traceback of an expected error, for debugging only
        return False
    logger.error("%s: unexpected %s", what, type(err).__name__, exc_info=err)
    return True


def _require_seed(seed, what: str) -> None:
    if seed is None:  # no fallback seed: the caller decides (the command line's --seed defaults to 0)
        raise ValueError(f"{what}: the reverb send draws an IR and shelf corners per stem: give seed=<int> (the "
                         "draws depend only on (seed, song, stem))")


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


class CachedStem(NamedTuple):
    """A padded stem processed by the earlier effects, saved as ``.npy`` in the features pass's temporary folder."""

    path: str


def _load_source(source, n_samples: int) -> tuple[np.ndarray, bool]:
    """``(audio, padded)`` of a task's source: a raw stem path, a processed array, or a :class:`CachedStem`."""
    if isinstance(source, np.ndarray):
        return source, True
    if isinstance(source, CachedStem):
        audio = np.load(source.path, allow_pickle=False)
        os.remove(source.path)  # read once: the next stage writes its own
        return audio, True
    return _load_stem(source, n_samples), False


def feature_task(source, n_samples: int, song: str, stem: str, effect: str, features, effects_before, mode: str,
                 seed: int, irs, keep_audio: bool, cache_file: str | None = None, analysis=None,
                 search: str | None = None) -> tuple:
    """Worker: the ``effect`` feature of one stem after ``effects_before``.

    ``source`` is the stem's path, or the padded stem already processed by the earlier effects (an array, or a
    :class:`CachedStem`) with the ``analysis`` returned along with it. With ``keep_audio`` the processed stem is
    returned as an array, or, given ``cache_file``, saved there and returned as a :class:`CachedStem`: a 64-MiB array
    (3-min stem) costs ~0.3 s to pickle through the pool's pipe and back per stage, a ``.npy`` in the page cache a few
    tens of ms.

    Returns:
        ``(feature, status, audio, analysis)``; ``audio`` and ``analysis`` are None without ``keep_audio``.
    """
    x, padded = _load_source(source, n_samples)
    rng = None if seed is None else stem_rng(seed, song, stem)
    value, status, *kept = stem_feature(x, stem, effect, features, effects_before, mode, rng,
                                        irs, keep_audio=keep_audio, padded=padded, analysis=analysis, search=search)
    processed, analysis = kept if kept else (None, None)
    if processed is not None and cache_file is not None:
        np.save(cache_file, processed, allow_pickle=False)
        processed = CachedStem(cache_file)
    return value, status, processed, analysis


def normalize_task(path: str, n_samples: int, song: str, stem: str, out_path: str, features, effects, mode: str,
                   seed: int, irs, pre_irs, search: str | None = None) -> tuple:
    """Worker: normalize one stem and write it (atomically); returns ``(report, seconds)``."""
    from automix import audio

    start = time.perf_counter()
    x = _load_stem(path, n_samples)
    rng = None if seed is None else stem_rng(seed, song, stem)
    y, report = normalize_stem(x, stem, features, effects, mode, rng, irs, pre_irs, search=search)
    audio.write(out_path, y, subtype="PCM_16")
    return report, time.perf_counter() - start


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="stem", disable=not enabled, leave=False)


def compute_features(songs, executor=None, mode: str = "fixed", seed: int | None = None, irs=None,
                     progress: bool = True, cache_mb: float = DEFAULT_CACHE_MB,
                     search: str | None = None) -> tuple[dict, dict]:
    """Dataset-average features, effect by effect, each on stems normalized by the effects before it.

    Args:
        songs: :class:`automix.dataset.Song` list.
        executor: from :func:`make_executor` (in-process if None).
        mode: ``"fixed"`` or ``"release"``.
        seed: seed of the reverb draws; required when ``irs`` is given (reverb then comes first in the chain).
        irs: reverb IRs, or None (the recommended features pass has no reverb).
        cache_mb: if the whole dataset (float32) fits in this many MiB, the stems processed by the effects so far
            are kept between effects (in the temporary folder with a process pool, in memory without one);
            otherwise each effect re-applies the earlier ones to the raw stem (memory: one stem per worker,
            compute: about twice).
        search: compression search when stems are compressed for the later features, ``"grid"`` or ``"fast"``;
            default ``"grid"`` in release mode, ``"fast"`` in fixed mode.

    Returns:
        ``(features, metadata)``; metadata names the songs given and counts the files averaged and the exclusions
        per effect and stem. A song that fails at any stage is in no average (``failed_songs``).

    Raises:
        ValueError: if some effect/stem has no usable file at all, or ``irs`` without ``seed``.
    """
    if irs:
        _require_seed(seed, "compute_features")
    executor = executor or InlineExecutor()
    lengths, failed = {}, {}
    for song in songs:
        try:
            lengths[song.name] = song_length(song)
        except ValueError as err:
            failed[song.name] = str(err)
    use_cache = sum(lengths.values()) * len(FEATURE_STEMS) * 2 * 4 <= cache_mb * 2 ** 20
    passes = 0
    while True:  # ends: every rerun starts with at least one song fewer
        passes += 1
        features, counts, seconds, late = _feature_pass(executor, songs, lengths, failed, use_cache, mode, seed,
                                                        irs, progress, search)
        if not late:
            break
        logger.warning("songs %s failed after the first feature stage; recomputing the features without them so "
                       "that no average includes them", sorted(late))
    n_files, excluded = counts
    metadata = {"mode": mode, "seed": seed, "with_reverb": bool(irs), "songs": sorted(s.name for s in songs),
                "n_songs": len(songs) - len(failed), "n_files": dict(n_files), "excluded": dict(excluded),
                "failed_songs": failed, "smoothed_at_save": True, "seconds_per_stage": seconds,
                "feature_cache": use_cache, "passes": passes}
    return features, metadata


def _feature_pass(executor, songs, lengths, failed, use_cache, mode, seed, irs, progress, search=None) -> tuple:
    """The feature stages over the songs not in ``failed`` (filled as songs fail).

    Returns:
        ``(features, counts, seconds, late)``: ``late`` is the set of songs that failed after the first stage
        (their values are in earlier averages: the pass stops there and must be rerun without them).
    """
    features, counts, seconds = {}, (defaultdict(dict), defaultdict(dict)), {}
    # Processed stems travel between stages as .npy files in a temporary folder when a process pool runs the tasks
    # (in memory when they run in this process).
    with tempfile.TemporaryDirectory(prefix="automix-features-") as cache_dir:
        to_files = cache_dir if use_cache and not isinstance(executor, InlineExecutor) else None
        cache = {}  # (song, stem) -> (stem after the effects applied so far, those effects, its analysis)
        for index, effect in enumerate(FEATURE_EFFECTS):
            stage_start = time.perf_counter()
            known = set(failed)
            jobs = _submit_stage(executor, songs, effect, features, cache, lengths, failed, use_cache, to_files,
                                 mode, seed, irs, search)
            before = _chain(irs)[:_chain(irs).index(effect)]
            values, reasons = _collect_stage(jobs, effect, before, cache, failed, progress)
            late = set(failed) - known if index > 0 else set()
            if late:
                return features, counts, seconds, late
            features[effect] = _average_stage(effect, values, reasons, failed, counts)
            seconds[effect] = time.perf_counter() - stage_start
    return features, counts, seconds, set()


def _chain(irs) -> list:
    return [e for e in EFFECTS if e != "reverb" or irs]


def _submit_stage(executor, songs, effect, features, cache, lengths, failed, use_cache, to_files, mode, seed,
                  irs, search=None) -> dict:
    """Submit one feature stage: one task per (song, stem); returns ``{future: (song, stem)}``."""
    before = _chain(irs)[:_chain(irs).index(effect)]
    keep = use_cache and effect != FEATURE_EFFECTS[-1]
    jobs = {}
    for song in (s for s in songs if s.name not in failed):
        for stem in FEATURE_STEMS:
            source, applied, analysis = cache.pop((song.name, stem), (str(song.stems[stem]), [], None))
            # unique per stage and task: a task never overwrites a file another task has still to read
            cache_file = os.path.join(to_files, f"{effect}-{len(jobs)}-{stem}.npy") if keep and to_files else None
            jobs[executor.submit(feature_task, source, lengths[song.name], song.name, stem, effect,
                                 _stem_features(features, stem), before[len(applied):], mode, seed, irs, keep,
                                 cache_file, analysis, search)] = (song, stem)
    return jobs


def _average_stage(effect: str, values: dict, reasons: dict, failed: dict, counts: tuple) -> dict:
    """Dataset feature per stem of one stage; fills ``counts = (n_files, excluded)``."""
    n_files, excluded = counts
    averaged = {}
    for stem in FEATURE_STEMS:
        kept = [values[stem][name] for name in sorted(values[stem]) if name not in failed]
        averaged[stem] = average_feature(effect, stem, kept)
        n_files[effect][stem] = len(kept)
        excluded[effect][stem] = dict(reasons[stem])
    logger.info("%s feature: files averaged %s, excluded %s", effect, n_files[effect], excluded[effect])
    return averaged


def _collect_stage(jobs: dict, effect: str, before: list, cache: dict, failed: dict, progress: bool) -> tuple:
    """Gather one stage's per-file features; fills ``cache`` (processed stems) and ``failed`` (song -> reason)."""
    values, reasons = defaultdict(dict), defaultdict(Counter)
    with _progress(len(jobs), f"features: {effect}", progress) as bar:
        for future in as_completed(jobs):
            song, stem = jobs[future]
            bar.update()
            try:
                value, status, processed, analysis = future.result()
            except BrokenProcessPool:  # a worker died (e.g. out of memory): no later task can run
                raise
            except Exception as err:  # noqa: BLE001 - a bad song is reported, the others continue
                failed[song.name] = _failure_reason(stem, err)
                what = f"song {song.name} failed ({effect} feature, {stem})"
                if not _log_unexpected(what, err):
                    logger.error("%s: %s", what, err)
                continue
            if processed is not None:
                cache[(song.name, stem)] = (processed, before, analysis)
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
    atomic_write_text(path, json.dumps(_json_safe(obj), indent=2))


def output_paths(song, suffix: str) -> tuple[dict, Path]:
    """``{stem: <song>/<stem>_<suffix>.wav}`` and ``<song>/normalization_<suffix>.json``."""
    return ({stem: song.path / f"{stem}_{suffix}.wav" for stem in FEATURE_STEMS},
            song.path / f"normalization_{suffix}.json")


def is_done(song, suffix: str) -> bool:
    """A song is done when its four normalized stems and its report exist (the report is written last)."""
    stems, report = output_paths(song, suffix)
    return report.is_file() and all(p.is_file() for p in stems.values())


def _submit_song(executor, song, suffix, features, effects, mode, seed, irs, pre_irs, search=None) -> dict:
    n_samples = song_length(song)
    outputs, _ = output_paths(song, suffix)
    # Stems with the reverb send cost ~1.5x the others: submitted first, so the workers finish together
    # (with 2 workers: vocals | other, then bass | drums) instead of one worker ending alone on a reverb stem.
    order = sorted(FEATURE_STEMS, key=lambda stem: stem not in REVERB_STEMS) if irs or pre_irs else FEATURE_STEMS
    return {executor.submit(normalize_task, str(song.stems[stem]), n_samples, song.name, stem, str(outputs[stem]),
                            _stem_features(features, stem), effects, mode, seed, irs, pre_irs, search): (song, stem)
            for stem in order}


def normalize_dataset(songs, features: dict, suffix: str, executor=None, mode: str = "fixed",
                      seed: int | None = None, irs=None, pre_irs=None, effects=EFFECTS, overwrite: bool = False,
                      progress: bool = True, search: str | None = None) -> dict:
    """Write ``<song>/<stem>_<suffix>.wav`` and ``<song>/normalization_<suffix>.json`` for every song.

    A song whose outputs and report already exist is skipped unless ``overwrite`` (so a killed run resumes); a song
    that fails (unreadable stem, release-mode crash, ...) is reported and the others continue. ``seed`` (required
    with ``irs`` or ``pre_irs``) seeds each stem's draws by ``(seed, song name, stem)``: the bytes of a song do not
    depend on the other songs, so any split of the songs over runs or machines gives the same files. ``search``: the
    compression search, ``"grid"`` or ``"fast"`` (default: ``"grid"`` in release mode, ``"fast"`` in fixed mode).

    Returns:
        summary dict: ``done`` / ``skipped`` (song names), ``failed`` ({song: reason}), ``seconds_per_song``
        (worker seconds per processed song), ``wall_seconds``.
    """
    if irs or pre_irs:
        _require_seed(seed, "normalize_dataset")
    executor = executor or InlineExecutor()
    start = time.perf_counter()
    summary = {"done": [], "skipped": [], "failed": {}, "seconds_per_song": None, "wall_seconds": None}
    jobs, pending = {}, {}
    for song in songs:
        if not overwrite and is_done(song, suffix):
            summary["skipped"].append(song.name)
            continue
        try:
            jobs.update(_submit_song(executor, song, suffix, features, effects, mode, seed, irs, pre_irs, search))
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
            except BrokenProcessPool:  # a worker died (e.g. out of memory): no later task can run
                raise
            except Exception as err:  # noqa: BLE001 - reported per song (one line, or with the traceback)
                _log_unexpected(f"song {song.name}, stem {stem}", err)
                state["error"] = state["error"] or _failure_reason(stem, err)
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
