"""In-place inference path of FxNorm-Automix's latent network (TCN + BLSTM), for chunked mixing of long songs.

:func:`latent_mask_inplace` computes :meth:`FxNormAutomix.latent_mask
<automix.models.fxnorm_automix.FxNormAutomix.latent_mask>` for one item without autograd, with the same result up to
float rounding: in-place element-wise ops and in-place residual/skip accumulation (``addmm_``), so a 10-min song
(413k frames) needs a few (frames, 256) tensors instead of ~10 per block, and the BLSTM runs chunk by chunk in time
with its state carried (:func:`blstm_chunked`). Used by :func:`automix.mixing.mix_fxnorm` (step 2, once per song on
the pooled sequence). Float32 only: ``mix`` switches autocast off around it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from torch.nn import functional as F

from automix.models.blocks import TemporalBlock


def _prelu_(h: torch.Tensor, prelu: torch.nn.PReLU) -> torch.Tensor:
    """In-place PReLU with the release's single shared slope (``leaky_relu_`` is the same formula)."""
    return F.leaky_relu_(h, float(prelu.weight))


def _global_norm_(h: torch.Tensor, norm: torch.nn.GroupNorm) -> torch.Tensor:
    """In-place ``GroupNorm(1, C)`` of one item ``h (frames, C)``: statistics over channels *and* time (global).

    Centre first, then the (biased) variance from the norm of the centred values: as exact as ``var_mean`` (no
    ``E[x^2] - E[x]^2`` cancellation) and ~10x faster on CPU (``var_mean`` on a tensor takes a slow Welford path).
    """
    h.sub_(h.mean())
    var = torch.linalg.vector_norm(h).square_().div_(h.numel())
    scale = norm.weight * torch.rsqrt(var + norm.eps)
    return torch.addcmul(norm.bias, h, scale, out=h)


def _depthwise_dilated(h: torch.Tensor, conv: torch.nn.Conv1d, out: torch.Tensor) -> torch.Tensor:
    """The TCN's length-preserving dilated depthwise conv of ``h (frames, C)`` as shifted multiply-adds into ``out``.

    2-5x faster than the oneDNN kernel for dilations > 1 on CPU (3 taps per channel: memory-bound either way); in
    the ``(frames, C)`` layout every shifted operand is a contiguous block of rows.
    """
    weight, dilation, n_frames = conv.weight[:, 0], conv.dilation[0], h.shape[0]
    centre = (weight.shape[-1] - 1) // 2  # padding = dilation * centre keeps the length
    torch.mul(h, weight[:, centre], out=out)
    for tap in range(weight.shape[-1]):
        shift = (tap - centre) * dilation  # out[t] += w[tap] * h[t + shift]
        if tap == centre or abs(shift) >= n_frames:
            continue
        if shift > 0:
            out[:-shift].addcmul_(h[shift:], weight[:, tap])
        else:
            out[-shift:].addcmul_(h[:shift], weight[:, tap])
    return out.add_(conv.bias)


GEMM_ROWS = 2048  # frames per 1x1-conv GEMM: operands of one block of rows stay in cache (~1.5x faster on CPU)


def _addmm_rows_(out: torch.Tensor, weight: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | None = None):
    """``out += x @ weight.T (+ bias)`` in place (a 1x1 conv of ``x (frames, C_in)``, ``weight (C_out, C_in)``), one
    cache-sized block of rows (frames) at a time."""
    for first in range(0, x.shape[0], GEMM_ROWS):
        block = out[first:first + GEMM_ROWS].addmm_(x[first:first + GEMM_ROWS], weight.t())
        if bias is not None:
            block.add_(bias)
    return out


def _temporal_block_(block: TemporalBlock, residual: torch.Tensor, skip_sum: torch.Tensor,
                     buffers: tuple[torch.Tensor, torch.Tensor], with_residual: bool) -> None:
    """One temporal block on one item ``(frames, C)``, accumulating in place: ``residual += res_out(h)``,
    ``skip_sum += skip(h)``.

    ``buffers`` are two reusable ``(frames, H)`` tensors; skip biases are added once by the caller.
    """
    hidden, h = buffers
    hidden.copy_(block.conv1x1.bias.expand_as(hidden))
    _addmm_rows_(hidden, block.conv1x1.weight[..., 0], residual)
    _global_norm_(_prelu_(hidden, block.nonlinearity1), block.norm1)
    _depthwise_dilated(hidden, block.depthwise_conv, out=h)
    _global_norm_(_prelu_(h, block.nonlinearity2), block.norm2)
    _addmm_rows_(skip_sum, block.skip_out.weight[..., 0], h)
    if with_residual:
        _addmm_rows_(residual, block.res_out.weight[..., 0], h, block.res_out.bias)


LSTM_CHUNK_FRAMES = 8192  # BLSTM frames per call: bounds its per-call gate workspace (exact: the state is carried)


