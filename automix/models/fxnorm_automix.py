"""FxNorm-Automix mixing network (Martínez-Ramírez et al., ISMIR 2022), spec §3.2.

Adaptive front-end (conv 8->128 k64, |.|, depthwise k128 + softplus, max-pool 64) -> Conv-TasNet TCN (4 x 6 blocks)
-> 3-layer BLSTM mask -> squeeze-and-excitation -> transposed conv tied to the front-end weights -> stems summed ->
tanh. In pre-training mode the front-end auto-encodes each stem (max-unpool instead of the latent path).

Parameter names follow the original release so its ``.params`` state_dicts load with ``strict=True``.

:meth:`FxNormAutomix.forward` (training with autograd, and one-pass inference) rearranges the release's forward
without changing the result beyond float rounding: FFT convolutions for the long kernels (``conv_impl="fft"``,
:mod:`automix.models.fft_conv`); softplus after the max-pool (softplus is increasing, so
``pool(softplus(c)) = softplus(pool(c))``, 64x fewer evaluations); the mask multiplies ``p`` frame-wise by
broadcasting (no upsampled copy); the SE mean ``mean_t |m p|`` is ``sum_f m_f sum_{t in f} |p_t| / T`` (m >= 0 is
constant per 64-sample frame), reusing ``|p|``; and in mixing mode the 4 stems are summed *before* the (linear)
transposed conv by summing its kernels per output channel (128->2 instead of 128->8). Songs of any length are mixed
by :func:`automix.mixing.mix` (chunked, same result). A step-by-step transcription of the release's forward, the
yardstick of the tests, lives with the tests (``tests/release_reference.py``).

Mixed precision: ``forward`` runs under ``torch.autocast`` (CPU bfloat16, CUDA float16/bfloat16). The FFT
convolutions then compute in float32 and return float32; the direct convolutions, 1x1 convs, BLSTM and SE layers
run in the autocast dtype; the SE's frame sums are accumulated in float32. Measured differences to float32: the
project README (networks section).

References:
    M. A. Martínez-Ramírez, W.-H. Liao, G. Fabbro, S. Uhlich, C. Nagashima, Y. Mitsufuji, "Automatic music mixing
    with deep learning and out-of-domain data", ISMIR 2022.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from automix.models import blocks
from automix.models import fft_conv
from automix.receptive_field import guard_samples


class FxNormAutomix(nn.Module):
    """FxNorm-Automix network (mixing or front-end pre-training mode).

    Args:
        n_stems: input stems (4: vocals, bass, drums, other).
        n_channels: channels per stem (2).
        n_targets: targets (1: the mixture).
        n_features_encoder: front-end channels N (128).
        kernel_size_encoder: front-end kernel L (64); conv_2 uses 2 L.
        max_pooling: pooling factor M (64); the input length must be a multiple of it.
        n_features_separation: TCN bottleneck channels B (256).
        n_features_out: TCN skip channels Sc (64).
        n_features_tb: channels inside a temporal block H (128).
        kernel_size_tb: temporal-block kernel P (3).
        n_tb_per_repeat: blocks per repeat X (6).
        n_repeats: repeats R (4).
        se_amp_ratio: squeeze-and-excitation expansion (16 -> 2048 units).
        pretrain: front-end auto-encoder mode (output: one reconstruction per stem).
        lstm_layers, lstm_dropout, chrono_t_max: BLSTM settings (3, 0.1, 32).
        generator: random source for the chrono LSTM bias init (other layers use PyTorch's default init).
        conv_impl: ``"direct"`` or ``"fft"``: how :meth:`forward` computes the long convolutions.
        fft_size: block size of the FFT convolutions.

    Shape:
        input ``(batch, n_stems * n_channels, time)`` stem-major (vocals L, R, bass L, R, ...);
        output ``(n_targets, batch, n_channels, time)`` (mixing) or ``(n_stems, batch, n_channels, time)``
        (pre-training).
    """

    def __init__(self, n_stems: int = 4, n_channels: int = 2, n_targets: int = 1, n_features_encoder: int = 128,
                 kernel_size_encoder: int = 64, max_pooling: int = 64, n_features_separation: int = 256,
                 n_features_out: int = 64, n_features_tb: int = 128, kernel_size_tb: int = 3,
                 n_tb_per_repeat: int = 6, n_repeats: int = 4, se_amp_ratio: int = 16, pretrain: bool = False,
                 lstm_layers: int = 3, lstm_dropout: float = 0.1, chrono_t_max: int = 32,
                 generator: torch.Generator | None = None, conv_impl: str = "fft",
                 fft_size: int = fft_conv.DEFAULT_FFT_SIZE):
        super().__init__()
        n_in, n_feat = n_stems * n_channels, n_features_encoder
        self.n_stems, self.n_channels, self.n_targets = n_stems, n_channels, n_targets
        self.kernel_size, self.max_pooling, self.pretrain, self.fft_size = (kernel_size_encoder, max_pooling,
                                                                            pretrain, fft_size)
        if conv_impl not in ("direct", "fft"):
            raise ValueError(f"conv_impl must be 'direct' or 'fft', got {conv_impl!r}")
        self.conv_impl = conv_impl
        self.n_tb_per_repeat, self.n_repeats, self.kernel_size_tb = n_tb_per_repeat, n_repeats, kernel_size_tb
        self.layerNorm = nn.GroupNorm(1, n_feat, eps=1e-8)
        self.bottleneck_conv1x1 = nn.Conv1d(n_feat, n_features_separation, 1)
        self.repeats = nn.ModuleList(
            nn.ModuleList(blocks.TemporalBlock(n_features_separation, n_features_tb, n_features_out, kernel_size_tb,
                                               dilation=2 ** x) for x in range(n_tb_per_repeat))
            for _ in range(n_repeats))
        self.output = nn.Sequential(nn.PReLU(), nn.Conv1d(n_features_out, n_feat * n_targets, 1), nn.Softplus())
        self.conv_1 = nn.Conv1d(n_in, n_feat, kernel_size_encoder, padding="same", bias=False)
        self.conv_2 = nn.Sequential(nn.Conv1d(n_feat, n_feat, 2 * kernel_size_encoder, padding="same",
                                              groups=n_feat, bias=False), nn.Softplus())
        self.blstm = nn.LSTM(n_feat, n_feat // 2, num_layers=lstm_layers, bidirectional=True, batch_first=True,
                             dropout=lstm_dropout)
        self.se_block = blocks.SqueezeExcitation(n_feat, se_amp_ratio)
        blocks.chrono_init_lstm_biases(self.blstm, chrono_t_max, generator)
        if pretrain:  # spec §3.2: only the front-end (and the unused BLSTM) stays trainable
            for module in (self.layerNorm, self.bottleneck_conv1x1, self.repeats, self.output, self.se_block):
                module.requires_grad_(False)

    @property
    def guard_samples(self) -> int:
        """Guard band in samples each side (32446 for the ISMIR configs), see :func:`automix.receptive_field.guard_samples`."""
        return guard_samples(self.kernel_size, self.kernel_size_tb, self.n_tb_per_repeat, self.n_repeats,
                                    self.max_pooling)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(batch, n_stems * n_channels, k * max_pooling)``, k >= 1."""
        n_in = self.conv_1.in_channels
        if x.dim() != 3 or x.shape[1] != n_in or x.shape[-1] == 0 or x.shape[-1] % self.max_pooling:
            raise ValueError(f"FxNormAutomix expects (batch, {n_in}, time) with time a positive multiple of "
                             f"{self.max_pooling}; got {tuple(x.shape)} (zero-pad the end of the stems)")

    # ----------------------------------------------------------------------------------------------- latent path
    def latent_mask(self, z: torch.Tensor) -> torch.Tensor:
        """Mask at the pooled rate from the pooled front-end features (TCN -> BLSTM), mixing mode.

        Used by :meth:`forward`; the chunked mix uses the in-place equivalent
        :func:`automix.models.inference_latent.latent_mask_inplace`.

        Args:
            z: ``(batch, N, frames)`` (after max-pool and softplus).

        Returns:
            ``(batch, n_targets, N, frames)``, non-negative.
        """
        batch, n_feat, n_frames = z.shape
        h = self.bottleneck_conv1x1(self.layerNorm(z))
        skip_sum = 0
        all_blocks = [block for repeat in self.repeats for block in repeat]
        for i, block in enumerate(all_blocks):
            h, skip = block(h, with_residual=i < len(all_blocks) - 1)
            skip_sum = skip_sum + skip
        m = self.output(skip_sum).reshape(batch * self.n_targets, n_feat, n_frames)
        m, _ = self.blstm(m.transpose(1, 2))
        return F.softplus(m).transpose(1, 2).reshape(batch, self.n_targets, n_feat, n_frames)

    # ------------------------------------------------------------------------------------------------- forward
    def front_end(self, x: torch.Tensor):
        """Front-end encoder of :meth:`forward`: ``p = conv_1(x)``, ``|p|`` and the max-pooled conv_2 output *before*
        softplus.

        Uses ``self.conv_impl`` (``"direct"``: ``F.conv1d`` with explicit zero padding, much faster on CPU than
        PyTorch's ``padding="same"`` path for even kernels; ``"fft"``: overlap-save FFT convolutions).

        Returns:
            ``(p, abs_p, pooled_pre_softplus, indices)``; indices only in pre-training mode (else ``None``).
        """
        p = self.correlate(x, self.conv_1.weight, depthwise=False)
        abs_p = p.abs()
        c = self.correlate(abs_p, self.conv_2[0].weight, depthwise=True)
        pooled, indices = F.max_pool1d(c, self.max_pooling, return_indices=True) if self.pretrain else \
            (F.max_pool1d(c, self.max_pooling), None)
        return p, abs_p, pooled, indices

    def correlate(self, x: torch.Tensor, weight: torch.Tensor, depthwise: bool) -> torch.Tensor:
        """"Same"-padded cross-correlation (``(K-1)//2`` zeros left, ``K//2`` right) with ``self.conv_impl``.

        Used by :meth:`front_end`. ``"fft"`` returns float32 also under autocast; ``"direct"`` the autocast dtype.
        """
        width = weight.shape[-1]
        left, right = (width - 1) // 2, width // 2
        if self.conv_impl == "fft":
            correlate = fft_conv.fft_depthwise_correlate if depthwise else fft_conv.fft_correlate
            return correlate(x, weight, left, right, self.fft_size)
        if not depthwise and x.device.type == "cpu" and (x.dtype == torch.bfloat16 or torch.is_autocast_enabled("cpu")):
            # PyTorch 2.13's CPU bfloat16 kernel for dense convolutions with few input channels returns wrong
            # values on AMX CPUs (measured relative error ~1.1 for 8 -> 16 channels, kernel 64; 16 input channels
            # are fine): this one convolution computes in float32 (as the FFT path does).
            with torch.autocast("cpu", enabled=False):
                return F.conv1d(F.pad(x.float(), (left, right)), weight.float())
        return F.conv1d(F.pad(x, (left, right)), weight, groups=x.shape[1] if depthwise else 1)

    def mix_gains(self, mask: torch.Tensor, frame_abs_sum: torch.Tensor, n_samples: int) -> torch.Tensor:
        """Per-frame channel gains ``mask * SE(mean_t |mask * p|)`` (used by :meth:`forward` and by the chunked mix).

        Args:
            mask: ``(batch, n_targets, N, frames)``.
            frame_abs_sum: ``sum_{t in frame} |p_t|`` over the whole signal, ``(batch, N, frames)``.
            n_samples: samples in the whole signal (the SE mean's denominator).

        Returns:
            ``(batch, n_targets, N, frames)``.
        """
        mean_abs = (mask * frame_abs_sum.unsqueeze(1)).sum(-1) / n_samples
        return mask * self.se_block.gains(mean_abs).unsqueeze(-1)

    def mixture_kernel(self) -> torch.Tensor:
        """conv_1's kernel summed over stems per output channel: ``(N, n_channels, L)`` (decoder + stem sum).

        Used by :meth:`forward` (mixing mode) and the chunked mix.
        """
        weight = self.conv_1.weight
        return weight.reshape(weight.shape[0], self.n_stems, self.n_channels, -1).sum(1)

    def decode(self, y: torch.Tensor, kernel: torch.Tensor, fft: bool = False) -> torch.Tensor:
        """Crop ``(L-1)//2`` / ``L//2`` samples and apply the tied transposed conv: ``(b, N, T) -> (b, C, T)``.

        Used by :meth:`forward`. ``fft=True`` returns float32 also under autocast.
        """
        n_samples = y.shape[-1]
        crop = ((self.kernel_size - 1) // 2, self.kernel_size // 2)
        if fft:  # crops inside its one padded copy of y (no extra full-rate copy, forward or backward)
            return fft_conv.fft_transposed_conv(y, kernel, self.fft_size, crop)
        return F.conv_transpose1d(y[..., crop[0]:n_samples - crop[1]], kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-pass forward with autograd: the training forward, and inference on inputs that fit in memory.

        Runs under ``torch.autocast`` too (see the module docstring). :func:`automix.mixing.mix` mixes songs of any
        length with bounded memory instead (inference only, float32, same result).

        Args:
            x: ``(batch, n_stems * n_channels, time)``, time a multiple of ``max_pooling``.

        Returns:
            ``(n_targets, batch, n_channels, time)`` (mixing) or ``(n_stems, batch, n_channels, time)``
            (pre-training); float32 when the decoder is an FFT convolution, else the autocast dtype under autocast.
        """
        self.check_input(x)
        batch, _, n_samples = x.shape
        n_frames = n_samples // self.max_pooling
        p, abs_p, pooled, indices = self.front_end(x)
        z = F.softplus(pooled)
        if self.pretrain:
            y = F.max_unpool1d(z, indices, self.max_pooling, output_size=(n_samples,)) * p
            out = self.decode(y, self.conv_1.weight, fft=self.conv_impl == "fft")
            return out.reshape(batch, self.n_stems, self.n_channels, n_samples).transpose(0, 1)
        mask = self.latent_mask(z)
        # float32: under float16 autocast the SE's sum over all frames of a song could overflow (max 65504).
        frame_abs_sum = abs_p.unflatten(-1, (n_frames, self.max_pooling)).sum(-1, dtype=torch.float32)
        gains = self.mix_gains(mask, frame_abs_sum, n_samples)
        y = p.unflatten(-1, (n_frames, self.max_pooling)).unsqueeze(1) * gains.unsqueeze(-1)
        y = y.reshape(batch * self.n_targets, -1, n_samples)
        out = torch.tanh(self.decode(y, self.mixture_kernel(), fft=self.conv_impl == "fft"))
        return out.reshape(batch, self.n_targets, self.n_channels, n_samples).transpose(0, 1)
