"""Mix songs of any length with bounded memory.

FxNorm-Automix (exact chunking). The release runs one forward pass over the whole song; its full-rate 128-channel
temporaries need ~3.7 GB for 30 s and ~8.4 GB for 60 s on CPU. Here the song goes through the network in three
steps, and the result equals the one-pass forward up to float rounding (no approximation, the BLSTM and the global
layer norms see the whole song):

1. Front-end, chunk by chunk: ``p = conv_1(x)``, ``|p|``, conv_2, max-pool -> pooled frames ``z`` and per-frame
   sums ``sum |p|``. conv_1/conv_2 have finite support, so chunks on 64-sample boundaries with a
   (63 + 31 | 64 + 32)-sample halo of input give exactly the one-pass frames.
2. Latent path once on the whole pooled sequence (T / 64 frames: cheap): TCN -> BLSTM mask; squeeze-and-excitation
   from ``mean_t |m p| = sum_f m_f sum_{t in f} |p_t| / T``.
3. Decoder, chunk by chunk: recompute ``p`` on the chunk (+ 32-sample halo), multiply by the frame gains, tied
   transposed conv with the 4 stems summed (128 -> 2 channels), tanh.

Peak memory is that of one chunk's full-rate tensors plus the pooled path (~2.5 kB per frame, i.e. per 64 samples).

Wave-U-Net: windows with guard bands as the release (spec §3.1, §6): the input is zero-padded by the guard each
side, cut into ``window``-sample windows with hop ``window - 2 guard``, and the centre of each window's output is
kept (no cross-fade). Its group norms are per window, so the result depends on the window like the release's.
"""

from __future__ import annotations

import logging
import math

import torch
from torch.nn import functional as F
from tqdm import tqdm

from automix.models import blocks
from automix.models.fxnorm_automix import FxNormAutomix
from automix.models.wave_u_net import WaveUNet

logger = logging.getLogger(__name__)

SAMPLE_RATE = 44100
DEFAULT_CHUNK_SECONDS = 3.0  # FxNorm-Automix front-end/decoder chunk (the result does not depend on it)
WUN_WINDOW = 440960  # the release's TRAINING_SEQ_LENGTH: windows seen by Wave-U-Net (its group norms are per window)
WUN_GUARD = 32540


