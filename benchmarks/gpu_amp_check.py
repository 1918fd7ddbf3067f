"""Mixed-precision check: training forward + loss + backward under autocast vs float32, step times and differences.

    python benchmarks/gpu_amp_check.py                          # CUDA: ours_S_Lb (fft, direct) and wun_S_Lb,
                                                                # batch 4 x 10 s, float32 / tf32 / float16 / bfloat16
    python benchmarks/gpu_amp_check.py --device cpu --seconds 0.2 --batch 1    # CPU smoke run (float32, bfloat16)
    python benchmarks/gpu_amp_check.py --device cpu --seconds 1 --batch 1 --nets ours,pre,wun   # README figures

For every network and mode it runs ``--steps`` timed steps after one warm-up step: zero grads, forward under
``torch.autocast`` (none for ``float32``/``tf32``), loss (``StereoLoss`` Lb; the time L1 for pre-training, as the
release), backward. No optimizer step, so every step sees the same weights. It prints the median step time, the
peak memory (CUDA), and the difference to the float32 run: output max abs and relative L2 error, loss and gradient
norm relative errors, and whether every gradient is finite. Unscaled backward (no ``GradScaler``): a float16
overflow shows up as non-finite gradients. The BLSTM's dropout is set to 0 so that runs differ by precision only
(cuDNN's RNN backward needs training mode, so ``eval()`` is not an option). ``float32`` is strict float32 (TF32
off); ``tf32`` is float32 with TF32 matmuls and convolutions (CUDA only).

Weights: seeded default init (``build_model(config, seed=0)``), or the official checkpoints with ``--weights-dir``
(a folder holding the release's trained ``ours_S_Lb.params``, ``ours_S_pretrained.params``, ``wun_S_Lb.params``);
inputs and targets: seeded uniform noise.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from automix.config import load_config
from automix.losses import StereoLoss, TimeL1Loss, crop_to_output
from automix.models import build_model

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "ISMIR"
NETS = {"ours": "ours_S_Lb.py", "pre": "ours_S_pretrained.py", "wun": "wun_S_Lb.py"}
SAMPLE_RATE = 44100
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def _set_tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def _loss_fn(net: str, n_samples: int) -> torch.nn.Module:
    """The training loss; a short STFT for smoke-test inputs too short for the 4096-point one with 30 guard frames."""
    if net == "pre":
        return TimeL1Loss()
    if n_samples >= 4096 + 61 * 1024:
        return StereoLoss("Lb", guard_frames=30)
    return StereoLoss("Lb", n_fft=512, hop_length=128, guard_frames=2)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(model, loss_fn, x, target, mode: str, device: torch.device):
    """One forward + loss + backward; returns (output float32, loss, gradient vector float32)."""
    model.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=DTYPES.get(mode, torch.float32), enabled=mode in DTYPES):
        output = model(x)
        loss = loss_fn(output, crop_to_output(target, output.shape[-1]).expand_as(output))
    loss.backward()
    grads = torch.cat([p.grad.float().flatten() for p in model.parameters() if p.grad is not None])
    return output.detach().float(), loss.detach().float(), grads


def _run_mode(model, loss_fn, x, target, mode: str, steps: int, device: torch.device):
    if device.type == "cuda":
        _set_tf32(mode == "tf32")
        torch.cuda.reset_peak_memory_stats(device)
    result = _step(model, loss_fn, x, target, mode, device)  # warm-up: kernel selection, FFT plans
    times = []
    for _ in range(steps):
        _sync(device)
        start = time.perf_counter()
        result = _step(model, loss_fn, x, target, mode, device)
        _sync(device)
        times.append(time.perf_counter() - start)
    peak_gb = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return result, statistics.median(times), peak_gb


def _differences(result, reference) -> str:
    (out, loss, grads), (out_ref, loss_ref, grads_ref) = result, reference
    max_abs = float((out - out_ref).abs().max())
    rel_l2 = float(torch.linalg.vector_norm(out - out_ref) / torch.linalg.vector_norm(out_ref))
    loss_rel = abs(float(loss - loss_ref)) / abs(float(loss_ref))
    norm, norm_ref = float(torch.linalg.vector_norm(grads)), float(torch.linalg.vector_norm(grads_ref))
    grad_rel = float(torch.linalg.vector_norm(grads - grads_ref)) / norm_ref
    return (f"out max|d| {max_abs:.2e} rel {rel_l2:.2e}  loss rel {loss_rel:.2e}  grad norm rel "
            f"{abs(norm - norm_ref) / norm_ref:.2e} (grad rel {grad_rel:.2e})")


def check_net(net: str, conv_impl: str | None, args, device: torch.device) -> None:
    config = load_config(CONFIG_DIR / NETS[net])
    model = build_model(config, seed=0)
    if args.weights_dir:
        weights = Path(args.weights_dir) / NETS[net].replace(".py", ".params")
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model = model.to(device).train()
    if hasattr(model, "blstm"):
        model.blstm.dropout = 0.0  # differences from precision only
    if conv_impl is not None:
        model.conv_impl = conv_impl
    n_samples = int(args.seconds * SAMPLE_RATE) // 64 * 64
    generator = torch.Generator().manual_seed(0)
    x = ((torch.rand(args.batch, 8, n_samples, generator=generator) - 0.5) * 0.5).to(device)
    target = ((torch.rand(1, args.batch, 2, n_samples, generator=generator) - 0.5) * 0.5).to(device)
    loss_fn = _loss_fn(net, n_samples).to(device)
    modes = ["float32", "tf32", "float16", "bfloat16"] if device.type == "cuda" else ["float32", "bfloat16"]
    modes = [m for m in modes if m in args.modes.split(",")]
    name = f"{net}{'/' + conv_impl if conv_impl else ''}"
    reference = None
    for mode in modes:
        result, step_s, peak_gb = _run_mode(model, loss_fn, x, target, mode, args.steps, device)
        finite = bool(torch.isfinite(result[2]).all() and torch.isfinite(result[1]))
        text = f"{name:12} {mode:9} step {step_s * 1000:9.1f} ms  peak {peak_gb:6.2f} GB  loss {float(result[1]):.4f}"
        text += f"  grads {'finite' if finite else 'NOT FINITE'}"
        if reference is not None:
            text += "  " + _differences(result, reference)
        elif mode == "float32":
            reference = result
        print(text, flush=True)
    del model, x, target
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--seconds", type=float, default=10.0, help="segment length (default 10 s, training's)")
    parser.add_argument("--batch", type=int, default=4, help="batch size (default 4, training's)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per mode after one warm-up step")
    parser.add_argument("--nets", default="ours,wun", help="comma list of ours, pre, wun")
    parser.add_argument("--conv-impls", default="fft,direct", help="FxNorm-Automix convolutions to check")
    parser.add_argument("--modes", default="float32,tf32,float16,bfloat16",
                        help="precisions (float32 first: the reference; CPU runs only float32 and bfloat16)")
    parser.add_argument("--weights-dir", help="folder with the official .params (default: seeded init)")
    parser.add_argument("--threads", type=int, default=0, help="CPU torch threads (default: torch's)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("CUDA is not available here; use --device cpu for a smoke run")
    if args.threads:
        torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{where}; torch {torch.__version__}; batch {args.batch} x {args.seconds:g} s; {args.steps} timed steps; "
          f"weights: {args.weights_dir or 'seeded init'}")
    start = time.perf_counter()
    for net in args.nets.split(","):
        for conv_impl in (args.conv_impls.split(",") if net != "wun" else [None]):
            check_net(net, conv_impl, args, device)
    print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
