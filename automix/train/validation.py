"""Validation over whole songs (spec §5.4): the network's output for each song, its losses, mean and median.

How the output of a whole song is computed:

* FxNorm-Automix (mixing): :func:`automix.mixing.mix`, the exact chunked forward. It equals the one-pass forward of
  the whole song (as inference and evaluation compute it), so validation measures the model that will be used: the
  BLSTM and the global norms see the whole song and there are no window seams. The release instead cut the song
  into training-length windows with guard bands, which gives a slightly different output than its own inference.
* Wave-U-Net: windows of ``TRAINING_SEQ_LENGTH`` with ``GUARD_LEFT`` guards (:func:`automix.mixing.mix_wave_u_net`),
  as the release and as inference: its group norms are per window, so the window is part of the model.
* Front-end pre-training: windows with guards as the release (:func:`windowed_forward`); the auto-encoder's
  receptive field is a few hundred samples, far inside the guards.

Losses: the config's validation loss (``stereo_loss`` = the training loss La/Lb with its guard frames, for mixing;
``td_l1`` without guards, for pre-training) and, for mixing, also ``td_l1`` as a second figure. Songs too short for
the loss are left out with a warning.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch.nn import functional as F

from automix.losses import StereoLoss, TimeL1Loss
from automix.mixing import mix, mix_wave_u_net
from automix.models import FxNormAutomix, WaveUNet

logger = logging.getLogger(__name__)

EXCERPT_SECONDS = 10.0


def stereo_loss(config: dict) -> StereoLoss:
    """The config's stereo loss (La or Lb) with its STFT and guard frames (spec §4.3, §5.5)."""
    return StereoLoss(config["LOSS"], n_fft=config["FFT_SIZE"], hop_length=config["HOP_LENGTH"],
                      guard_frames=config["LOSS_GUARD_FRAMES"])


def primary_loss_name(config: dict) -> str:
    """The release's validation key: ``stereo_loss`` (mixing) or ``td_l1`` (pre-training)."""
    return "td_l1" if config["LOSS"] == "td_l1" else "stereo_loss"


def windowed_forward(model: torch.nn.Module, x: torch.Tensor, window: int, guard: int,
                     batch_size: int) -> torch.Tensor:
    """Forward of a long input through windows with guard bands (spec §3.1 "unfold"), ``batch_size`` at a time.

    The input is zero-padded by ``guard`` on the left and as needed on the right, cut into ``window``-sample
    windows with hop ``window - 2 guard``; the centre ``[guard, window - guard)`` of each window's output is kept
    and the pieces are concatenated (no cross-fade). Needs a network whose output is as long as its input.

    Args:
        x: ``(1, channels, T)``.

    Returns:
        ``(n_targets, 1, n_channels, T)``.
    """
    hop = window - 2 * guard
    if hop <= 0:
        raise ValueError(f"window {window} must exceed twice the guard {guard}")
    n_samples = x.shape[-1]
    n_windows = max(1, math.ceil(n_samples / hop))
    padded = F.pad(x, (guard, (n_windows - 1) * hop + window - guard - n_samples))
    pieces = []
    for first in range(0, n_windows, batch_size):
        starts = range(first * hop, min(n_windows, first + batch_size) * hop, hop)
        out = model(torch.cat([padded[..., s:s + window] for s in starts]))
        pieces.extend(out[:, j:j + 1, :, guard:guard + hop] for j in range(len(starts)))
    return torch.cat(pieces, -1)[..., :n_samples]


