"""Evaluate mixing systems on a test split: mix every song with every system, measure, write the report.

Per song and system the mix goes through :class:`automix.mixer.Mixer` (the one path from stems to mix that
inference uses) and is written to ``<output>/<song>/<prefix>_<system>_mixture.wav``; the song's metrics are written
last to ``<output>/<song>/metrics.json``, so a rerun skips what is already there (``overwrite`` redoes it).

Per song, the stems are effect-normalized once for all the systems (:meth:`Mixer.normalize
<automix.mixer.Mixer.normalize>`: they share the mode, seed, features and IRs, so their normalizations would be
identical), and the reference is analysed once (its per-family series are reused for every system's metrics).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from automix.atomic import atomic_write_text
from automix.audio import read as read_audio
from automix.audio import write as write_audio
from automix.evaluation import report, summary
from automix.evaluation.metrics import Analysis, all_metrics
from automix.evaluation.silence import active_bounds
from automix.conventions import SAMPLE_RATE

logger = logging.getLogger(__name__)

BASELINE = "baseline"
STEMS = ("vocals", "bass", "drums", "other")


@dataclass
class SystemSpec:
    """A system to evaluate: a name and how to build its :class:`~automix.mixer.Mixer`.

    ``kind`` is ``"baseline"`` (normalized sum), ``"results"`` (a training results folder in ``results``) or
    ``"files"`` (``config`` + ``weights`` paths, the release's ``--training-params``/``--weights``).
    """

    name: str
    kind: str
    results: str | None = None
    config: str | None = None
    weights: str | None = None


@dataclass
class EvaluationOutcome:
    songs_done: list = field(default_factory=list)
    songs_skipped: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    report_path: Path | None = None
    seconds: float = 0.0


def build_mixer(system: SystemSpec, mixer_args: dict):
    from automix.mixer import Mixer

    if system.kind == "baseline":
        return Mixer.baseline(**mixer_args)
    if system.kind == "results":
        return Mixer.from_results(system.results, **mixer_args)
    return Mixer(system.config, system.weights, **mixer_args)


def stereo_losses(reference: np.ndarray, estimate: np.ndarray) -> dict:
    """The paper's stereo losses on a whole song (no guard frames): ``stereo_loss`` (Lb) and ``stereo_loss_La``.

    Both from one filtering and STFT (:meth:`automix.losses.StereoLoss.evaluate`), with float64 sums.
    """
    import torch

    from automix.losses import StereoLoss

    ref = torch.from_numpy(np.ascontiguousarray(np.asarray(reference, np.float32).T))
    est = torch.from_numpy(np.ascontiguousarray(np.asarray(estimate, np.float32).T))
    values = StereoLoss("Lb", guard_frames=0).evaluate(est, ref)
    return {"stereo_loss": values["Lb"], "stereo_loss_La": values["La"]}


def song_metrics(reference: np.ndarray, estimate: np.ndarray, cache: dict | None = None) -> tuple[dict, list]:
    """Every metric of one mix against its reference (both 44.1 kHz ``(n, 2)``), after silence trimming.

    Args:
        cache: a dict kept by the caller while it compares several mixes with the same ``reference``: the trimmed
            reference and its :class:`~automix.evaluation.metrics.Analysis` (per-family series) are made once.
    """
    notes = []
    n = min(reference.shape[0], estimate.shape[0])
    if abs(reference.shape[0] - estimate.shape[0]) > SAMPLE_RATE // 10:
        notes.append(f"mix ({estimate.shape[0]} samples) and reference ({reference.shape[0]}) differ in length; "
                     f"compared over the first {n}")
    cache = {} if cache is None else cache
    if n not in cache:
        start, stop = active_bounds(reference[:n], SAMPLE_RATE)
        trimmed = reference[start:stop]
        cache[n] = (start, stop, trimmed, Analysis(trimmed))
    start, stop, reference, analysis = cache[n]
    estimate = estimate[start:stop]  # the reference's active bounds (trim_silence), so the two stay aligned
    values, family_notes = all_metrics(reference, estimate, reference_analysis=analysis)
    values.update(stereo_losses(reference, estimate))
    return values, notes + family_notes


def _to_44k(result) -> np.ndarray:
    if result.sample_rate == SAMPLE_RATE:
        return result.audio
    import soxr

    return soxr.resample(result.audio, result.sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)


def _load_done(song_dir: Path, systems: list[str]) -> dict | None:
    path = song_dir / "metrics.json"
    if not path.is_file():
        return None
    done = json.loads(path.read_text())
    return done if all(name in done.get("systems", {}) for name in systems) else None


def evaluate_song(song, mixers: dict, output: Path, prefix: str, reference_path: Path) -> dict:
    """Mix one song with every system (the stems normalized once), write the mixes, plots and excerpts; returns the
    song's metrics record."""
    song_dir = output / song.name
    song_dir.mkdir(parents=True, exist_ok=True)
    reference = read_audio(reference_path)
    stems = {stem: str(path) for stem, path in song.stems.items()}
    record = {"systems": {}, "notes": [], "mix_reports": {}}
    mixes, normalized, reference_cache = {}, None, {}
    for name, mixer in mixers.items():
        # the systems built from one set of mixer arguments normalize identically: normalize the song once
        if normalized is None or normalized.settings != mixer.normalization_settings():
            normalized = mixer.normalize(stems, name=song.name)
        result = mixer.mix_normalized(normalized)
        write_audio(song_dir / f"{prefix}_{name}_mixture.wav", result.audio, result.sample_rate, "PCM_16")
        mixes[name] = _to_44k(result)
        values, notes = song_metrics(reference, mixes[name], reference_cache)
        record["systems"][name] = values
        record["notes"] += [f"{name}: {note}" for note in notes]
        record["mix_reports"][name] = {"real_time_factor": result.report.get("real_time_factor"),
                                       "notes": result.report.get("notes", [])}
    n = reference.shape[0]
    mixes = {k: np.pad(v, ((0, max(0, n - v.shape[0])), (0, 0)))[:n] for k, v in mixes.items()}
    record["media"] = {"plots": report.plot_song(output, song.name, reference, mixes),
                       "audio": report.write_excerpts(output, song.name, reference, mixes)}
    atomic_write_text(song_dir / "metrics.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def evaluate(songs: list, reference_paths: dict, systems: list[SystemSpec], output, mixer_args: dict,
             prefix: str = "eval", overwrite: bool = False, seed: int = 0, failed: dict | None = None,
             progress: bool = True) -> EvaluationOutcome:
    """Evaluate ``systems`` on ``songs`` and write ``metrics.csv``, ``summary.json`` and ``report.html``.

    Args:
        songs: :class:`automix.dataset.Song` entries (stems to mix).
        reference_paths: song name -> reference mixture file.
        systems: what to compare (the baseline first by convention).
        output: output folder (created).
        mixer_args: keyword arguments of every :class:`~automix.mixer.Mixer` (features, mode, device, seed, IRs...).
        failed: songs already known to be unusable (name -> reason), reported with the others.
    """
    start = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    outcome = EvaluationOutcome(failed=dict(failed or {}))
    mixers = {system.name: build_mixer(system, mixer_args) for system in systems}
    records = {}
    for song in tqdm(songs, desc="evaluating", unit="song", disable=not progress):
        done = None if overwrite else _load_done(output / song.name, list(mixers))
        if done is not None:
            records[song.name] = done
            outcome.songs_skipped.append(song.name)
            continue
        try:
            records[song.name] = evaluate_song(song, mixers, output, prefix, reference_paths[song.name])
            outcome.songs_done.append(song.name)
        except (ValueError, FileNotFoundError) as err:  # AudioError is a ValueError: a bad song, the others go on
            logger.error("%s: %s", song.name, err)
            outcome.failed[song.name] = str(err)
    rows = [summary.Row(song, system, metric, float(value))
            for song, record in records.items() for system, values in record["systems"].items()
            if system in mixers for metric, value in values.items()]
    stats = summary.summarize(rows, seed=seed)
    notes = {song: record["notes"] for song, record in records.items() if record["notes"]}
    notes.update({song: [f"failed: {reason}"] for song, reason in outcome.failed.items()})
    summary.write_metrics_csv(output / "metrics.csv", rows)
    summary.write_summary_json(output / "summary.json", stats, seed, 2000, notes)
    per_song = {song: {s: v for s, v in record["systems"].items() if s in mixers} for song, record in records.items()}
    media = {song: record["media"] for song, record in records.items()}
    outcome.report_path = report.write_report(output, stats, per_song, media, notes=notes)
    outcome.seconds = time.perf_counter() - start
    return outcome
