"""Speed and memory of the networks on CPU: mixing real-time factor, peak RSS, training-step time.

Every measurement runs in its own subprocess (so peak RSS is per run) with torch threads = CPU cores.

    python benchmarks/bench_models.py            # FxNorm-Automix 30 s + 10 min, release one-pass 30 s, WUN 30 s,
                                                 # training steps (ours, release-style, WUN)
    python benchmarks/bench_models.py --quick    # short inputs, for development
    python benchmarks/bench_models.py --full     # also the 10-min Wave-U-Net run (~1 h on 2 cores)
    python benchmarks/bench_models.py --only train --nets ours --repeats 3   # training steps of FxNorm-Automix only,
                                                 # 3 rounds: per-row medians and the ratio to the release forward

Real-time factor = audio seconds per compute second (higher is faster). A training-step row is the median of its
timed steps (the first, warm-up step is not counted). The weights are a seeded default init (speed and memory do
not depend on the values). The release-style forward is ``tests/release_reference.py`` (one copy, shared with the
tests). On a shared machine compare rows of one run (``--repeats`` alternates the rows), not absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the release-style forward lives with the tests (one copy)

SAMPLE_RATE = 44100
MIX_CONFIG = {"NET_TYPE": "CAFX_TDCN_MIX", "PRETRAIN": False, "INPUTS": ["v", "b", "d", "o"], "N_CHANNELS": 2,
              "TARGETS": [["mixture"]]}
WUN_CONFIG = {"NET_TYPE": "WAVEUNET", "N_FEATURES_ENCODER": 24, "KERNEL_SIZE_ENCODER": 5, "LEVELS": 5,
              "STRIDES": 1, "FEATURE_GROWTH": "double", "INPUTS": ["v", "b", "d", "o"], "N_CHANNELS": 2,
              "TARGETS": [["mixture"]]}


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in kB on Linux


def _stems(n_samples: int, batch: int | None = None):
    import torch

    generator = torch.Generator().manual_seed(0)
    shape = (8, n_samples) if batch is None else (batch, 8, n_samples)
    return torch.rand(shape, generator=generator).sub_(0.5).mul_(0.5)  # in place: no 2x peak for 10-min input


def run_mix(net: str, seconds: float, method: str, conv_impl: str) -> dict:
    """Mix ``seconds`` of audio; ``method`` is ``chunked`` (automix.mixing.mix) or ``release`` (one pass)."""
    import torch

    from release_reference import release_forward

    from automix.mixing import mix
    from automix.models import build_model

    model = build_model(MIX_CONFIG if net == "ours" else WUN_CONFIG, seed=0).eval()
    if net == "ours":
        model.conv_impl = conv_impl
    def run(stems):
        if method == "release":
            with torch.inference_mode():
                release_forward(model, stems.unsqueeze(0))
        else:
            mix(model, stems)

    start = time.perf_counter()
    run(_stems(2 * SAMPLE_RATE // 64 * 64))  # warm-up: one-time kernel/FFT-plan set-up, paid once per process
    warm_up = time.perf_counter() - start
    stems = _stems(int(seconds * SAMPLE_RATE) // 64 * 64)
    start = time.perf_counter()
    run(stems)
    elapsed = time.perf_counter() - start
    return {"rtf": seconds / elapsed, "compute_s": elapsed, "warm_up_s": warm_up}


def run_train(net: str, seconds: float, method: str, conv_impl: str, n_steps: int = 3) -> dict:
    """Time ``n_steps`` training steps (forward + Lb loss + backward + clip + AMSGrad) on a batch of 1 x ``seconds``."""
    import torch

    from release_reference import release_forward

    from automix.losses import StereoLoss
    from automix.models import build_model

    model = build_model(MIX_CONFIG if net == "ours" else WUN_CONFIG, seed=0).train()
    if net == "ours":
        model.conv_impl = conv_impl
    forward = (lambda x: release_forward(model, x)) if method == "release" else model.forward
    n_samples = int(seconds * SAMPLE_RATE) // 64 * 64
    stems, target = _stems(n_samples, batch=1), _stems(n_samples, batch=1)[:, :2].unsqueeze(0)
    loss_fn = StereoLoss("Lb")
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3, amsgrad=True,
                                 weight_decay=1e-7)
    times, losses = [], []
    for _ in range(n_steps):
        torch.manual_seed(0)  # same dropout draws in both methods
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        output = forward(stems)
        if output.shape[-1] != n_samples:  # Wave-U-Net: compare with the centre of the target
            shrink = (n_samples - output.shape[-1]) // 2
            loss = loss_fn(output, target[..., shrink:shrink + output.shape[-1]])
        else:
            loss = loss_fn(output, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.2)
        optimizer.step()
        times.append(time.perf_counter() - start)
        losses.append(loss.item())
    return {"step_s": statistics.median(times[1:]), "steps_s": times[1:], "first_step_s": times[0],
            "loss_first_step": losses[0]}


def _child(args) -> None:
    import torch

    from automix.mixing import reuse_freed_memory

    torch.set_num_threads(args.threads or os.cpu_count())
    # Every run (ours and release-style alike) gets the allocator setting that `mix` applies: large temporaries are
    # reused instead of re-mapped (page faults). Training entry points should call it too.
    reuse_freed_memory()
    if args.kind == "train":
        result = run_train(args.net, args.seconds, args.method, args.conv_impl, args.train_steps)
    else:
        result = run_mix(args.net, args.seconds, args.method, args.conv_impl)
    result["peak_rss_gb"] = _peak_rss_gb()
    print(json.dumps(result))


def _measure(kind: str, net: str, seconds: float, method: str, conv_impl: str, threads: int,
             train_steps: int) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--net", net, "--seconds", str(seconds),
               "--method", method, "--conv-impl", conv_impl, "--threads", str(threads),
               "--train-steps", str(train_steps)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"rc {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _plan(quick: bool, full: bool, only: str | None, nets: list[str]):
    long_s, short_s, train_s = (60.0, 10.0, 3.0) if quick else (600.0, 30.0, 10.0)
    plan = [("mix", "ours", short_s, "chunked", "fft"), ("mix", "ours", long_s, "chunked", "fft"),
            ("mix", "ours", short_s, "release", "direct"), ("mix", "wun", short_s, "chunked", "fft"),
            ("train", "ours", train_s, "fast", "fft"), ("train", "ours", train_s, "fast", "direct"),
            ("train", "ours", train_s, "release", "direct"), ("train", "wun", train_s, "fast", "fft")]
    if full:
        plan.append(("mix", "wun", long_s, "chunked", "fft"))
    return [row for row in plan if (only is None or row[0] == only) and row[1] in nets]


def _print_row(row, result) -> None:
    kind, net, seconds, method, conv_impl = row
    if "error" in result:
        text, rss = f"failed: {result['error'][:60]}", ""
    elif kind == "mix":
        text = f"{result['rtf']:.2f}x real time (+{result['warm_up_s']:.1f} s warm-up)"
        rss = f"{result['peak_rss_gb']:.2f} GB"
    else:
        text = f"step {result['step_s']:.2f} s (loss {result['loss_first_step']:.6f})"
        rss = f"{result['peak_rss_gb']:.2f} GB"
    convs = "-" if net != "ours" else "spec" if kind == "mix" and method == "chunked" else conv_impl
    print(f"{kind:6} {net:5} {seconds:8.0f} {method:8} {convs:6} {text:>40} {rss:>9}", flush=True)


def _summary(plan, rounds) -> None:
    """Per-row medians over the rounds, and training steps as a ratio to the release forward of the same round."""
    print(f"\nmedians over {len(rounds)} rounds (training: ratio to the release-style step of the same round)")
    release = next((i for i, row in enumerate(plan) if row[0] == "train" and row[3] == "release"), None)
    for i, row in enumerate(plan):
        results = [r[i] for r in rounds if "error" not in r[i]]
        if not results:
            continue
        key = "step_s" if row[0] == "train" else "rtf"
        values = [r[key] for r in results]
        text = f"{row[0]:6} {row[1]:5} {row[3]:8} {row[4]:6} median {statistics.median(values):.2f} " \
               f"({', '.join(f'{v:.2f}' for v in values)})"
        if row[0] == "train" and release is not None and i != release:
            ratios = [r[i]["step_s"] / r[release]["step_s"] for r in rounds
                      if "error" not in r[i] and "error" not in r[release]]
            text += f"; / release: median {statistics.median(ratios):.2f} ({', '.join(f'{v:.2f}' for v in ratios)})"
        print(text, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short inputs (development)")
    parser.add_argument("--full", action="store_true", help="also mix 10 min with Wave-U-Net (slow)")
    parser.add_argument("--only", choices=["mix", "train"], help="only the mixing or only the training-step rows")
    parser.add_argument("--nets", default="ours,wun", help="comma list of ours, wun (default both)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of the plan, rows alternating (default 1)")
    parser.add_argument("--train-steps", type=int, default=3, help="steps per training row, the first not counted")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (default: all cores; use 1 on a machine shared with other jobs, where "
                             "OpenMP threads that wait for each other make timings meaningless)")
    parser.add_argument("--child", choices=["mix", "train"], dest="kind", help=argparse.SUPPRESS)
    parser.add_argument("--net", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("--method", default="chunked", help=argparse.SUPPRESS)
    parser.add_argument("--conv-impl", default="fft", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.kind:
        _child(args)
        return
    plan = _plan(args.quick, args.full, args.only, args.nets.split(","))
    print(f"CPU cores: {os.cpu_count()}, torch threads: {args.threads or os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.1f}; each row is a separate process")
    print(f"{'what':6} {'net':5} {'audio s':>8} {'method':8} {'convs':6} {'result':>40} {'peak RSS':>9}")
    rounds = []
    for _ in range(args.repeats):
        rounds.append([])
        for row in plan:
            rounds[-1].append(_measure(*row, args.threads, args.train_steps))
            _print_row(row, rounds[-1][-1])
    if args.repeats > 1:
        _summary(plan, rounds)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