class Validator:
    """Computes the validation losses of whole songs.

    Args:
        config: validated experiment config.
        device: where the network runs (losses are computed on the CPU, in float32).
    """

    def __init__(self, config: dict, device: torch.device):
        self.config, self.device = config, device
        self.primary = primary_loss_name(config)
        self.losses = {"td_l1": TimeL1Loss()} if self.primary == "td_l1" else \
            {"stereo_loss": stereo_loss(config), "td_l1": TimeL1Loss()}
        self.min_samples = 0 if self.primary == "td_l1" else \
            config["FFT_SIZE"] + 2 * config["LOSS_GUARD_FRAMES"] * config["HOP_LENGTH"]
        self._warned = set()

    @torch.inference_mode()
    def output(self, model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """The network's output for a whole song ``(n_inputs*2, T)`` -> ``(n_targets, 1, 2, T)`` on the CPU."""
        x = inputs.unsqueeze(0)
        if isinstance(model, FxNormAutomix) and not model.pretrain:
            return mix(model, x)[None].float()  # (1, 2, T) batch -> (1 target, 1, 2, T)
        if isinstance(model, WaveUNet):
            out = mix_wave_u_net(model, x.to(self.device), window=self.config["TRAINING_SEQ_LENGTH"],
                                 guard=self.config["GUARD_LEFT"])
            return out.float().cpu()
        multiple = getattr(model, "max_pooling", 1)
        n_samples = x.shape[-1]
        x = F.pad(x, (0, -n_samples % multiple)).to(self.device)
        out = windowed_forward(model, x, self.config["TRAINING_SEQ_LENGTH"], self.config["GUARD_LEFT"],
                               self.config["BATCH_SIZE"])
        return out[..., :n_samples].float().cpu()

    def song_losses(self, output: torch.Tensor, target: torch.Tensor) -> dict:
        """``{loss name: value}`` of one song; ``output``, ``target``: ``(n_targets, 1, 2, T)``."""
        return {name: float(loss(output, target)) for name, loss in self.losses.items()}

    def usable(self, name: str, n_samples: int) -> bool:
        if n_samples >= self.min_samples:
            return True
        if name not in self._warned:
            self._warned.add(name)
            logger.warning("validation song %s: %d samples, the loss needs at least %d; left out", name, n_samples,
                           self.min_samples)
        return False

    def run(self, model: torch.nn.Module, items, excerpt: bool = False):
        """Losses of every song of ``items`` (``(name, inputs (n_inputs*2, T), targets (n_targets, 2, T))``).

        Returns:
            ``(per_song, excerpt)``: ``{song: {loss: value}}`` and, when asked, ``(output, target)`` numpy
            ``(2, n)`` of the first song's first ``EXCERPT_SECONDS`` (else None).
        """
        model.eval()
        per_song, first = {}, None
        for name, inputs, targets in items:
            if not self.usable(name, inputs.shape[-1]):
                continue
            output = self.output(model, torch.from_numpy(inputs))
            target = torch.from_numpy(targets).unsqueeze(1)
            per_song[name] = self.song_losses(output, target)
            if excerpt and first is None:
                n = min(output.shape[-1], int(EXCERPT_SECONDS * 44100))
                first = (output[0, 0, :, :n].numpy(), target[0, 0, :, :n].numpy())
        return per_song, first

    def baseline(self, items) -> dict:
        """Per-song losses of the plain sum of the input stems (mixing only; empty for pre-training, whatever its
        loss: the targets are the inputs themselves)."""
        if self.primary == "td_l1" or self.config.get("PRETRAIN"):
            return {}
        per_song = {}
        for name, inputs, targets in items:
            if self.usable(name, inputs.shape[-1]):
                stems = torch.from_numpy(inputs).reshape(-1, 2, inputs.shape[-1])
                per_song[name] = self.song_losses(stems.sum(0)[None, None], torch.from_numpy(targets)[:, None])
        return per_song


def summarize(per_song: dict) -> dict:
    """``{f"{loss}_mean": ..., f"{loss}_median": ...}`` over the songs of ``{song: {loss: value}}``."""
    if not per_song:
        return {}
    names = next(iter(per_song.values())).keys()
    summary = {}
    for name in names:
        values = np.array([losses[name] for losses in per_song.values()], dtype=np.float64)
        summary[f"{name}_mean"] = float(values.mean())
        summary[f"{name}_median"] = float(np.median(values))
    return summary
