"""Building blocks of the FxNorm-Automix network: TCN block, squeeze-and-excitation, chrono LSTM init.

The FFT convolutions of the front-end and decoder are in :mod:`automix.models.fft_conv`.

References:
    Y. Luo, N. Mesgarani, "Conv-TasNet: surpassing ideal time-frequency magnitude masking for speech separation",
    IEEE/ACM TASLP 2019 (temporal convolutional network).
    J. Hu, L. Shen, G. Sun, "Squeeze-and-excitation networks", CVPR 2018.
    C. Tallec, Y. Ollivier, "Can recurrent neural networks warp time?", ICLR 2018 (chrono initialization).
"""

from __future__ import annotations

import torch
from torch import nn


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
        """Plain SE: ``y * gains(mean_t |y|)`` for ``y`` of shape ``(batch, channels, time)``.

        The release applies it to the full-rate signal; FxNorm-Automix's own forwards call :meth:`gains` on a mean
        assembled from per-frame sums instead. Kept as the module's plain meaning (the release-style forward of the
        tests and benchmarks uses it).
        """
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
