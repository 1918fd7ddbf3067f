"""Wave-U-Net baseline of FxNorm-Automix (spec §3.3), after Stoller et al. 2018 as configured by the release.

With the release's settings (stride 1, "fixed" resampling) the network performs no down- or up-sampling: it is a
U-shaped stack of valid convolutions (kernel 5, group norm with 8 channels per group, ReLU) with skip
connections, and the output is 68 samples shorter than the input (34 each side).

The stride-1 "fixed" resampling layers are identities (their 15-tap windowed-sinc kernels are unit impulses up to
1e-16). Their kernels are kept as frozen parameters because the release's ``state_dict`` holds them (21,600 values)
and strict loading needs them, but :meth:`Resample1d.forward` skips the identity convolution.

Parameter names follow the release (``network.waveunets.ALL....``).

References:
    D. Stoller, S. Ewert, S. Dixon, "Wave-U-Net: a multi-scale neural network for end-to-end audio source
    separation", ISMIR 2018.
    M. A. Martínez-Ramírez et al., "Automatic music mixing with deep learning and out-of-domain data", ISMIR 2022.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from automix.receptive_field import wave_u_net_shrink

NORM_CHANNELS = 8  # channels per group-norm group
RESAMPLE_KERNEL_SIZE = 15


def windowed_sinc_kernel(kernel_size: int, cutoff: float) -> np.ndarray:
    """Low-pass windowed-sinc (Blackman) kernel normalized to unit DC gain; ``cutoff`` in cycles per sample."""
    half = (kernel_size - 1) // 2
    n = np.arange(kernel_size) - half
    safe_n = np.where(n == 0, 1, n)
    sinc = np.where(n == 0, 2 * np.pi * cutoff, np.sin(2 * np.pi * cutoff * n) / safe_n)
    i = np.arange(kernel_size)
    window = 0.42 - 0.5 * np.cos(2 * np.pi * i / (kernel_size - 1)) + 0.08 * np.cos(4 * np.pi * i / (kernel_size - 1))
    kernel = sinc * window
    return (kernel / kernel.sum()).astype(np.float32)


class Resample1d(nn.Module):
    """Fixed (non-trainable) depthwise resampling layer; only stride 1 (the identity) is supported."""

    def __init__(self, n_channels: int, stride: int, kernel_size: int = RESAMPLE_KERNEL_SIZE):
        super().__init__()
        if stride != 1:
            raise NotImplementedError(f"Wave-U-Net resampling stride {stride}: only stride 1 (release) is supported")
        kernel = torch.from_numpy(windowed_sinc_kernel(kernel_size, 0.5 / stride))
        self.filter = nn.Parameter(kernel.expand(n_channels, 1, kernel_size).clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x  # stride 1: the kernel is a unit impulse (reflect-padded "same" conv = identity)


class ConvLayer(nn.Module):
    """Valid conv (bias) -> GroupNorm (8 channels per group) -> ReLU; removes ``kernel_size - 1`` samples."""

    def __init__(self, n_inputs: int, n_outputs: int, kernel_size: int):
        super().__init__()
        if n_outputs % NORM_CHANNELS:
            raise ValueError(f"group norm needs a multiple of {NORM_CHANNELS} channels, got {n_outputs}")
        self.filter = nn.Conv1d(n_inputs, n_outputs, kernel_size)
        self.norm = nn.GroupNorm(n_outputs // NORM_CHANNELS, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.filter(x)))


def centre_crop(x: torch.Tensor, length: int) -> torch.Tensor:
    """Crop ``x (..., T)`` symmetrically to ``length`` samples (T - length must be even)."""
    excess = x.shape[-1] - length
    if excess < 0 or excess % 2:
        raise ValueError(f"cannot centre-crop {x.shape[-1]} samples to {length}")
    return x[..., excess // 2:x.shape[-1] - excess // 2]


class DownsamplingBlock(nn.Module):
    def __init__(self, n_inputs: int, n_shortcut: int, n_outputs: int, kernel_size: int, stride: int):
        super().__init__()
        self.pre_shortcut_convs = nn.ModuleList([ConvLayer(n_inputs, n_shortcut, kernel_size)])
        self.post_shortcut_convs = nn.ModuleList([ConvLayer(n_shortcut, n_outputs, kernel_size)])
        self.downconv = Resample1d(n_outputs, stride)

    def forward(self, x: torch.Tensor):
        shortcut = self.pre_shortcut_convs[0](x)
        return self.downconv(self.post_shortcut_convs[0](shortcut)), shortcut


class UpsamplingBlock(nn.Module):
    def __init__(self, n_inputs: int, n_shortcut: int, n_outputs: int, kernel_size: int, stride: int):
        super().__init__()
        self.upconv = Resample1d(n_inputs, stride)
        self.pre_shortcut_convs = nn.ModuleList([ConvLayer(n_inputs, n_outputs, kernel_size)])
        self.post_shortcut_convs = nn.ModuleList([ConvLayer(n_outputs + n_shortcut, n_outputs, kernel_size)])

    def forward(self, x: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        upsampled = self.pre_shortcut_convs[0](self.upconv(x))
        combined = torch.cat([centre_crop(shortcut, upsampled.shape[-1]), upsampled], dim=1)
        return self.post_shortcut_convs[0](combined)


class UNetStack(nn.Module):
    """Down blocks, bottleneck conv, up blocks with skips, 1x1 output conv."""

    def __init__(self, n_inputs: int, n_outputs: int, channels: list[int], kernel_size: int, stride: int):
        super().__init__()
        levels = len(channels)
        self.downsampling_blocks = nn.ModuleList(
            DownsamplingBlock(n_inputs if i == 0 else channels[i], channels[i], channels[i + 1], kernel_size, stride)
            for i in range(levels - 1))
        self.upsampling_blocks = nn.ModuleList(
            UpsamplingBlock(channels[-1 - i], channels[-2 - i], channels[-2 - i], kernel_size, stride)
            for i in range(levels - 1))
        self.bottlenecks = nn.ModuleList([ConvLayer(channels[-1], channels[-1], kernel_size)])
        self.output_conv = nn.Conv1d(channels[0], n_outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcuts = []
        for block in self.downsampling_blocks:
            x, shortcut = block(x)
            shortcuts.append(shortcut)
        x = self.bottlenecks[0](x)
        for block, shortcut in zip(self.upsampling_blocks, reversed(shortcuts)):
            x = block(x, shortcut)
        return self.output_conv(x)


class _Holder(nn.Module):
    """Keeps the release's module path ``network.waveunets.ALL`` for state_dict compatibility."""

    def __init__(self, stack: UNetStack):
        super().__init__()
        self.waveunets = nn.ModuleDict({"ALL": stack})


