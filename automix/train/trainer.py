"""The training loop (spec §5.3-5.4): AMSGrad with coupled L2, the piecewise LR schedule with its lr-0 warm-up
epoch, gradient clipping, AMP on CUDA, validation every epoch, best-by-mean/median weights, exact resume.

The trainer knows nothing about files of audio: it takes a training dataset (each item one minibatch, see
:class:`automix.data.TrainingBatches`) and re-iterable validation items ``(name, inputs, targets)``.

One step::

    zero grads -> forward + loss (autocast when AMP) -> backward (DDP averages the gradients over the ranks)
    -> unscale (fp16) -> clip_grad_norm_(GRAD_CLIP_MAX_NORM, GRAD_CLIP_NORM_TYPE)
    -> optimizer step, or skip it when the gradient norm is not finite (counted; an epoch of only skipped
       steps stops the run)

End of an epoch: validation, ``current_model_for_mixture.params``, the best-by-mean and best-by-median weights when
they improve, the history, and last the resume checkpoint (the commit point; see :mod:`automix.train.checkpoint`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from automix.config import learning_rate_at
from automix.losses import TimeL1Loss, crop_to_output
from automix.models import FxNormAutomix
from automix.train import checkpoint, distributed
from automix.train.distributed import ProcessInfo
from automix.train.monitor import Monitor, memory_summary
from automix.train.validation import Validator, stereo_loss, summarize

logger = logging.getLogger(__name__)

AMP_MODES = ("auto", "off", "bf16", "fp16")


class TrainingError(RuntimeError):
    """The run cannot go on (e.g. every step of an epoch had a non-finite loss or gradient)."""


@dataclass
class TrainOptions:
    """How to run (not what to train: that is the config).

    Attributes:
        seed: model initialization, dropout, and every data draw.
        amp: ``auto`` (CUDA: bf16 where supported, else fp16 with a GradScaler, if the config's USE_AMP; CPU:
            float32), ``off``, ``bf16`` or ``fp16`` (also on the CPU).
        num_workers: data-loader processes per rank.
        checkpoint_every: also write the resume checkpoint every this many minibatches (0: once per epoch).
        audio_every: epochs between TensorBoard audio/spectrogram summaries (0: never).
        progress: show a tqdm bar (rank 0).
    """

    seed: int = 0
    amp: str = "auto"
    num_workers: int = 0
    checkpoint_every: int = 0
    audio_every: int = 10
    progress: bool = True


@dataclass
class EpochStats:
    """Running figures of one epoch on this rank."""

    loss_sum: float = 0.0
    n_steps: int = 0
    n_skipped: int = 0
    grad_norm_max: float = 0.0
    seconds: float = 0.0

    def add(self, loss: float, grad_norm: float, finite: bool) -> None:
        self.n_steps += 1
        if finite:
            self.loss_sum += loss
            self.grad_norm_max = max(self.grad_norm_max, grad_norm)
        else:
            self.n_skipped += 1


@dataclass
class RunState:
    """Where the run stands; saved in the resume checkpoint."""

    epoch: int = 0  # next epoch to run
    batch: int = 0  # next minibatch of that epoch
    global_step: int = 0
    best: dict = field(default_factory=lambda: {"mean": math.inf, "median": math.inf})
    history: list = field(default_factory=list)
    baseline: dict = field(default_factory=dict)


def autocast_dtype(amp: str, config: dict, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``--amp`` (None: float32)."""
    if amp not in AMP_MODES:
        raise ValueError(f"unknown amp mode {amp!r}; expected one of {AMP_MODES}")
    if amp == "off" or (amp == "auto" and (device.type != "cuda" or not config["USE_AMP"])):
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def training_loss(config: dict) -> torch.nn.Module:
    """La/Lb with the loss guard frames, or the time-domain L1 inside the guard bands (pre-training)."""
    if config["LOSS"] == "td_l1":
        return TimeL1Loss(config["GUARD_LEFT"], config["GUARD_RIGHT"])
    return stereo_loss(config)


