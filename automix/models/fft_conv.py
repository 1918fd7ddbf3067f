"""Overlap-save FFT convolutions of FxNorm-Automix's long kernels, for training and for chunked mixing.

They compute what ``torch.nn.functional.conv1d`` / ``conv_transpose1d`` compute (cross-correlation with zero
padding) up to float rounding, by overlap-save over blocks of ``fft_size`` samples. On CPU they are much faster
than PyTorch's direct kernels for the long kernels of the adaptive front-end (depthwise k128: ~10x; dense 8->128
k64: ~2x).

* :func:`fft_correlate`, :func:`fft_depthwise_correlate`, :func:`fft_transposed_conv`: differentiable (through
  ``torch.fft``); used by :meth:`FxNormAutomix.forward <automix.models.fxnorm_automix.FxNormAutomix.forward>`
  (``conv_impl="fft"``, training and one-pass inference).
* :class:`CachedFFTCorrelation`: inference only, conv_1 of one item with its kernel spectra computed once per song;
  used by :func:`automix.mixing.mix_fxnorm` for every chunk.

Mixed precision: every function here computes in float32 and returns float32, also inside ``torch.autocast``
(autocast is switched off locally and float16/bfloat16 inputs and weights are cast to float32). ``torch.fft`` has
no bfloat16 kernels, cuFFT's float16 needs power-of-two sizes, and a 4096-point half-precision transform would lose
~3 significant digits; returning float32 keeps that accuracy for the element-wise ops that follow (the next
matmul/conv is cast to the autocast dtype by autocast itself).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

# Cross-correlation via FFT: blocks of this many samples (a power of two; W spectra of the dense 8->128 front-end
# conv at this size take 128*8*2049*8 bytes = 17 MB).
DEFAULT_FFT_SIZE = 4096
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _float32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when it is float16/bfloat16 (autocast or a ``.half()`` model); other dtypes unchanged."""
    return t.float() if t.dtype in _LOW_PRECISION else t


def _overlap_save_blocks(x: torch.Tensor, kernel_size: int, pad_left: int, pad_right: int, fft_size: int,
                         crop: tuple[int, int] = (0, 0)):
    """Crop ``crop`` samples off ``x (..., T)``, zero-pad it and cut it into blocks ``(..., n_blocks, fft_size)``.

    The crop is done by zeroing the cropped samples inside the one padded copy (needs ``crop <= padding`` each
    side): a separate slice would copy the (large) input once more and zero-fill its gradient in the backward.
    """
    crop_left, crop_right = crop
    n_in = x.shape[-1] - crop_left - crop_right
    n_out = n_in + pad_left + pad_right - kernel_size + 1
    hop = fft_size - kernel_size + 1
    n_blocks = max(1, math.ceil(n_out / hop))
    total = (n_blocks - 1) * hop + fft_size
    if crop_left > pad_left or crop_right > total - n_in - pad_left:
        raise ValueError(f"crop {crop} larger than the padding ({pad_left}, {total - n_in - pad_left})")
    padded = F.pad(x, (pad_left - crop_left, total - n_in - pad_left - crop_right))
    if crop_left or crop_right:
        padded[..., pad_left - crop_left:pad_left] = 0
        padded[..., pad_left + n_in:pad_left + n_in + crop_right] = 0
    return padded.unfold(-1, fft_size, hop), n_out, hop


def _fft_size_for(kernel_size: int, fft_size: int) -> int:
    return max(fft_size, 1 << (4 * kernel_size - 1).bit_length())


def fft_depthwise_correlate(x: torch.Tensor, weight: torch.Tensor, pad_left: int, pad_right: int,
                            fft_size: int = DEFAULT_FFT_SIZE) -> torch.Tensor:
    """``F.conv1d(F.pad(x, (pad_left, pad_right)), weight, groups=C)`` computed by overlap-save FFT, in float32.

    Args:
        x: input ``(batch, C, T)``.
        weight: depthwise kernels ``(C, 1, K)``.
        pad_left, pad_right: zero padding in samples.
        fft_size: block size (raised to a power of two >= 4 K when too small).

    Returns:
        ``(batch, C, T + pad_left + pad_right - K + 1)``, float32 for float16/bfloat16/float32 inputs.
    """
    kernel_size = weight.shape[-1]
    fft_size = _fft_size_for(kernel_size, fft_size)
    with torch.autocast(device_type=x.device.type, enabled=False):
        x, weight = _float32(x), _float32(weight)
        blocks, n_out, hop = _overlap_save_blocks(x, kernel_size, pad_left, pad_right, fft_size)
        kernel_spec = torch.fft.rfft(weight[:, 0].flip(-1), n=fft_size)  # (C, F): flipped -> correlation
        spec = torch.fft.rfft(blocks, n=fft_size) * kernel_spec.unsqueeze(-2)
        out = torch.fft.irfft(spec, n=fft_size)[..., kernel_size - 1:]
        return out.reshape(*out.shape[:-2], -1)[..., :n_out]


