"""Benchmark of effect normalization on one 3-minute, 4-stem song: seconds per effect, in total, compressor passes.

Usage: ``python benchmarks/bench_normalization.py [--minutes 3] [--workers 2] [--demo-dir demo_data] [--mode fixed]``

The song is built by looping the stems of a demo-dataset song (``--demo-dir``, default ``<repo>/demo_data``, made
by ``python -m automix.demo``) or, if there is none, seeded synthetic stems. It prints:
1. per-effect seconds of the features and matching code, stem by stem on one core (no pool);
2. the real two passes through the process pool (``--workers``, one pool for both, start-up counted apart): the
   features pass (per stage; processed stems handed between stages as temporary ``.npy`` files) and the
   normalization pass (with the reverb send if ``--irs`` is given), plus the number of compressor passes;
3. the bound of the compression search (CPU seconds of one pass, worst case if every stem needs the most passes).
Wall figures are only meaningful on a quiet machine: the load average is printed at start and end.
Reference (spec §1.12, release on a 2-core machine): 87.5 s per 3-minute song (EQ 33 s, panning 29 s, compression
17 s, loudness 8 s). Target: <= 5 s per song (>= 17x).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from automix import audio
from automix.fxnorm.features import FEATURE_STEMS
from automix.fxnorm.dynamics import MAX_RATIO, THRESHOLDS_DB
from automix.fxnorm.normalize import FEATURE_EFFECTS, apply_effect, effect_feature, pad

MAX_SEARCH_PASSES = 12  # fast_search_compression: 2 + 4 (ratio bisection, 17 ratios) + 6 (61 thresholds)

REPO_ROOT = Path(__file__).resolve().parents[1]


def synthetic_stems(seconds: float, seed: int = 0) -> dict:
    """Seeded stems with transients (so the compressor has onsets) and different pans."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    tones = {"vocals": 220.0, "bass": 55.0, "drums": 0.0, "other": 330.0}
    stems = {}
    for index, stem in enumerate(FEATURE_STEMS):
        envelope = np.exp(-(t % (0.25 + 0.125 * index)) * (8 + 6 * index))
        source = rng.standard_normal(t.size) if stem == "drums" else np.sin(2 * np.pi * tones[stem] * t * (
            1 + 0.25 * ((t // 2) % 3)))
        pan = rng.uniform(0.25, 0.75)
        stems[stem] = (np.stack([source * (1 - pan), source * pan], 1) * envelope[:, None] * 0.4).astype(np.float32)
    return stems


def looped_song(demo_dir: Path, seconds: float) -> tuple[dict, str]:
    songs = sorted((demo_dir / "wet" / "train").glob("*/vocals.wav")) if demo_dir.is_dir() else []
    if not songs:
        return synthetic_stems(seconds), "synthetic stems"
    n = int(seconds * audio.SAMPLE_RATE)
    stems = {s: np.resize(audio.read(songs[0].parent / f"{s}.wav").T, (2, n)).T.copy() for s in FEATURE_STEMS}
    return stems, f"demo song {songs[0].parent.name} looped"


def profile_effects(stems: dict, features: dict, mode: str) -> dict:
    """CPU seconds per effect (feature + matching, summed over stems), sequential chain on one core.

    CPU time (``process_time``) rather than wall time, so that other jobs on a shared machine inflate it less.
    """
    totals = dict.fromkeys(FEATURE_EFFECTS, 0.0)
    passes = 0
    for stem, x in stems.items():
        y = pad(x)
        for effect in FEATURE_EFFECTS:
            start = time.process_time()
            effect_feature(effect, y)
            y, report = apply_effect(effect, y, stem, features, mode)
            totals[effect] += time.process_time() - start
            if effect == "compression":
                passes += sum(c.get("n_passes", 0) for c in report["channels"])
    return {**totals, "compressor_passes": passes}


def _worker_pid(delay_s: float) -> int:
    time.sleep(delay_s)
    return os.getpid()


def start_workers(executor, workers: int) -> None:
    """Return once ``workers`` distinct processes have run a task (all started and initialized)."""
    seen = set()
    while len(seen) < workers:
        seen.update(executor.map(_worker_pid, [0.01] * workers))


def search_bound(stems: dict, typical_cpu_s: float) -> str:
    """Worst case of the bounded compression search: CPU seconds of one pass (compressor + onset statistic)."""
    from automix.fxnorm.dynamics import _Trials, peak_normalize

    trials = _Trials(peak_normalize(pad(stems["drums"])), -np.inf, "drums", audio.SAMPLE_RATE)
    start = time.process_time()
    trials.run(MAX_RATIO, len(THRESHOLDS_DB) - 1)
    per_pass = time.process_time() - start
    worst = typical_cpu_s + len(stems) * MAX_SEARCH_PASSES * per_pass
    return (f"compression search bound: <= {MAX_SEARCH_PASSES} passes per stem, {per_pass:.2f} CPU s per pass; worst "
            f"case (every stem at the bound) {worst:.1f} CPU s per song vs {typical_cpu_s:.1f} s measured here "
            f"({worst / typical_cpu_s:.1f}x)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--demo-dir", type=Path, default=REPO_ROOT / "demo_data")
    parser.add_argument("--irs", type=Path, help="reverb IR folder (adds the reverb send to the normalization pass)")
    parser.add_argument("--mode", choices=("fixed", "release"), default="fixed")
    args = parser.parse_args(argv)

    from automix.dataset import discover_songs
    from automix.fxnorm import compute_features, find_impulse_responses, make_executor, normalize_dataset

    stems, source = looped_song(args.demo_dir, args.minutes * 60)
    print(f"song: {args.minutes:g} min, 4 stems ({source}); mode {args.mode}; load average at start "
          f"{os.getloadavg()[0]:.2f} (wall figures need a quiet machine: < ~1.2 on 2 cores)")
    with tempfile.TemporaryDirectory() as tmp:
        song_dir = Path(tmp) / "split" / "song"
        for stem, x in stems.items():
            audio.write(song_dir / f"{stem}.wav", x)
        songs = discover_songs(song_dir.parent)
        irs = find_impulse_responses(args.irs) if args.irs else None
        start = time.perf_counter()
        with make_executor(args.workers) as executor:
            start_workers(executor, args.workers)  # counted apart: every worker has finished its start-up
            pool_start = time.perf_counter() - start
            t0 = time.perf_counter()
            features, metadata = compute_features(songs, executor, args.mode, progress=False)
            features_wall = time.perf_counter() - t0
            t0 = time.perf_counter()
            summary = normalize_dataset(songs, features, "bench", executor, args.mode, seed=0, irs=irs,
                                        progress=False)
            normalize_wall = time.perf_counter() - t0
        report = __import__("json").loads((song_dir / "normalization_bench.json").read_text())
    per_effect = {e: sum(s.get(e, {}).get("seconds", 0.0) for s in report["stems"].values())
                  for e in ("reverb", *FEATURE_EFFECTS)}
    passes = sum(c.get("n_passes", 0) for s in report["stems"].values() for c in s["compression"]["channels"])
    print(f"pool start-up ({args.workers} workers, spawn): {pool_start:.2f} s (once per run)")
    print(f"features pass (feature cache {'on' if metadata['feature_cache'] else 'off'}), wall seconds per stage: "
          + ", ".join(f"{e} {s:.2f}" for e, s in metadata["seconds_per_stage"].items())
          + f"; total {features_wall:.2f} s")
    print("normalization pass, worker seconds per effect (4 stems): "
          + ", ".join(f"{e} {s:.2f}" for e, s in per_effect.items() if s)
          + f"; wall {normalize_wall:.2f} s; compressor passes {passes}")
    print(f"whole song (features + normalization, wall, {args.workers} workers): "
          f"{features_wall + normalize_wall:.2f} s; normalization only: {normalize_wall:.2f} s "
          f"(release: 87.5 s; target 5 s); failed: {summary['failed'] or 'none'}")
    profile = profile_effects(stems, features, args.mode)
    print("one core, CPU seconds of feature + matching per effect (4 stems): "
          + ", ".join(f"{e} {profile[e]:.2f} s" for e in FEATURE_EFFECTS)
          + f"; total {sum(profile[e] for e in FEATURE_EFFECTS):.2f} s; compressor passes "
          f"{profile['compressor_passes']}")
    print(search_bound(stems, sum(profile[e] for e in FEATURE_EFFECTS)))
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
