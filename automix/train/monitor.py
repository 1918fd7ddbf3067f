"""What a run reports, on rank 0 only: TensorBoard, the loss history (CSV + PNG curve), memory figures.

TensorBoard (``<run>/tb/``): ``train/loss`` and ``train/grad_norm`` per step; per epoch ``train/loss_epoch``,
``train/lr``, ``train/skipped_steps``, ``train/examples_per_second``, ``validation/<loss>_mean`` and ``_median``;
every ``audio_every`` epochs the audio (mono downmix: TensorBoard audio is mono) and spectrograms of an excerpt of
the first validation song, network output and target. A resumed run purges the events logged after its
checkpoint, so the curves have no duplicate steps.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np
import psutil
import torch

from automix.train.checkpoint import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.csv"
CURVE_FILE = "loss_{target}.png"
SAMPLE_RATE = 44100


def memory_summary(device: torch.device) -> str:
    """``"RSS 1.23 GB"`` (+ ``", CUDA peak 4.56 GB"`` on a CUDA device)."""
    text = f"RSS {psutil.Process().memory_info().rss / 1e9:.2f} GB"
    if device.type == "cuda":
        text += f", CUDA peak {torch.cuda.max_memory_allocated(device) / 1e9:.2f} GB"
    return text


class Monitor:
    """TensorBoard writer and history files of one run folder (create on rank 0 only).

    Args:
        run_dir: the run's results folder.
        target: the target group's name in file names (``mixture``).
        purge_step: on resume, the global step of the checkpoint (later events are dropped).
        audio_every: epochs between audio/spectrogram summaries (0: never).
    """

    def __init__(self, run_dir: Path, target: str = "mixture", purge_step: int | None = None, audio_every: int = 10):
        from torch.utils.tensorboard import SummaryWriter  # imported here: tensorboard is slow to import

        self.run_dir, self.target, self.audio_every = Path(run_dir), target, audio_every
        self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge_step)

    def step(self, global_step: int, loss: float, grad_norm: float) -> None:
        self.writer.add_scalar("train/loss", loss, global_step)
        if np.isfinite(grad_norm):
            self.writer.add_scalar("train/grad_norm", grad_norm, global_step)

    def epoch(self, row: dict, global_step: int, history: list[dict]) -> None:
        """Epoch scalars, then the history CSV and curve (rewritten whole, atomically)."""
        scalars = {"train/loss_epoch": row["train_loss"], "train/lr": row["lr"],
                   "train/skipped_steps": row["skipped_steps"], "train/examples_per_second": row["examples_per_s"]}
        scalars.update({f"validation/{key[len('valid_'):]}": value for key, value in row.items()
                        if key.startswith("valid_")})
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, global_step)
        self.writer.flush()
        write_history(self.run_dir / HISTORY_FILE, history)
        plot_history(self.run_dir / CURVE_FILE.format(target=self.target), history)

    def audio(self, epoch: int, global_step: int, output: np.ndarray, target: np.ndarray) -> None:
        """Audio and spectrograms of a validation excerpt (every ``audio_every`` epochs and the last one).

        Args:
            output, target: ``(n_channels, n_samples)`` float32.
        """
        for name, signal in (("output", output), ("target", target)):
            mono = torch.from_numpy(np.clip(signal.mean(0), -1.0, 1.0))
            self.writer.add_audio(f"validation_audio/{name}", mono, global_step, sample_rate=SAMPLE_RATE)
        self.writer.add_figure("validation_audio/spectrograms", spectrogram_figure(output, target), global_step)
        self.writer.flush()

    def wants_audio(self, epoch: int, n_epochs: int) -> bool:
        return self.audio_every > 0 and ((epoch + 1) % self.audio_every == 0 or epoch + 1 == n_epochs)

    def close(self) -> None:
        self.writer.close()


def write_history(path: Path, history: list[dict]) -> None:
    """The per-epoch rows as CSV (columns: the union of the rows' keys, in first-seen order)."""
    columns = list(dict.fromkeys(key for row in history for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, text.getvalue())


def plot_history(path: Path, history: list[dict]) -> None:
    """Training loss and validation means per epoch, log scale (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(epochs, [row["train_loss"] for row in history], label="train loss")
    for key in (k for k in history[-1] if k.startswith("valid_") and k.endswith("_mean")):
        axis.plot(epochs, [row.get(key, np.nan) for row in history], label=key[len("valid_"):])
    axis.set(xlabel="epoch", ylabel="loss", yscale="log")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def spectrogram_figure(output: np.ndarray, target: np.ndarray):
    """Log-magnitude spectrograms (2048/512, mono downmix) of output and target, one above the other."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for axis, (name, signal) in zip(axes, (("output", output), ("target", target))):
        mono = torch.from_numpy(np.ascontiguousarray(signal.mean(0)))
        magnitude = torch.stft(mono, 2048, 512, window=torch.hann_window(2048), return_complex=True).abs()
        db = 20 * torch.log10(magnitude + 1e-6).numpy()
        extent = (0, mono.shape[-1] / SAMPLE_RATE, 0, SAMPLE_RATE / 2000)
        axis.imshow(db, origin="lower", aspect="auto", extent=extent, vmin=db.max() - 90, vmax=db.max())
        axis.set(title=name, ylabel="kHz")
    axes[-1].set_xlabel("s")
    figure.tight_layout()
    return figure
