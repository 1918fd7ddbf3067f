"""The release's FxNorm-Automix forward, step by step: the yardstick of the tests and the benchmarks' baseline.

Not part of the package: :meth:`automix.models.FxNormAutomix.forward` (training, one-pass inference) and
:func:`automix.mixing.mix` (chunked inference) compute the same function faster and with less memory. This
transcription follows the original release (``F.conv1d`` front-end, mask upsampled to the full rate, squeeze-and-
excitation on the full-rate signal, transposed conv per stem, stems summed afterwards); it is slow and
memory-hungry (~3.7 GB for 30 s on CPU).

Imported by ``tests/`` (pytest puts this folder on ``sys.path``) and by ``benchmarks/`` (which add it).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from automix.models import FxNormAutomix


def _same_padding(width: int) -> tuple[int, int]:
    """PyTorch's ``padding="same"`` for an even kernel: ``(K-1)//2`` zeros left, ``K//2`` right."""
    return (width - 1) // 2, width // 2


def _tied_decoder(model: FxNormAutomix, y: torch.Tensor) -> torch.Tensor:
    """The release's transposed conv tied to conv_1, its padding as a crop: ``(b, N, T) -> (b, 8, T)``."""
    left, right = _same_padding(model.kernel_size)
    return F.conv_transpose1d(y[..., left:y.shape[-1] - right], model.conv_1.weight)


def release_forward(model: FxNormAutomix, x: torch.Tensor) -> torch.Tensor:
    """The release's forward of ``model`` (mixing or pre-training mode), same output as ``model(x)``.

    Args:
        model: a :class:`~automix.models.FxNormAutomix`.
        x: ``(batch, n_stems * n_channels, time)``, time a multiple of ``model.max_pooling``.

    Returns:
        ``(n_targets, batch, n_channels, time)`` (mixing) or ``(n_stems, batch, n_channels, time)`` (pre-training).
    """
    model.check_input(x)
    batch, _, n_samples = x.shape
    # conv_1/conv_2 as the release's padding="same" modules, padded explicitly: PyTorch's "same" path for even
    # kernels copies the input and is ~10x slower on CPU for the depthwise k128 conv.
    conv_2 = model.conv_2[0]
    p = F.conv1d(F.pad(x, _same_padding(model.kernel_size)), model.conv_1.weight)
    c = F.conv1d(F.pad(p.abs(), _same_padding(conv_2.kernel_size[0])), conv_2.weight, groups=p.shape[1])
    z, indices = F.max_pool1d(F.softplus(c), model.max_pooling, return_indices=True)
    if model.pretrain:
        m = F.max_unpool1d(z, indices, model.max_pooling, output_size=(n_samples,))
        out = _tied_decoder(model, m * p)
        return out.reshape(batch, model.n_stems, model.n_channels, n_samples).transpose(0, 1)
    mask = F.interpolate(model.latent_mask(z).flatten(0, 1), scale_factor=model.max_pooling, mode="nearest")
    y = mask.reshape(batch, model.n_targets, -1, n_samples) * p.unsqueeze(1)
    y = model.se_block(y.reshape(batch * model.n_targets, -1, n_samples))
    out = _tied_decoder(model, y)
    out = out.reshape(batch, model.n_targets, model.n_stems, model.n_channels, n_samples).sum(2)
    return torch.tanh(out).transpose(0, 1)
