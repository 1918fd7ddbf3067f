"""Building blocks of the FxNorm-Automix network: TCN block, squeeze-and-excitation, chrono LSTM init, FFT convolution.

The FFT convolutions compute exactly what ``torch.nn.functional.conv1d`` computes (cross-correlation with zero
padding) up to float rounding, by overlap-save over blocks of ``fft_size`` samples. On CPU they are much faster
than PyTorch's direct kernels for the long kernels of the adaptive front-end (depthwise k128: ~10x; dense 8->128 k64:
~2x), and they are differentiable through ``torch.fft``.

References:
    Y. Luo, N. Mesgarani, "Conv-TasNet: surpassing ideal time-frequency magnitude masking for speech separation",
    IEEE/ACM TASLP 2019 (temporal convolutional network).
    J. Hu, L. Shen, G. Sun, "Squeeze-and-excitation networks", CVPR 2018.
    C. Tallec, Y. Ollivier, "Can recurrent neural networks warp time?", ICLR 2018 (chrono initialization).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from automix.receptive_field import guard_samples, receptive_field_frames  # noqa: F401  (one definition, re-exported)

# Cross-correlation via FFT: blocks of this many samples (a power of two; W spectra of the dense 8->128 front-end
# conv at this size take 128*8*2049*8 bytes = 17 MB).
DEFAULT_FFT_SIZE = 4096


class TemporalBlock(nn.Module):
    """Conv-TasNet temporal block: 1x1 conv, PReLU, global layer norm, dilated depthwise conv, PReLU, norm.

    Args:
        in_channels: channels of the residual stream (B, 256).
        hidden_channels: channels inside the block (H, 128).
        skip_channels: channels of the skip output (Sc, 64).
        kernel_size: depthwise kernel size (P, 3).
        dilation: dilation of the depthwise conv (padding = dilation keeps the length).

    Shape:
        x ``(batch, in_channels, frames)`` -> (residual ``(batch, in_channels, frames)``, skip
        ``(batch, skip_channels, frames)``).
    """

    def __init__(self, in_channels: int, hidden_channels: int, skip_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv1x1 = nn.Conv1d(in_channels, hidden_channels, 1)
        self.nonlinearity1 = nn.PReLU()
        self.norm1 = nn.GroupNorm(1, hidden_channels, eps=1e-8)
        self.depthwise_conv = nn.Conv1d(hidden_channels, hidden_channels, kernel_size, padding=padding,
                                        dilation=dilation, groups=hidden_channels)
        self.nonlinearity2 = nn.PReLU()
        self.norm2 = nn.GroupNorm(1, hidden_channels, eps=1e-8)
        self.skip_out = nn.Conv1d(hidden_channels, skip_channels, 1)
        self.res_out = nn.Conv1d(hidden_channels, in_channels, 1)

    def forward(self, x: torch.Tensor, with_residual: bool = True):
        h = self.norm1(self.nonlinearity1(self.conv1x1(x)))
        h = self.norm2(self.nonlinearity2(self.depthwise_conv(h)))
        residual = x + self.res_out(h) if with_residual else None
        return residual, self.skip_out(h)


class SqueezeExcitation(nn.Module):
    """Channel gains from the time-mean of ``|y|`` (Hu et al. 2018). The release's ratio *expands* (128 -> 2048).

    Args:
        n_channels: feature channels (128).
        ratio: hidden units = ``n_channels * ratio`` (16 -> 2048).

    Shape:
        ``gains(mean_abs)``: ``(batch, n_channels)`` -> ``(batch, n_channels)`` in (0, 1).
    """

    def __init__(self, n_channels: int, ratio: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_channels, n_channels * ratio), nn.ReLU(),
                                 nn.Linear(n_channels * ratio, n_channels), nn.Sigmoid())

    def gains(self, mean_abs: torch.Tensor) -> torch.Tensor:
        return self.net(mean_abs)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Plain SE: ``y * gains(mean_t |y|)`` for ``y`` of shape ``(batch, channels, time)``."""
        return y * self.gains(y.abs().mean(dim=-1)).unsqueeze(-1)