class WaveUNet(nn.Module):
    """Wave-U-Net mixing baseline (valid convolutions; output shrinks by 68 samples for the release settings).

    Args:
        n_stems, n_channels: input layout (4 stems x 2 channels, stem-major).
        n_targets: targets (1: the mixture).
        n_features: channels of the first level (24).
        levels: U-Net levels (5).
        feature_growth: ``"double"`` (24, 48, 96, ...) or ``"add"`` (24, 48, 72, ...).
        kernel_size: conv kernel size (5).
        stride: resampling stride (only 1, the release's value).

    Shape:
        ``(batch, n_stems * n_channels, time)`` -> ``(n_targets, batch, n_channels, time - shrink)``; in eval mode
        the output is clamped to [-1, 1] like the release (no output non-linearity in training). Under
        ``torch.autocast`` the convolutions run in the autocast dtype (the output too); see the README's mixed
        precision section for the measured difference to float32.
    """

    def __init__(self, n_stems: int = 4, n_channels: int = 2, n_targets: int = 1, n_features: int = 24,
                 levels: int = 5, feature_growth: str = "double", kernel_size: int = 5, stride: int = 1):
        super().__init__()
        if feature_growth == "double":
            channels = [n_features * 2 ** i for i in range(levels)]
        elif feature_growth == "add":
            channels = [n_features * (i + 1) for i in range(levels)]
        else:
            raise ValueError(f"unknown FEATURE_GROWTH {feature_growth!r}; expected 'double' or 'add'")
        self.n_inputs, self.n_channels, self.n_targets = n_stems * n_channels, n_channels, n_targets
        self.shrink = wave_u_net_shrink(kernel_size, levels)
        self.network = _Holder(UNetStack(self.n_inputs, n_channels * n_targets, channels, kernel_size, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != self.n_inputs or x.shape[-1] <= self.shrink:
            raise ValueError(f"WaveUNet expects (batch, {self.n_inputs}, time) with time > {self.shrink}; "
                             f"got {tuple(x.shape)}")
        out = self.network.waveunets["ALL"](x)
        if not self.training:
            out = out.clamp(-1.0, 1.0)
        batch, _, n_out = out.shape
        return out.reshape(batch, self.n_targets, self.n_channels, n_out).transpose(0, 1)
