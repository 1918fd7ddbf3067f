"""Training speed on CPU: the trainer's step for every ISMIR and demo config, and the data loader's throughput.

    python benchmarks/bench_training.py                       # all rows (~10 min on 2 cores)
    python benchmarks/bench_training.py --quick               # ISMIR steps on 3 s instead of 10 s
    python benchmarks/bench_training.py --threads 1 --rounds 3   # on a shared machine: 1 thread, ratios per round

Step rows: ``automix.train.Trainer.train_step`` (forward, loss, backward, clipping, AMSGrad; float32) in a separate
process each, on random stems; ISMIR configs with a batch of 1 x 10 s, demo configs with their own batch and
segment. ``ours_S_Lb (release forward)`` is the same step with the release's forward transcribed step by step
(``tests/release_reference.py``), measured in the same run so the two can be compared as a ratio on a machine whose
load changes. Loader rows: ``automix.data.TrainingBatches`` alone in the main process (= one loader worker) on the
demo dataset, examples per second, and how many workers a config needs to keep up with its step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ISMIR = ["ours_S_Lb", "ours_S_La", "ours_S_pretrained", "wun_S_Lb"]
DEMO = ["ours_demo_pretrained", "ours_demo_La", "wun_demo_La"]


def _config_path(name: str) -> Path:
    return REPO_ROOT / "configs" / ("ISMIR" if name in ISMIR else "demo") / f"{name}.py"


def _bench_config(name: str, seconds: float):
    """The config, with ISMIR configs at batch 1 x ``seconds`` (a multiple of 64 samples)."""
    from automix.config import load_config

    overrides = {}
    if name in ISMIR:
        overrides = {"BATCH_SIZE": 1, "TRAINING_SEQ_LENGTH": int(seconds * 44100) // 64 * 64}
    return load_config(_config_path(name), overrides)


def _release_forward():
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    try:
        from release_reference import release_forward
    except ImportError:  # older layout: the transcription lived on the model
        def release_forward(model, x):
            return model.forward_reference(x)
    return release_forward


class _ReleaseStyle:
    """Calls the release-style forward of a network where the trainer calls the network."""

    def __init__(self, net):
        self.net, self.forward = net, _release_forward()

    def __call__(self, x):
        return self.forward(self.net, x)

    def train(self, mode=True):
        self.net.train(mode)
        return self

    def eval(self):
        return self.train(False)


def run_step(name: str, seconds: float, release: bool, steps: int) -> dict:
    import torch

    from automix.models import build_model
    from automix.train.trainer import Trainer, TrainOptions

    config = _bench_config(name, seconds)
    trainer = Trainer(build_model(config, seed=0), config, TrainOptions(progress=False))
    for group in trainer.optimizer.param_groups:
        group["lr"] = 1e-3
    if release:
        trainer.model = _ReleaseStyle(trainer.net)
    generator = torch.Generator().manual_seed(0)
    n_in, n_out = len(config["INPUTS"]), len(config["OUTPUTS"])
    shape = (config["BATCH_SIZE"], 2, config["TRAINING_SEQ_LENGTH"])
    batch = {"inputs": (torch.rand((shape[0], 2 * n_in, shape[2]), generator=generator) - 0.5) * 0.5,
             "targets": (torch.rand((n_out, *shape), generator=generator) - 0.5) * 0.5}
    trainer.model.train()
    times, losses = [], []
    for _ in range(steps):
        torch.manual_seed(0)  # the same dropout draws for both forwards
        start = time.perf_counter()
        loss, _, _ = trainer.train_step(batch)
        times.append(time.perf_counter() - start)
        losses.append(loss)
    return {"step_s": min(times[1:]) if len(times) > 1 else times[0], "first_step_s": times[0], "loss": losses[0],
            "examples": config["BATCH_SIZE"], "audio_s": config["BATCH_SIZE"] * shape[2] / 44100}


def run_loader(name: str, data: Path, irs: Path, n_batches: int) -> dict:
    from automix.config import load_config
    from automix.data import TrainingBatches, find_songs
    from automix.data.augment import build_augmentation

    config = load_config(_config_path(name))
    if name in ISMIR:  # the release's segments (10 s; 3 s for pre-training); no augmentation
        config = {**config, "BATCH_SIZE": 4 if config["BATCH_SIZE"] > 4 else config["BATCH_SIZE"]}
    songs = find_songs([(str(data / "train"), False)], list(config["INPUTS"]) + list(config["OUTPUTS"]))
    augmentation = build_augmentation(config.get("AUGMENTATION"), irs) if config.get("AUGMENTATION") else None
    dataset = TrainingBatches(songs, config["INPUTS"], config["OUTPUTS"], config["TRAINING_SEQ_LENGTH"],
                              config["BATCH_SIZE"], n_batches, seed=0, augmentation=augmentation)
    dataset[0]  # first reads: file headers, IR cache
    start = time.perf_counter()
    for i in range(1, n_batches):
        dataset[i]
    elapsed = time.perf_counter() - start
    return {"examples_per_s": (n_batches - 1) * config["BATCH_SIZE"] / elapsed, "augmented": augmentation is not None,
            "segment_s": config["TRAINING_SEQ_LENGTH"] / 44100}


def _child(args) -> None:
    import torch

    from automix.mixing import reuse_freed_memory

    torch.set_num_threads(args.threads or os.cpu_count())
    reuse_freed_memory()  # as the training command does
    if args.kind == "step":
        result = run_step(args.name, args.seconds, args.release, args.steps)
    else:
        result = run_loader(args.name, Path(args.data), Path(args.irs), args.batches)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(result))


def _measure(args, kind: str, name: str, **extra) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--name", name, "--threads", str(args.threads),
               "--seconds", str(3.0 if args.quick else 10.0), "--data", str(args.data), "--irs", str(args.irs)]
    for key, value in extra.items():
        if value is not False:
            command += [f"--{key}"] if value is True else [f"--{key}", str(value)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or [f"rc {done.returncode}"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="ISMIR steps on 3 s instead of 10 s")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "demo_data" / "wet", help="normalized demo data")
    parser.add_argument("--irs", type=Path, default=REPO_ROOT / "demo_data" / "irs" / "reverb")
    parser.add_argument("--skip-wun", action="store_true", help="leave out the ISMIR Wave-U-Net step (~3 min)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the two ours_S_Lb rows")
    parser.add_argument("--child", choices=["step", "loader"], dest="kind", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--release", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, default=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.kind:
        _child(args)
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU cores: {os.cpu_count()}, torch threads: {args.threads or os.cpu_count()}, load average at start "
          f"{load:.1f}; each row a separate process")
    steps = {}
    print(f"{'step':34} {'batch':>12} {'s/step':>8} {'examples/s':>10} {'peak RSS':>9}")
    # rounds of the two ours_S_Lb rows, alternating: their ratio within a round is what a loaded machine still
    # measures well; then every other config once
    plan = [("ours_S_Lb", release) for _ in range(args.rounds) for release in (False, True)]
    plan += [(n, False) for n in ISMIR[1:] if not (args.skip_wun and n == "wun_S_Lb")] + [(n, False) for n in DEMO]
    ratios = []
    for name, release in plan:
        result = _measure(args, "step", name, release=release, steps=2 if name == "wun_S_Lb" else 3)
        label = f"{name} ({'release' if release else 'automix'} forward)"
        if release and "step_s" in result and "step_s" in steps.get((name, False), {}):
            ratios.append(result["step_s"] / steps[(name, False)]["step_s"])
        steps[(name, release)] = result
        if "error" in result:
            print(f"{label:34} failed: {result['error'][:80]}", flush=True)
            continue
        batch = f"{result['examples']} x {result['audio_s'] / result['examples']:.1f} s"
        print(f"{label:34} {batch:>12} {result['step_s']:8.2f} {result['examples'] / result['step_s']:10.2f} "
              f"{result['peak_rss_gb']:8.2f}G", flush=True)
    fast, slow = steps.get(("ours_S_Lb", False), {}), steps.get(("ours_S_Lb", True), {})
    if ratios:
        print(f"ours_S_Lb: release-style step / automix step, per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"median {sorted(ratios)[len(ratios) // 2]:.2f}x (losses {fast['loss']:.6f} vs {slow['loss']:.6f})")
    if not (args.data / "train").is_dir():
        print(f"loader rows skipped: no {args.data}/train (make the demo data with scripts/demo.sh)")
        return
    print(f"\n{'loader (1 worker)':34} {'segment':>8} {'examples/s':>10} {'workers to keep up':>19}")
    for name in ISMIR[:1] + ISMIR[2:3] + DEMO:
        result = _measure(args, "loader", name)
        if "error" in result:
            print(f"{name:34} failed: {result['error'][:80]}", flush=True)
            continue
        step = steps.get((name, False), {})
        need = "-"
        if "step_s" in step and name in DEMO:  # ISMIR steps were timed at batch 1 x 10 s
            need = str(math.ceil(step["examples"] / step["step_s"] / result["examples_per_s"]))
        elif "step_s" in step:
            per_example = step["step_s"] / step["examples"] * result["segment_s"] / (step["audio_s"] / step["examples"])
            need = str(math.ceil(1.0 / per_example / result["examples_per_s"]))
        tag = " (+reverb aug.)" if result["augmented"] else ""
        print(f"{name + tag:34} {result['segment_s']:7.1f}s {result['examples_per_s']:10.1f} {need:>19}", flush=True)


if __name__ == "__main__":
    main()