def _complex_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Complex ``a @ b`` as one real matmul of ``[[Re a, -Im a], [Im a, Re a]] @ [Re b; Im b]``.

    PyTorch's complex CPU matmul falls into very slow paths for some batch shapes (tens of seconds for a 10-s
    song); the real-valued form always uses the float32 GEMM. Call it with autocast off (a bfloat16 GEMM here would
    undo the float32 FFT).
    """
    n_rows = a.shape[-2]
    a_block = torch.cat([torch.cat([a.real, -a.imag], -1), torch.cat([a.imag, a.real], -1)], -2)
    # Contiguous operands: on strided ones (cat keeps its inputs' permuted layout) matmul and its backward fall
    # back to one copy per batch matrix (thousands of small copies).
    out = torch.matmul(a_block.contiguous(), torch.cat([b.real, b.imag], -2).contiguous())
    return torch.complex(out[..., :n_rows, :], out[..., n_rows:, :])


def fft_correlate(x: torch.Tensor, weight: torch.Tensor, pad_left: int, pad_right: int,
                  fft_size: int = DEFAULT_FFT_SIZE, crop: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Dense ``F.conv1d(F.pad(x, (pad_left, pad_right)), weight)`` computed by overlap-save FFT, in float32.

    Args:
        x: input ``(batch, C_in, T)``.
        weight: kernels ``(C_out, C_in, K)``.
        crop: samples ``(left, right)`` removed from ``x`` before padding (each at most the padding that side).

    Returns:
        ``(batch, C_out, T - sum(crop) + pad_left + pad_right - K + 1)``, float32 for float16/bfloat16/float32.
    """
    kernel_size = weight.shape[-1]
    fft_size = _fft_size_for(kernel_size, fft_size)
    with torch.autocast(device_type=x.device.type, enabled=False):
        x, weight = _float32(x), _float32(weight)
        blocks, n_out, hop = _overlap_save_blocks(x, kernel_size, pad_left, pad_right, fft_size, crop)
        kernel_spec = torch.fft.rfft(weight.flip(-1), n=fft_size)  # (C_out, C_in, F)
        x_spec = torch.fft.rfft(blocks, n=fft_size)  # (B, C_in, n_blocks, F)
        # Per frequency bin a (C_out x C_in) @ (C_in x n_blocks) product, batched over (batch, bins).
        out_spec = _complex_matmul(kernel_spec.permute(2, 0, 1), x_spec.permute(0, 3, 1, 2))  # (B, F, C_out, nb)
        out = torch.fft.irfft(out_spec.permute(0, 2, 3, 1), n=fft_size)[..., kernel_size - 1:]
        return out.reshape(*out.shape[:-2], -1)[..., :n_out]


