"""End-to-end inference benchmark: ``automix mix`` on a 4-stem song (read, normalize, mix, write), split by stage.

    python benchmarks/bench_inference.py                      # 3-min and 10-min songs, 2 CPU cores
    python benchmarks/bench_inference.py --minutes 3 --cores 2 --baseline

Each run is a fresh ``python -m automix.inference`` process pinned to ``--cores`` CPUs (``sched_setaffinity``),
as a user would start it: full-size FxNorm-Automix (the ours_S_Lb architecture, seeded weights: speed and memory do
not depend on the values), stems written as 16-bit WAV, the reverb send off (already-wet stems), fixed mode. The
song is a demo song looped (``--demo-dir``, default ``<repo>/demo_data``) or seeded synthetic stems; the features
are the official ones when ``--features`` is given, else synthetic ones in the right format.

Reported per run: seconds per stage from the ``--report`` JSON (read, normalize, mix, write), wall time of the
process (with Python/torch start-up), CPU seconds of all its processes, real-time factor (audio seconds per
processing second), peak RSS of the main process, of the largest normalization worker and of the whole process
tree (their sum), sampled with psutil every 20 ms, and the largest process by ``ru_maxrss``. Goal: >= 6x real time for 3 minutes on 2 cores, peak RSS < 3 GB at 10
minutes. Figures are only meaningful on a quiet machine: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 44100
STEMS = ("vocals", "bass", "drums", "other")
OURS_CONFIG = {"NET_TYPE": "CAFX_TDCN_MIX", "INPUTS": [f"{s}_normalized" for s in STEMS], "OUTPUTS": ["mixture"],
               "TRAINING_SEQ_LENGTH": 440960}


def synthetic_stems(seconds: float, seed: int = 0) -> dict:
    """Seeded stems with transients (onsets for the compressor) and different pans, float32 ``(n, 2)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tones = {"vocals": 220.0, "bass": 55.0, "drums": 0.0, "other": 330.0}
    stems = {}
    for index, stem in enumerate(STEMS):
        envelope = np.exp(-(t % (0.25 + 0.125 * index)) * (8 + 6 * index))
        source = rng.standard_normal(t.size) if stem == "drums" else np.sin(
            2 * np.pi * tones[stem] * t * (1 + 0.25 * ((t // 2) % 3)))
        pan = rng.uniform(0.25, 0.75)
        stems[stem] = (np.stack([source * (1 - pan), source * pan], 1) * envelope[:, None] * 0.4).astype(np.float32)
    return stems


def song_stems(demo_dir: Path, seconds: float) -> tuple[dict, str]:
    from automix import audio

    songs = sorted((demo_dir / "wet" / "train").glob("*/vocals.wav")) if demo_dir.is_dir() else []
    if not songs:
        return synthetic_stems(seconds), "synthetic stems"
    n = int(seconds * SAMPLE_RATE)
    stems = {s: np.resize(audio.read(songs[0].parent / f"{s}.wav").T, (2, n)).T.copy() for s in STEMS}
    return stems, f"demo song {songs[0].parent.name} looped"


def prepare(folder: Path, minutes: float, demo_dir: Path, features: str | None) -> tuple[dict, str]:
    """Write the stems, the features (unless given) and the network; returns the CLI paths and a description."""
    import torch

    from automix import audio
    from automix.fxnorm.features import save_features
    from automix.models import build_model

    stems, description = song_stems(demo_dir, minutes * 60)
    paths = {}
    for stem, x in stems.items():
        paths[stem] = folder / f"{stem}.wav"
        audio.write(paths[stem], x, SAMPLE_RATE, "PCM_16")
    if features is None:
        flat = np.ones(32769, np.float32)
        features = folder / "features.npz"
        save_features(features, {"eq": dict.fromkeys(STEMS, flat), "panning": dict.fromkeys(STEMS, flat * 0.85),
                                 "compression": dict.fromkeys(STEMS, np.array([-14.0, 1.3])),
                                 "loudness": dict.fromkeys(STEMS, np.array([-28.0]))}, {"mode": "fixed"})
    (folder / "config.json").write_text(json.dumps(OURS_CONFIG))
    torch.save(build_model(OURS_CONFIG, seed=0).state_dict(), folder / "weights.params")
    return {"stems": paths, "features": str(features), "config": folder / "config.json",
            "weights": folder / "weights.params"}, description


class TreeRss(threading.Thread):
    """Samples the summed RSS of a process and its descendants (psutil), keeping the peak in bytes."""

    def __init__(self, pid: int, interval: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak, self.done = pid, interval, 0, threading.Event()
        self.per_process = {}  # pid -> peak RSS in bytes

    def run(self):
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.done.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    try:
                        rss = proc.memory_info().rss
                        total += rss
                        self.per_process[proc.pid] = max(self.per_process.get(proc.pid, 0), rss)
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                break
            self.peak = max(self.peak, total)
            time.sleep(self.interval)


def run_once(inputs: dict, out_dir: Path, cores: int, baseline: bool, mode: str, timeout: float) -> dict:
    report = out_dir / "report.json"
    args = [sys.executable, "-m", "automix.inference", "--features", inputs["features"], "--output",
            str(out_dir / "mix.wav"), "--report", str(report), "--device", "cpu", "--mode", mode, "--quiet"]
    args += ["--baseline-sum"] if baseline else ["--training-params", str(inputs["config"]), "--weights",
                                                 str(inputs["weights"])]
    for stem, path in inputs["stems"].items():
        args += [f"--{stem}", str(path)]
    if mode == "release":
        args.append("--allow-features-mismatch")
    available = sorted(os.sched_getaffinity(0))
    chosen = set(available[:cores])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": str(cores)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=out_dir, preexec_fn=lambda: os.sched_setaffinity(0, chosen),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeRss(proc.pid)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SystemExit(f"timed out after {timeout} s")
    wall = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"automix.inference failed ({proc.returncode}):\n{stdout}\n{stderr}")
    data = json.loads(report.read_text())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_seconds": cpu, "seconds": data["seconds"], "real_time_factor": data["real_time_factor"],
            "duration": data["duration_seconds"], "wall": wall, "cores": len(chosen),
            "largest_process_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20,
            "main_gb": sampler.per_process.get(proc.pid, 0) / 2**30,
            "worker_gb": max([v for k, v in sampler.per_process.items() if k != proc.pid], default=0) / 2**30,
            "tree_peak_gb": sampler.peak / 2**30}


MIX_ONLY = """
import json, sys, time, torch
from automix.mixing import mix
from automix.models import build_model
model = build_model(json.loads(sys.argv[1]), seed=0).eval()
x = torch.rand((8, int(float(sys.argv[2]) * 44100)), generator=torch.Generator().manual_seed(0)).sub_(0.5).mul_(0.5)
start = time.perf_counter()
mix(model, x)
print(time.perf_counter() - start)
"""


def run_mix_only(minutes: float, cores: int, timeout: float) -> float:
    """Seconds of :func:`automix.mixing.mix` alone on random stems of the same length, same CPUs (a reference
    taken under the same machine load)."""
    chosen = set(sorted(os.sched_getaffinity(0))[:cores])
    done = subprocess.run([sys.executable, "-c", MIX_ONLY, json.dumps(OURS_CONFIG), str(minutes * 60)],
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=lambda: os.sched_setaffinity(0, chosen))
    if done.returncode:
        raise SystemExit(f"mix-only run failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[3.0, 10.0])
    parser.add_argument("--cores", type=int, default=2, help="CPUs the run may use (default 2)")
    parser.add_argument("--baseline", action="store_true", help="--baseline-sum instead of the network")
    parser.add_argument("--mode", choices=("fixed", "release"), default="fixed")
    parser.add_argument("--features", help="features .npz (default: synthetic ones)")
    parser.add_argument("--demo-dir", type=Path, default=REPO_ROOT / "demo_data")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per run, seconds")
    parser.add_argument("--mix-only", action="store_true", help="also time automix.mixing.mix alone on the same "
                        "length (a reference under the same load: end-to-end time / mix-only time)")
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()}")
    for minutes in args.minutes:
        with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
            inputs, description = prepare(Path(tmp), minutes, args.demo_dir, args.features)
            result = run_once(inputs, Path(tmp), args.cores, args.baseline, args.mode, args.timeout)
        sec = result["seconds"]
        stages = ", ".join(f"{k} {sec[k]:.2f} s" for k in ("read", "normalize", "mix", "write"))
        print(f"{minutes:g} min ({description}), {result['cores']} cores, "
              f"{'baseline sum' if args.baseline else 'FxNorm-Automix'}, mode {args.mode}: {stages}; "
              f"total {sec['total']:.2f} s = {result['real_time_factor']:.2f}x real time "
              f"(process wall {result['wall']:.2f} s incl. start-up = {result['duration'] / result['wall']:.2f}x; "
              f"CPU {result['cpu_seconds']:.1f} s in all processes); "
              f"peak RSS: main process {result['main_gb']:.2f} GB, largest worker {result['worker_gb']:.2f} GB, "
              f"largest process (ru_maxrss) {result['largest_process_gb']:.2f} GB, whole tree (sum) "
              f"{result['tree_peak_gb']:.2f} GB", flush=True)
        if args.mix_only and not args.baseline:
            alone = run_mix_only(minutes, args.cores, args.timeout)
            print(f"  mix alone (automix.mixing.mix, same length and cores): {alone:.2f} s; end to end / mix alone "
                  f"= {sec['total'] / alone:.3f}", flush=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