def build_optimizer(model: torch.nn.Module, config: dict) -> torch.optim.Adam:
    """Adam with AMSGrad and classic (coupled) L2 ``weight_decay = L2_REGULARIZATION`` (spec §5.3)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=learning_rate_at(config, 0), weight_decay=config["L2_REGULARIZATION"],
                            amsgrad=config["AMSGRAD"])


class Trainer:
    """Trains one network on one config; rank 0 writes into ``run_dir`` (None: write nothing).

    Args:
        model: the network (not yet on the device, not wrapped).
        config: validated experiment config.
        options: :class:`TrainOptions`.
        info: this process's place in a torchrun job (default: a single CPU process).
        run_dir: results folder of the run.
    """

    def __init__(self, model: torch.nn.Module, config: dict, options: TrainOptions | None = None,
                 info: ProcessInfo | None = None, run_dir: Path | None = None):
        self.config, self.options = config, options or TrainOptions()
        self.info = info or ProcessInfo()
        self.device = self.info.device
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.net = model.to(self.device)
        # FxNorm-Automix has trainable parameters without gradients, which DDP must be told about: the last
        # temporal block's residual conv (kept for the release's state_dict), and the BLSTM in pre-training
        self.model = distributed.wrap_model(self.net, self.info,
                                            find_unused_parameters=isinstance(self.net, FxNormAutomix))
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.net, config)
        self.amp_dtype = autocast_dtype(self.options.amp, config, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.loss_fn = training_loss(config).to(self.device)
        self.validator = Validator(config, self.device)
        self.state = RunState()
        self.epoch_stats = EpochStats()
        self.target_name = "_".join(config["TARGETS"][0])
        self.monitor = None
        self._loader = None
        self.resumed = False  # a resumed run purges the TensorBoard events written after its checkpoint
        torch.manual_seed(self.options.seed + self.info.rank)  # dropout; replaced by the checkpoint's on resume

    # ------------------------------------------------------------------------------------------------ one step
    def train_step(self, batch: dict) -> tuple[float, float, bool]:
        """One optimizer step on a minibatch; returns ``(loss, gradient norm, finite)``."""
        inputs = batch["inputs"].to(self.device, non_blocking=True)
        targets = batch["targets"].to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            output = self.model(inputs)
            if output.shape[-1] != targets.shape[-1]:  # Wave-U-Net: valid convolutions, shorter output
                targets = crop_to_output(targets, output.shape[-1])
            loss = self.loss_fn(output, targets)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.config["GRAD_CLIP_MAX_NORM"],
                                                   norm_type=self.config["GRAD_CLIP_NORM_TYPE"])
        # the all-reduced gradients are the same on every rank, so every rank takes the same decision
        finite = bool(torch.isfinite(grad_norm))
        if finite:
            self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(loss.detach()), float(grad_norm), finite

    # ----------------------------------------------------------------------------------------------- one epoch
    def epoch_batches(self, dataset, epoch: int, start: int):
        """Minibatches ``start, start+1, ...`` of ``epoch``: the dataset's items ``(epoch, i)`` through a loader."""
        from automix.data import make_loader

        dataset.set_epoch(epoch)
        if start == 0:
            if self._loader is None or self._loader.dataset is not dataset:  # workers persist across epochs
                self._loader = make_loader(dataset, self.options.num_workers, self.options.seed,
                                           pin_memory=self.device.type == "cuda")
            return enumerate(self._loader)
        # resuming mid-epoch: a one-off loader over the remaining items
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=None, sampler=[(epoch, i) for i in range(start, len(dataset))],
            num_workers=self.options.num_workers, generator=torch.Generator().manual_seed(self.options.seed))
        return enumerate(loader, start)

    def train_epoch(self, dataset, epoch: int) -> EpochStats:
        """Train one epoch (the rest of it, when resuming mid-epoch); returns this rank's statistics."""
        if epoch != self.state.epoch:  # not the epoch a mid-epoch checkpoint stopped in: start it afresh
            self.state.epoch, self.state.batch, self.epoch_stats = epoch, 0, EpochStats()
        lr = learning_rate_at(self.config, epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        stats, n_batches = self.epoch_stats, len(dataset)
        bar = tqdm(total=n_batches, initial=self.state.batch, desc=f"epoch {epoch + 1}/{self.config['NUM_EPOCHS']}",
                   unit="batch", disable=not (self.options.progress and self.info.is_main), leave=False)
        started = time.perf_counter()
        for index, batch in self.epoch_batches(dataset, epoch, self.state.batch):
            loss, grad_norm, finite = self.train_step(batch)
            stats.add(loss, grad_norm, finite)
            self.state.batch, self.state.global_step = index + 1, self.state.global_step + 1
            if self.monitor:
                self.monitor.step(self.state.global_step, loss, grad_norm)
            bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.3g}", refresh=False)
            bar.update()
            every = self.options.checkpoint_every
            if every and self.state.batch % every == 0 and self.state.batch < n_batches:
                stats.seconds += time.perf_counter() - started
                started = time.perf_counter()
                self.save_checkpoint()
        bar.close()
        stats.seconds += time.perf_counter() - started
        # with fp16 loss scaling, overflowing steps are how the GradScaler finds its scale: only a scale that fell
        # below fp16's smallest normal number (even the unscaled gradients overflow) means a broken run
        calibrating = self.scaler.is_enabled() and self.scaler.get_scale() >= 2.0 ** -14
        if stats.n_skipped == stats.n_steps and not calibrating:
            raise TrainingError(f"epoch {epoch + 1}: all {stats.n_steps} steps had a non-finite loss or gradient "
                                "norm (skipped); lower the learning rate, check the data, or run with --amp off")
        return stats

    # ---------------------------------------------------------------------------------------------- validation
    def validate(self, items, excerpt: bool = False):
        """Validation losses over every rank's songs: ``({song: {loss: value}}, excerpt of rank 0)``."""
        per_song, first = self.validator.run(self.net, items, excerpt=excerpt and self.info.is_main)
        merged = {}
        for part in distributed.all_gather_objects(per_song, self.info):
            merged.update(part)
        return dict(sorted(merged.items())), first

    def log_baseline(self, items) -> None:
        """Validation losses of the plain sum of the stems, once at the start (not for pre-training)."""
        merged = {}
        for part in distributed.all_gather_objects(self.validator.baseline(items), self.info):
            merged.update(part)
        self.state.baseline = summarize(merged)
        if self.state.baseline:
            figures = ", ".join(f"{k} {v:.5g}" for k, v in self.state.baseline.items())
            logger.info("baseline (sum of the input stems) over %d validation songs: %s", len(merged), figures)
        else:
            logger.info("no baseline for pre-training (the targets are the inputs: identity gives 0)")

    # -------------------------------------------------------------------------------------------------- the run
    def fit(self, dataset, validation_items) -> RunState:
        """Train for the epochs of ``LR_SCHEDULE`` that remain; returns the final :class:`RunState`."""
        n_epochs = self.config["NUM_EPOCHS"]
        if self.info.is_main and self.run_dir is not None and self.monitor is None:
            purge = self.state.global_step if self.resumed else None
            self.monitor = Monitor(self.run_dir, self.target_name, purge, self.options.audio_every)
        if not self.state.baseline and self.state.global_step == 0:
            self.log_baseline(validation_items)
        try:
            for epoch in range(self.state.epoch, n_epochs):
                stats = self.train_epoch(dataset, epoch)
                started = time.perf_counter()
                wants_audio = self.monitor is not None and self.monitor.wants_audio(epoch, n_epochs)
                per_song, excerpt = self.validate(validation_items, excerpt=wants_audio)
                self.end_epoch(epoch, stats, summarize(per_song), time.perf_counter() - started, excerpt)
        finally:
            if self.monitor:
                self.monitor.close()
                self.monitor = None
        return self.state

    def end_epoch(self, epoch: int, stats: EpochStats, summary: dict, valid_seconds: float, excerpt) -> None:
        """History row, weights, best weights, TensorBoard, then the resume checkpoint."""
        loss_sum, n_finite = distributed.all_reduce_sum([stats.loss_sum, stats.n_steps - stats.n_skipped],
                                                        self.info)
        row = {"epoch": epoch + 1, "lr": learning_rate_at(self.config, epoch),
               "train_loss": loss_sum / max(n_finite, 1), "grad_norm_max": stats.grad_norm_max,
               "skipped_steps": stats.n_skipped, "examples_per_s":
                   stats.n_steps * self.config["BATCH_SIZE"] / max(stats.seconds, 1e-9),
               **{f"valid_{key}": value for key, value in summary.items()},
               "train_s": stats.seconds, "valid_s": valid_seconds}
        self.state.history.append(row)
        improved = self.update_best(summary)
        if self.info.is_main and self.run_dir is not None:
            self.save_weights(improved)
            self.monitor.epoch(row, self.state.global_step, self.state.history)
            if excerpt is not None:
                self.monitor.audio(epoch, self.state.global_step, *excerpt)
        self.state.epoch, self.state.batch = epoch + 1, 0
        self.epoch_stats = EpochStats()
        self.save_checkpoint()
        self.log_epoch(row)

    def update_best(self, summary: dict) -> list[str]:
        key = self.validator.primary
        improved = []
        for stat in ("mean", "median"):
            value = summary.get(f"{key}_{stat}", math.inf)
            if value < self.state.best[stat]:
                self.state.best[stat] = value
                improved.append(stat)
        return improved

    def save_weights(self, improved: list[str]) -> None:
        checkpoint.save_weights(self.net, self.run_dir / checkpoint.CURRENT_MODEL_FILE.format(target=self.target_name))
        for stat in improved:
            name = checkpoint.BEST_MODEL_FILE.format(target=self.target_name, loss=self.validator.primary, stat=stat)
            checkpoint.save_weights(self.net, self.run_dir / name)

    def log_epoch(self, row: dict) -> None:
        done = [r["train_s"] + r["valid_s"] for r in self.state.history]
        eta_h = (self.config["NUM_EPOCHS"] - row["epoch"]) * sum(done) / len(done) / 3600
        valid = ", ".join(f"{k[6:]} {v:.5g}" for k, v in row.items() if k.startswith("valid_") and k != "valid_s")
        logger.info("epoch %d/%d: lr %.3g, train loss %.5g, max grad norm %.3g, %d skipped, %.1f examples/s, "
                    "train %.1f s, valid %.1f s, ETA %.2f h; valid %s; %s", row["epoch"], self.config["NUM_EPOCHS"],
                    row["lr"], row["train_loss"], row["grad_norm_max"], row["skipped_steps"], row["examples_per_s"],
                    row["train_s"], row["valid_s"], eta_h, valid or "-", memory_summary(self.device))

    # ------------------------------------------------------------------------------------------------- resume
    def save_checkpoint(self) -> None:
        """The resume checkpoint (every rank's random state and running statistics; rank 0 writes)."""
        ranks = distributed.all_gather_objects({"rng": checkpoint.capture_rng_state(),
                                                "epoch_stats": asdict(self.epoch_stats)}, self.info)
        if not (self.info.is_main and self.run_dir is not None):
            return
        checkpoint.save_resume(self.run_dir, {
            "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(), "state": asdict(self.state), "ranks": ranks,
            "config": self.config, "seed": self.options.seed, "world_size": self.info.world_size})

    def load_checkpoint(self, saved: dict) -> None:
        """Continue from a resume checkpoint (see :func:`automix.train.checkpoint.load_resume`)."""
        self.net.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scaler.load_state_dict(saved["scaler"])
        self.state = RunState(**saved["state"])
        ranks = saved["ranks"]
        if len(ranks) != self.info.world_size:
            logger.warning("the checkpoint was written by %d processes, this run has %d: the minibatches are the "
                           "same, the dropout draws are not", len(ranks), self.info.world_size)
        mine = ranks[self.info.rank % len(ranks)]
        checkpoint.restore_rng_state(mine["rng"])
        self.resumed = True
        self.epoch_stats = EpochStats(**mine["epoch_stats"])
        logger.info("resumed at epoch %d, minibatch %d (step %d)", self.state.epoch + 1, self.state.batch,
                    self.state.global_step)
