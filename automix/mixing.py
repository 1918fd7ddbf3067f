"""Mix songs of any length with bounded memory.

FxNorm-Automix (exact chunking). The release runs one forward pass over the whole song; its full-rate 128-channel
temporaries need ~3.7 GB for 30 s and ~8.4 GB for 60 s on CPU. Here the song goes through the network in three
steps, and the result equals the one-pass forward up to float rounding (no approximation, the BLSTM and the global
layer norms see the whole song):

1. Front-end, chunk by chunk (~0.7 s): ``p = conv_1(x)`` (overlap-save FFT with the kernel spectra computed once
   per song, :class:`automix.models.fft_conv.CachedFFTCorrelation`), ``|p|`` in place, conv_2 (the same for its
   depthwise kernels, :class:`~automix.models.fft_conv.CachedFFTDepthwiseCorrelation`), max-pool -> pooled
   frames ``z`` and per-frame sums ``sum |p|``, written into preallocated ``(N, frames)`` tensors. conv_1/conv_2
   have finite support, so chunks on 64-sample boundaries with a (63 + 31 | 64 + 32)-sample halo of input give
   exactly the one-pass frames.
2. Latent path once on the whole pooled sequence (T / 64 frames): TCN with in-place norms and residual/skip
   accumulation, BLSTM chunked in time with its state carried
   (:func:`automix.models.inference_latent.latent_mask_inplace`); squeeze-and-excitation from
   ``mean_t |m p| = sum_f m_f sum_{t in f} |p_t| / T``.
3. Decoder, chunk by chunk: recompute ``p`` on whole frames around the chunk, multiply it in place by the frame gains
   (zero frames outside the song), tied transposed conv with the 4 stems summed (128 -> 2 channels), tanh.

Peak memory: the input stems (32 B per sample), the output (8 B per sample), ~1.7 kB per pooled frame (64 samples)
for the latent path, and one chunk's full-rate tensors: ~2.3 GB in all for a 10-min song (the release: ~8.4 GB for
60 s). Measured speed and what each change brought: the project README (models performance section).

Why small chunks: glibc serves allocations above its mmap threshold (<= 32 MB) with fresh pages, and every fresh
page costs a page fault (a zeroing kernel trap). With 128-channel full-rate tensors of 3-s chunks (68 MB each) an
out-of-place ``abs`` costs 15x its in-place version; chunks of ~0.7 s keep every temporary under the threshold
(see :func:`reuse_freed_memory`) so the allocator reuses warm memory, and they fit the CPU caches better.

Precision: :func:`mix` and :func:`mix_fxnorm` always compute in float32. Autocast is switched off inside them (the
in-place kernels write into float32 buffers, and float32 keeps the chunked result equal to the one-pass forward),
so calling them inside a ``torch.autocast`` region gives the float32 result.

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

from automix.allocator import tune_glibc_malloc
from automix.conventions import SAMPLE_RATE
from automix.models.fxnorm_automix import FxNormAutomix
from automix.models.fft_conv import CachedFFTCorrelation, CachedFFTDepthwiseCorrelation
from automix.models.inference_latent import latent_mask_inplace
from automix.models.wave_u_net import WaveUNet

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SAMPLES = 30720  # FxNorm-Automix front-end/decoder chunk, ~0.7 s (the result does not depend on it)
DEFAULT_CHUNK_SECONDS = DEFAULT_CHUNK_SAMPLES / SAMPLE_RATE
CONV_1_FFT_SIZE = 512  # conv_1 FFT blocks (fastest measured on CPU for 64 taps)
CONV_2_FFT_SIZE = 2048  # conv_2 FFT blocks (fastest measured on CPU for 128 depthwise taps)
WUN_WINDOW = 440960  # the release's TRAINING_SEQ_LENGTH: windows seen by Wave-U-Net (its group norms are per window)
WUN_GUARD = 32540


_allocator_tuned = False


def reuse_freed_memory() -> None:
    """Let glibc serve allocations up to 32 MB from its heap and keep freed memory for reuse (once per process).

    By default glibc maps large blocks freshly and unmaps them on free, so every full-rate chunk temporary costs page
    faults (kernel time: the release-style runs spent ~40% of their time in the kernel). With a fixed 32-MB mmap
    threshold (glibc's maximum) and a 256-MB trim threshold, the chunk temporaries reuse warm memory: measured ~1.4x
    faster for conv_1 and ~15x for element-wise ops. Peak RSS is unchanged (freed memory is reused, not grown).
    No-op off glibc.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return
    _allocator_tuned = True
    tune_glibc_malloc(mmap_threshold=32 * 2**20, trim_threshold=256 * 2**20)


def _padded_slice(x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """``x[..., start:stop]`` with zeros where the range leaves ``[0, T)``."""
    n_samples = x.shape[-1]
    inner = x[..., max(start, 0):min(stop, n_samples)]
    return F.pad(inner, (max(0, -start), max(0, stop - max(start, n_samples))))


def _encode_chunk(model: FxNormAutomix, conv_1: CachedFFTCorrelation, conv_2: CachedFFTDepthwiseCorrelation,
                  x: torch.Tensor, n_samples: int, start: int, stop: int):
    """Pooled conv_2 frames (before softplus) and per-frame ``sum |p|`` of samples ``[start, stop)`` of one item.

    Args:
        conv_1, conv_2: the FFT conv_1 and conv_2 of ``model`` (kernel spectra computed once per mix).
        x: ``(8, T)`` stems of one item; samples at or past ``T`` (up to ``n_samples``) count as zeros.
        n_samples: length the network sees (``T`` rounded up to a multiple of 64).

    Returns:
        ``(N, frames)`` pooled pre-softplus maxima and ``(N, frames)`` frame sums, ``frames = (stop - start) / 64``.
    """
    kernel, pool = model.kernel_size, model.max_pooling
    left1, right1 = (kernel - 1) // 2, kernel // 2  # conv_1 "same" padding: 31, 32
    left2, right2 = kernel - 1, kernel  # conv_2 (2 L taps): 63, 64
    abs_p = conv_1(_padded_slice(x, start - left2 - left1, stop + right2 + right1)).abs_()  # [start - 63, stop + 64)
    first = start - left2  # conv_2 zero-pads |p| at the song's edges: zero what lies outside [0, n_samples)
    abs_p[:, :max(0, -first)] = 0
    abs_p[:, max(0, n_samples - first):] = 0
    # max over frames as a reduction of a (N, frames, pool) view: the same maxima, ~4x faster than max_pool1d on CPU
    pooled = conv_2(abs_p).unflatten(-1, (-1, pool)).amax(-1)
    return pooled, abs_p[:, left2:left2 + stop - start].unflatten(-1, (-1, pool)).sum(-1)


def _decode_chunk(model: FxNormAutomix, conv_1: CachedFFTCorrelation, x: torch.Tensor, n_samples: int,
                  padded_gains: torch.Tensor, kernel_mix: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Mixture samples ``[start, stop)`` of one item and target: ``tanh(transposed conv(p * gains))``, stems summed.

    Args:
        padded_gains: frame gains ``(N, frames + 2)`` with a zero frame each side (the song's outside).
        kernel_mix: ``(N, n_channels, L)``: the tied transposed conv's kernel with the 4 stems summed.

    Returns:
        ``(n_channels, stop - start)``.
    """
    kernel, pool = model.kernel_size, model.max_pooling
    left1, right1 = (kernel - 1) // 2, kernel // 2
    # y = p * gains on [start - 32, stop + 31), the samples the decoder reads, computed as one contiguous tensor (the
    # transposed conv then reads it without a copy): a partial frame (32 samples of frame f - 1), whole frames, a
    # partial frame (31 samples of the frame at `stop`).
    lo, hi = start - right1, stop + left1
    y = conv_1(_padded_slice(x, lo - left1, hi + right1))
    frame = start // pool + 1  # padded_gains column of the frame that starts at `start`
    n_frames = (stop - start) // pool
    y[:, :right1].mul_(padded_gains[:, frame - 1, None])
    y[:, right1:right1 + stop - start].unflatten(-1, (-1, pool)).mul_(padded_gains[:, frame:frame + n_frames, None])
    y[:, right1 + stop - start:].mul_(padded_gains[:, frame + n_frames, None])
    # the decoder crops y to [31, n_samples - 32): zero the rest
    y[:, :max(0, left1 - lo)] = 0
    y[:, max(0, n_samples - right1 - lo):] = 0
    # Transposed conv of y on [start - 32, stop + 31): its full output starts 63 samples before `start`. (oneDNN's
    # transposed conv is ~5x slower with padding=63 than without it and slicing.)
    out = F.conv_transpose1d(y[None], kernel_mix)[0]
    return torch.tanh_(out[:, kernel - 1:kernel - 1 + stop - start])


def _chunk_bounds(n_samples: int, chunk: int):
    return [(s, min(s + chunk, n_samples)) for s in range(0, n_samples, chunk)]


def _mix_item(model: FxNormAutomix, x: torch.Tensor, n_samples: int, chunk: int, progress: bool) -> torch.Tensor:
    """One item ``x (8, T)``: front-end by chunks, latent path once, decoder by chunks -> ``(n_targets, 2, T')``."""
    conv_1 = CachedFFTCorrelation(model.conv_1.weight, CONV_1_FFT_SIZE)
    conv_2 = CachedFFTDepthwiseCorrelation(model.conv_2[0].weight, CONV_2_FFT_SIZE)
    bounds = _chunk_bounds(n_samples, chunk)
    n_feat, n_frames = model.conv_1.out_channels, n_samples // model.max_pooling
    pooled, frame_abs = x.new_empty(n_feat, n_frames), x.new_empty(n_feat, n_frames)  # filled in place: no cat copy
    for s, e in tqdm(bounds, disable=not progress, desc="front-end", unit="chunk"):
        frames = slice(s // model.max_pooling, e // model.max_pooling)
        pooled[:, frames], frame_abs[:, frames] = _encode_chunk(model, conv_1, conv_2, x, n_samples, s, e)
    features = [F.softplus(pooled)]
    del pooled
    mask = latent_mask_inplace(model, features)  # empties `features`: z is freed after the TCN's bottleneck
    gains = model.mix_gains(mask[None], frame_abs[None], n_samples)[0]  # (n_targets, N, frames)
    del frame_abs, mask
    kernel_mix = model.mixture_kernel()
    out = x.new_empty(model.n_targets, model.n_channels, n_samples)
    for target in range(model.n_targets):
        padded_gains = F.pad(gains[target], (1, 1))
        for s, e in tqdm(bounds, disable=not progress, desc="decoder", unit="chunk"):
            out[target, :, s:e] = _decode_chunk(model, conv_1, x, n_samples, padded_gains, kernel_mix, s, e)
    return out


def mix_fxnorm(model: FxNormAutomix, x: torch.Tensor, chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
               progress: bool = False) -> torch.Tensor:
    """Chunked mixing-mode forward of FxNorm-Automix (inference only); equals ``model(x)`` up to float rounding.

    Computes in float32 (autocast off, ``x`` cast to float32), also when called inside ``torch.autocast``.

    Args:
        model: a mixing-mode network (``pretrain=False``).
        x: ``(batch, 8, T)``; ``T`` need not be a multiple of ``model.max_pooling``: the network sees the stems
            zero-padded to the next multiple (without copying them).
        chunk_samples: chunk length (rounded to a multiple of the pooling factor). The result does not depend on it;
            ~0.7 s keeps every full-rate temporary under the allocator's reuse threshold (module docstring).

    Returns:
        ``(n_targets, batch, n_channels, T')`` with ``T'`` = ``T`` rounded up to a multiple of 64, like ``model(x)``.
    """
    if model.pretrain:
        raise ValueError("mixing needs a mixing-mode FxNorm-Automix (PRETRAIN False), got a pre-training network")
    if x.dim() != 3 or x.shape[1] != model.conv_1.in_channels or x.shape[-1] == 0:
        model.check_input(x)
    n_samples = -(-x.shape[-1] // model.max_pooling) * model.max_pooling
    chunk = max(model.max_pooling, chunk_samples // model.max_pooling * model.max_pooling)
    reuse_freed_memory()
    with torch.inference_mode(), torch.autocast(device_type=x.device.type, enabled=False):
        x = x.float()
        if x.shape[0] == 1:  # no stacking copy of a long output
            return _mix_item(model, x[0], n_samples, chunk, progress)[:, None]
        return torch.stack([_mix_item(model, item, n_samples, chunk, progress) for item in x], 1)


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
    """Mix 4 stereo stems of any length with bounded memory, under ``torch.inference_mode``, in float32.

    Autocast is switched off inside (also around Wave-U-Net and other modules): the result inside a
    ``torch.autocast`` region is the float32 one.

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
    with torch.inference_mode(), torch.autocast(device_type=device.type, enabled=False):
        x = x.to(device=device, dtype=torch.float32)
        if isinstance(model, FxNormAutomix):  # pads to a multiple of 64 samples internally, without a copy
            out = mix_fxnorm(model, x, round(chunk_seconds * sample_rate), progress)
        elif isinstance(model, WaveUNet):
            out = mix_wave_u_net(model, x, release_alignment=release_alignment, progress=progress)
        else:
            out = model(x)
        out = out[0, :, :, :n_samples].float().cpu()  # first (only) target
    return out[0] if stems.dim() == 2 else out