def chrono_init_lstm_biases(lstm: nn.LSTM, t_max: int, generator: torch.Generator | None = None) -> None:
    """Chrono initialization of every LSTM bias vector (spec §3.2).

    All entries 0, forget-gate slice ``log(U(1, t_max - 1))``, input-gate slice its negative (gate order i, f, g, o).

    Args:
        lstm: the LSTM whose ``bias_ih_*``/``bias_hh_*`` vectors are overwritten.
        t_max: chrono T_max (32 in the release).
        generator: random source (a seeded ``torch.Generator`` for reproducible init); ``None`` uses torch's global.
    """
    hidden = lstm.hidden_size
    with torch.no_grad():
        for name, bias in lstm.named_parameters():
            if not name.startswith("bias"):
                continue
            uniform = torch.rand(hidden, generator=generator, dtype=bias.dtype) * (t_max - 2) + 1
            forget = torch.log(uniform)
            bias.zero_()
            bias[hidden:2 * hidden] = forget
            bias[:hidden] = -forget


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
    """``F.conv1d(F.pad(x, (pad_left, pad_right)), weight, groups=C)`` computed by overlap-save FFT.

    Args:
        x: input ``(batch, C, T)``.
        weight: depthwise kernels ``(C, 1, K)``.
        pad_left, pad_right: zero padding in samples.
        fft_size: block size (raised to a power of two >= 4 K when too small).

    Returns:
        ``(batch, C, T + pad_left + pad_right - K + 1)``.
    """
    kernel_size = weight.shape[-1]
    fft_size = _fft_size_for(kernel_size, fft_size)
    blocks, n_out, hop = _overlap_save_blocks(x, kernel_size, pad_left, pad_right, fft_size)
    kernel_spec = torch.fft.rfft(weight[:, 0].flip(-1), n=fft_size)  # (C, F): flipped -> correlation
    spec = torch.fft.rfft(blocks, n=fft_size) * kernel_spec.unsqueeze(-2)
    out = torch.fft.irfft(spec, n=fft_size)[..., kernel_size - 1:]
    return out.reshape(*out.shape[:-2], -1)[..., :n_out]


def _complex_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Complex ``a @ b`` as one real matmul of ``[[Re a, -Im a], [Im a, Re a]] @ [Re b; Im b]``.

    PyTorch's complex CPU matmul falls into very slow paths for some batch shapes (tens of seconds for a 10-s
    song); the real-valued form always uses the float32 GEMM.
    """
    n_rows = a.shape[-2]
    a_block = torch.cat([torch.cat([a.real, -a.imag], -1), torch.cat([a.imag, a.real], -1)], -2)
    # Contiguous operands: on strided ones (cat keeps its inputs' permuted layout) matmul and its backward fall
    # back to one copy per batch matrix (thousands of small copies).
    out = torch.matmul(a_block.contiguous(), torch.cat([b.real, b.imag], -2).contiguous())
    return torch.complex(out[..., :n_rows, :], out[..., n_rows:, :])


def fft_correlate(x: torch.Tensor, weight: torch.Tensor, pad_left: int, pad_right: int,
                  fft_size: int = DEFAULT_FFT_SIZE, crop: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Dense ``F.conv1d(F.pad(x, (pad_left, pad_right)), weight)`` computed by overlap-save FFT.

    Args:
        x: input ``(batch, C_in, T)``.
        weight: kernels ``(C_out, C_in, K)``.
        crop: samples ``(left, right)`` removed from ``x`` before padding (each at most the padding that side).

    Returns:
        ``(batch, C_out, T - sum(crop) + pad_left + pad_right - K + 1)``.
    """
    kernel_size = weight.shape[-1]
    fft_size = _fft_size_for(kernel_size, fft_size)
    blocks, n_out, hop = _overlap_save_blocks(x, kernel_size, pad_left, pad_right, fft_size, crop)
    kernel_spec = torch.fft.rfft(weight.flip(-1), n=fft_size)  # (C_out, C_in, F)
    x_spec = torch.fft.rfft(blocks, n=fft_size)  # (B, C_in, n_blocks, F)
    # Per frequency bin a (C_out x C_in) @ (C_in x n_blocks) product, batched over (batch, bins).
    out_spec = _complex_matmul(kernel_spec.permute(2, 0, 1), x_spec.permute(0, 3, 1, 2))  # (B, F, C_out, n_blocks)
    out = torch.fft.irfft(out_spec.permute(0, 2, 3, 1), n=fft_size)[..., kernel_size - 1:]
    return out.reshape(*out.shape[:-2], -1)[..., :n_out]


def fft_transposed_conv(y: torch.Tensor, weight: torch.Tensor, fft_size: int = DEFAULT_FFT_SIZE,
                        crop: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """``F.conv_transpose1d(y[..., crop[0]:T - crop[1]], weight)`` (stride 1, no padding) computed by FFT.

    A transposed convolution is the full *convolution* of each input channel with ``weight[c_in, c_out]``, i.e. a
    correlation with the flipped, transposed kernel and ``K - 1`` zeros each side.

    Args:
        y: ``(batch, C_in, T)``.
        weight: ``(C_in, C_out, K)`` (the layout ``conv_transpose1d`` expects).
        crop: samples ``(left, right)`` of ``y`` left out (each at most ``K - 1``).

    Returns:
        ``(batch, C_out, T - sum(crop) + K - 1)``.
    """
    kernel_size = weight.shape[-1]
    return fft_correlate(y, weight.transpose(0, 1).flip(-1), kernel_size - 1, kernel_size - 1, fft_size, crop)