def _padded_slice(x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """``x[..., start:stop]`` with zeros where the range leaves ``[0, T)``."""
    n_samples = x.shape[-1]
    inner = x[..., max(start, 0):min(stop, n_samples)]
    return F.pad(inner, (max(0, -start), max(0, stop - max(start, n_samples))))


def _zero_outside(x: torch.Tensor, start: int, lo: int, hi: int) -> torch.Tensor:
    """Zero the samples of ``x`` (whose first sample is at ``start``) whose positions are outside ``[lo, hi)``."""
    first, last = max(0, lo - start), min(x.shape[-1], max(0, hi - start))
    if first == 0 and last == x.shape[-1]:
        return x
    out = torch.zeros_like(x)
    out[..., first:last] = x[..., first:last]
    return out


def _encode_chunk(model: FxNormAutomix, x: torch.Tensor, start: int, stop: int):
    """Pooled conv_2 frames (before softplus) and per-frame ``sum |p|`` of ``[start, stop)``, both 64-aligned."""
    n_samples, kernel = x.shape[-1], model.kernel_size
    left1, right1 = (kernel - 1) // 2, kernel // 2  # conv_1 "same" padding: 31, 32
    left2, right2 = kernel - 1, kernel  # conv_2 (2 L taps): 63, 64
    x_chunk = _padded_slice(x, start - left2 - left1, stop + right2 + right1)
    p = model.correlate_valid(x_chunk, model.conv_1.weight, depthwise=False)  # p on [start - 63, stop + 64)
    abs_p = _zero_outside(p.abs(), start - left2, 0, n_samples)  # conv_2 zero-pads |p| at the song's edges
    pooled = F.max_pool1d(model.correlate_valid(abs_p, model.conv_2[0].weight, depthwise=True), model.max_pooling)
    centre = abs_p[..., left2:left2 + stop - start]
    return pooled, centre.unflatten(-1, (-1, model.max_pooling)).sum(-1)


def _decode_chunk(model: FxNormAutomix, x: torch.Tensor, gains: torch.Tensor, kernel_mix: torch.Tensor,
                  start: int, stop: int) -> torch.Tensor:
    """Mixture samples ``[start, stop)``: tanh(transposed conv(p * gains)) with stems summed."""
    n_samples, kernel, pool = x.shape[-1], model.kernel_size, model.max_pooling
    left1, right1 = (kernel - 1) // 2, kernel // 2
    y_start, y_stop = start - right1, stop + left1  # y needed on [start - 32, stop + 31)
    first_frame = y_start // pool  # may be negative: those samples are zeroed below
    frames = torch.arange(first_frame, -(-y_stop // pool), device=gains.device).clamp(0, gains.shape[-1] - 1)
    p = model.correlate_valid(_padded_slice(x, y_start - left1, y_stop + right1), model.conv_1.weight,
                              depthwise=False)
    offset = y_start - first_frame * pool
    framed = F.pad(p, (offset, (-(offset + p.shape[-1])) % pool)).unflatten(-1, (-1, pool))
    y = (framed.unsqueeze(1) * gains[..., frames].unsqueeze(-1)).flatten(-2)[..., offset:offset + p.shape[-1]]
    y = _zero_outside(y.flatten(0, 1), y_start, left1, n_samples - right1)  # the decoder's crop
    out = model.correlate_valid(y, kernel_mix.transpose(0, 1).flip(-1), depthwise=False)
    return torch.tanh(out)  # (batch * n_targets, n_channels, stop - start)


def _chunk_bounds(n_samples: int, chunk: int):
    return [(s, min(s + chunk, n_samples)) for s in range(0, n_samples, chunk)]


def mix_fxnorm(model: FxNormAutomix, x: torch.Tensor, chunk_samples: int, progress: bool = False) -> torch.Tensor:
    """Chunked mixing-mode forward of FxNorm-Automix; equals ``model(x)`` up to float rounding.

    Args:
        model: a mixing-mode network (``pretrain=False``).
        x: ``(batch, 8, T)`` with ``T`` a multiple of ``model.max_pooling``.
        chunk_samples: chunk length (rounded to a multiple of the pooling factor).

    Returns:
        ``(n_targets, batch, n_channels, T)`` like ``model(x)``.
    """
    if model.pretrain:
        raise ValueError("mixing needs a mixing-mode FxNorm-Automix (PRETRAIN False), got a pre-training network")
    model.check_input(x)
    batch, _, n_samples = x.shape
    chunk = max(model.max_pooling, chunk_samples // model.max_pooling * model.max_pooling)
    bounds = _chunk_bounds(n_samples, chunk)
    pooled, frame_abs = zip(*(_encode_chunk(model, x, s, e) for s, e in tqdm(bounds, disable=not progress,
                                                                           desc="front-end", unit="chunk")))
    mask = model.latent_mask(F.softplus(torch.cat(pooled, -1)))
    gains = model.mix_gains(mask, torch.cat(frame_abs, -1), n_samples)
    del pooled, frame_abs, mask
    kernel_mix = model.mixture_kernel()
    out = torch.cat([_decode_chunk(model, x, gains, kernel_mix, s, e)
                     for s, e in tqdm(bounds, disable=not progress, desc="decoder", unit="chunk")], -1)
    return out.reshape(batch, model.n_targets, model.n_channels, n_samples).transpose(0, 1)


def mix_wave_u_net(model: WaveUNet, x: torch.Tensor, window: int = WUN_WINDOW, guard: int = WUN_GUARD,
                   release_alignment: bool = False, progress: bool = False) -> torch.Tensor:
    """Windowed Wave-U-Net mixing with guard bands (spec §3.1 batched mode), one window at a time.

    Args:
        model: the Wave-U-Net.
        x: ``(batch, 8, T)``.
        window: window length in samples (the release's 440960).
        guard: guard band each side in samples (32540); must exceed half the network's shrink.
        release_alignment: keep the release's 34-sample offset (it takes output samples ``[guard, window - guard)``
            of the shorter valid-conv output); by default the kept output is aligned with the input.

    Returns:
        ``(n_targets, batch, n_channels, T)``.
    """
    half = model.shrink // 2
    hop = window - 2 * guard
    if hop <= 0 or guard < half:
        raise ValueError(f"window {window} and guard {guard} leave no output (need guard >= {half}, "
                         f"window > 2 * guard)")
    n_samples = x.shape[-1]
    n_windows = max(1, math.ceil(n_samples / hop))
    offset = guard if release_alignment else guard - half  # index in the (window - shrink)-sample output
    pieces = []
    for i in tqdm(range(n_windows), disable=not progress, desc="windows", unit="window"):
        start = i * hop - guard
        out = model(_padded_slice(x, start, start + window))
        pieces.append(out[..., offset:offset + hop])
    return torch.cat(pieces, -1)[..., :n_samples]


def mix(model: torch.nn.Module, stems: torch.Tensor, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
        sample_rate: int = SAMPLE_RATE, release_alignment: bool = False, progress: bool = False) -> torch.Tensor:
    """Mix 4 stereo stems of any length with bounded memory, under ``torch.inference_mode``.

    Args:
        model: a network from :func:`automix.models.build_model` (FxNorm-Automix in mixing mode, or Wave-U-Net);
            put it in eval mode first. Other modules get a single full-length forward.
        stems: ``(8, T)`` or ``(batch, 8, T)`` float32, stem-major (vocals L, R, bass L, R, drums L, R, other L, R).
        chunk_seconds: FxNorm-Automix chunk length (memory vs. per-chunk overhead; the result does not depend on it).
        sample_rate: sampling rate in Hz (only converts ``chunk_seconds``).
        release_alignment: Wave-U-Net only: reproduce the release's 34-sample output offset.
        progress: show tqdm progress bars.

    Returns:
        ``(2, T)`` for ``(8, T)`` input, else ``(batch, 2, T)``; float32 on the CPU, in (-1, 1) for FxNorm-Automix.
        The input is zero-padded at the end to a multiple of 64 samples for FxNorm-Automix and the output trimmed.
    """
    if stems.dim() not in (2, 3):
        raise ValueError(f"stems must be (8, time) or (batch, 8, time), got shape {tuple(stems.shape)}")
    x = stems.unsqueeze(0) if stems.dim() == 2 else stems
    n_samples = x.shape[-1]
    if n_samples == 0:
        raise ValueError("stems are empty (0 samples)")
    device = next(model.parameters()).device
    if model.training:
        logger.warning("mix(): the model is in training mode (dropout active); call model.eval() first")
    with torch.inference_mode():
        x = x.to(device=device, dtype=torch.float32)
        if isinstance(model, FxNormAutomix):
            x = F.pad(x, (0, (-n_samples) % model.max_pooling))
            out = mix_fxnorm(model, x, round(chunk_seconds * sample_rate), progress)
        elif isinstance(model, WaveUNet):
            out = mix_wave_u_net(model, x, release_alignment=release_alignment, progress=progress)
        else:
            out = model(x)
        out = out[0, :, :, :n_samples].float().cpu()  # first (only) target
    return out[0] if stems.dim() == 2 else out