def fft_transposed_conv(y: torch.Tensor, weight: torch.Tensor, fft_size: int = DEFAULT_FFT_SIZE,
                        crop: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """``F.conv_transpose1d(y[..., crop[0]:T - crop[1]], weight)`` (stride 1, no padding) by FFT, in float32.

    A transposed convolution is the full *convolution* of each input channel with ``weight[c_in, c_out]``, i.e. a
    correlation with the flipped, transposed kernel and ``K - 1`` zeros each side.

    Args:
        y: ``(batch, C_in, T)``.
        weight: ``(C_in, C_out, K)`` (the layout ``conv_transpose1d`` expects).
        crop: samples ``(left, right)`` of ``y`` left out (each at most ``K - 1``).

    Returns:
        ``(batch, C_out, T - sum(crop) + K - 1)``, float32.
    """
    kernel_size = weight.shape[-1]
    return fft_correlate(y, weight.transpose(0, 1).flip(-1), kernel_size - 1, kernel_size - 1, fft_size, crop)


class CachedFFTCorrelation:
    """``F.conv1d(x, weight)`` (no padding) for one item ``x (C_in, T)`` by overlap-save FFT, kernel spectra cached.

    Inference only (no autograd through the cached spectra); :func:`automix.mixing.mix_fxnorm` builds one per song
    for conv_1 (8 -> 128 channels, 64 taps) and calls it on every chunk, twice per mix. The per-frequency channel
    mixing is one real batched GEMM. On CPU it is ~2.5x faster than ``F.conv1d`` for conv_1 (the direct kernel does
    65536 MACs per sample; this one 128-channel inverse FFT and ~2k MACs per sample). Computes in float32 (autocast
    off), like the functions above.

    Args:
        weight: ``(C_out, C_in, K)`` kernels (a cross-correlation, as ``F.conv1d``).
        fft_size: block length N (power of two > K); output hop N - K + 1.

    Shape:
        ``__call__(x)``: ``(C_in, T)`` -> ``(C_out, T - K + 1)``.
    """

    def __init__(self, weight: torch.Tensor, fft_size: int = 1024):
        c_out, c_in, kernel = weight.shape
        if fft_size <= kernel:
            raise ValueError(f"fft_size {fft_size} must exceed the kernel length {kernel}")
        self.kernel, self.fft_size, self.hop, self.c_out = kernel, fft_size, fft_size - kernel + 1, c_out
        with torch.autocast(device_type=weight.device.type, enabled=False):
            spec = torch.fft.rfft(_float32(weight.detach()).flip(-1), n=fft_size).permute(2, 1, 0)  # (F, C_in, C_out)
        re, im = spec.real, spec.imag  # conv with the flipped kernel = correlation
        # Real form of the complex product P = sum_i H_i X_i, laid out so that [Re X_i, Im X_i] (interleaved per input
        # channel) @ matrix = [Re P_c, Im P_c] interleaved per output channel, i.e. directly a complex (F, nb, C_out).
        top = torch.stack([re, im], -1)  # row (i, Re X): Re P += Hr Xr, Im P += Hi Xr
        bottom = torch.stack([-im, re], -1)  # row (i, Im X): Re P -= Hi Xi, Im P += Hr Xi
        self.matrix = torch.stack([top, bottom], 2).reshape(spec.shape[0], 2 * c_in, 2 * c_out).contiguous()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n_out = x.shape[-1] - self.kernel + 1
        n_blocks = -(-n_out // self.hop)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = F.pad(_float32(x), (0, (n_blocks - 1) * self.hop + self.fft_size - x.shape[-1]))
            spec = torch.fft.rfft(x.unfold(-1, self.fft_size, self.hop), dim=-1)  # (C_in, nb, F)
            spec = torch.view_as_real(spec.permute(2, 1, 0).contiguous()).flatten(-2)  # (F, nb, 2 C_in)
            out_spec = torch.view_as_complex(torch.bmm(spec, self.matrix).unflatten(-1, (self.c_out, 2)))
            out = torch.fft.irfft(out_spec, n=self.fft_size, dim=0)[self.kernel - 1:]  # (hop, nb, C_out)
        # One copy into a contiguous (C_out, n_out): the next convolution reads it without another copy (a reshape
        # and then a slice of the last block would leave a strided view that oneDNN copies again).
        blocks = out.permute(2, 1, 0)  # (C_out, nb, hop)
        result = blocks.new_empty(self.c_out, n_out)
        full = n_out // self.hop
        result[:, :full * self.hop].view(self.c_out, full, self.hop).copy_(blocks[:, :full])
        if n_out > full * self.hop:
            result[:, full * self.hop:].copy_(blocks[:, full, :n_out - full * self.hop])
        return result


class CachedFFTDepthwiseCorrelation:
    """``F.conv1d(x, weight, groups=C)`` (no padding) for one item ``x (C, T)`` by overlap-save FFT, spectra cached.

    Inference only; :func:`automix.mixing.mix_fxnorm` builds one per song for conv_2 (128 channels, 128 taps) and
    calls it on every front-end chunk. The direct depthwise kernel does 128 MACs per sample and channel at a small
    fraction of the CPU's peak; with 2048-point blocks (hop 1921) this costs two FFTs per block and channel. Measured
    on 2 cores (AMD EPYC Zen 3, 2026-12-07), one 0.7-s chunk of 128 channels alone: 17.4 ms against 33.3 ms for
    ``F.conv1d`` (512-point blocks 27.5 ms, 4096 19.0 ms), same values to 1e-6; the mix's front-end stage of a
    60-s song 3.0-3.2 s against 3.4-3.5 s (3 alternating rounds); end to end (``bench_inference.py``, 3 min, 2
    alternating rounds) the difference was within that machine's noise. Computes in float32 (autocast off).

    Args:
        weight: ``(C, 1, K)`` depthwise kernels (a cross-correlation, as ``F.conv1d``).
        fft_size: block length N (power of two > K); output hop N - K + 1.

    Shape:
        ``__call__(x)``: ``(C, T)`` -> ``(C, T - K + 1)``.
    """

    def __init__(self, weight: torch.Tensor, fft_size: int = 2048):
        channels, _, kernel = weight.shape
        if fft_size <= kernel:
            raise ValueError(f"fft_size {fft_size} must exceed the kernel length {kernel}")
        self.kernel, self.fft_size = kernel, fft_size
        with torch.autocast(device_type=weight.device.type, enabled=False):
            # conv with the flipped kernel = correlation; (C, 1, F) broadcasts over the blocks
            self.spectrum = torch.fft.rfft(_float32(weight.detach()).flip(-1), n=fft_size)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            blocks, n_out, _ = _overlap_save_blocks(_float32(x), self.kernel, 0, 0, self.fft_size)  # (C, nb, N)
            spec = torch.fft.rfft(blocks, dim=-1).mul_(self.spectrum)
            out = torch.fft.irfft(spec, n=self.fft_size, dim=-1)[..., self.kernel - 1:]  # (C, nb, hop)
        return out.reshape(x.shape[0], -1)[:, :n_out]