def _lstm_direction(x: torch.Tensor, params: list, hidden: int, reverse: bool, out: torch.Tensor) -> None:
    """One direction of one layer over ``x (frames, input)``, chunk by chunk with the state carried, into ``out``."""
    n_frames = x.shape[0]
    starts = range(0, n_frames, LSTM_CHUNK_FRAMES)
    with torch.inference_mode():  # grad mode is per thread: this may run in a helper thread
        state = (x.new_zeros(1, 1, hidden), x.new_zeros(1, 1, hidden))
        for start in (reversed(starts) if reverse else starts):
            chunk = x[start:start + LSTM_CHUNK_FRAMES]
            chunk = chunk.flip(0) if reverse else chunk
            y, *state = torch.lstm(chunk[None], state, params, True, 1, 0.0, False, False, True)
            out[start:start + LSTM_CHUNK_FRAMES] = y[0].flip(0) if reverse else y[0]


def blstm_chunked(lstm: torch.nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """Bidirectional multi-layer ``lstm`` (eval mode, no dropout) on one sequence, layer by layer and chunk by chunk.

    Each direction runs over the sequence in chunks of ``LSTM_CHUNK_FRAMES`` with its (h, c) state carried from chunk
    to chunk (the backward direction from the end, on time-reversed chunks), which is the same recurrence as one call:
    the output equals ``lstm(x[None])[0][0]`` up to float rounding, but the gate pre-activations and workspaces exist
    for one chunk at a time instead of the whole song (413k frames for 10 min: ~0.4 GB per direction and layer).

    Threads: the recurrence is a chain of small matrix-vector products (hidden size 64) that intra-op threads
    cannot speed up: with 2 torch threads its every step synchronizes them, and on a machine whose cores are also
    busy with other work the waiting made a 3-min song's BLSTM ~10x slower (33 s instead of 3 s). When torch has
    several threads, the two directions of a layer instead run at the same time, each on one thread (torch's
    thread count is set to 1 for the BLSTM and restored after).

    Args:
        lstm: a batch-first bidirectional ``nn.LSTM`` with biases.
        x: ``(frames, input_size)``.

    Returns:
        ``(frames, 2 * hidden_size)``.
    """
    hidden, n_frames = lstm.hidden_size, x.shape[0]
    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(max_workers=1) if threads > 1 else None
    if pool is not None:
        torch.set_num_threads(1)
    try:
        for layer in range(lstm.num_layers):
            out = x.new_empty(n_frames, 2 * hidden)
            jobs = []
            for direction, suffix in enumerate(("", "_reverse")):
                params = [getattr(lstm, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih",
                                                                                 "bias_hh")]
                args = (x, params, hidden, bool(direction), out[:, direction * hidden:(direction + 1) * hidden])
                if pool is not None and direction == 0:
                    jobs.append(pool.submit(_lstm_direction, *args))
                else:
                    _lstm_direction(*args)
            for job in jobs:
                job.result()
            x = out
    finally:
        if pool is not None:
            pool.shutdown()
            torch.set_num_threads(threads)
    return x


def latent_mask_inplace(model, features: list[torch.Tensor]) -> torch.Tensor:
    """``model.latent_mask`` for one item, inference only, with in-place element-wise ops (same result).

    Args:
        model: a mixing-mode :class:`~automix.models.fxnorm_automix.FxNormAutomix`.
        features: a one-element list holding the pooled front-end features ``z (N, frames)`` after softplus. The
            list is emptied and ``z`` normalized in place, so that it is freed after the bottleneck (the caller would
            otherwise keep it alive: 211 MB for a 10-min song).

    Returns:
        mask ``(n_targets, N, frames)``, non-negative.
    """
    z = features.pop()
    n_feat, n_frames = z.shape
    # The TCN runs in the (frames, channels) layout: its 1x1 convs are then GEMMs with the frames as rows, ~1.6x
    # faster than with the frames as columns on CPU (measured for the 256 -> 128, 128 -> 256 and 128 -> 64 shapes),
    # and the BLSTM reads its input in that layout.
    z_rows = _global_norm_(z.t(), model.layerNorm)  # normalizes z in place (a global norm does not see the layout)
    residual = torch.addmm(model.bottleneck_conv1x1.bias, z_rows, model.bottleneck_conv1x1.weight[..., 0].t())
    del z, z_rows
    all_blocks = [block for repeat in model.repeats for block in repeat]
    skip_sum = residual.new_zeros(n_frames, all_blocks[0].skip_out.out_channels)
    buffers = tuple(residual.new_empty(n_frames, all_blocks[0].conv1x1.out_channels) for _ in range(2))
    for i, block in enumerate(all_blocks):
        _temporal_block_(block, residual, skip_sum, buffers, with_residual=i < len(all_blocks) - 1)
    del residual, buffers
    skip_sum.add_(sum(block.skip_out.bias for block in all_blocks))
    prelu, conv, _ = model.output  # PReLU -> 1x1 conv -> softplus
    head = F.softplus(torch.addmm(conv.bias, _prelu_(skip_sum, prelu), conv.weight[..., 0].t()))  # (frames, T N)
    del skip_sum
    masks = []
    for target in range(model.n_targets):  # BLSTM input (frames, N); output softplus, back to (N, frames)
        lstm_out = blstm_chunked(model.blstm, head[:, target * n_feat:(target + 1) * n_feat])
        masks.append(F.softplus(lstm_out).t())
        del lstm_out
    del head
    return torch.stack(masks) if len(masks) > 1 else masks[0][None]
