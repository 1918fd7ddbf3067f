"""Checkpoints: weights (plain state_dicts, the release's ``.params`` names) and the resume state of a run.

Every file is written atomically (a temporary file in the same folder, fsync, ``os.replace``), so a run killed at
any moment, also in the middle of a write, leaves either the previous or the new version of each file. Everything
is loaded with ``torch.load(weights_only=True)``: no pickled code is ever executed. The resume checkpoint is the
run's commit point; it is written last at the end of an epoch, after the weights and the history.

Resume state (``resume_checkpoint.pt``): the model, optimizer and GradScaler state_dicts, the position in the run
(next epoch and minibatch, global step), the best validation values, the loss history, the running statistics of a
partly done epoch, the validated config, and every random state (torch CPU and CUDA, numpy's and python's global
generators; the data loader needs only the seed and the position, its minibatches depend on nothing else).
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from automix.atomic import atomic_path

logger = logging.getLogger(__name__)

RESUME_FILE = "resume_checkpoint.pt"
CURRENT_MODEL_FILE = "current_model_for_{target}.params"
BEST_MODEL_FILE = "best_model_for_{target}_valid_{loss}_{stat}.params"
FORMAT_VERSION = 1


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`automix.atomic.atomic_path`), synced to the disk first."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # a power cut after the rename must not leave an empty checkpoint


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


# temporaries of automix.atomic: ".<name>.<random><suffix>", left behind only by a killed process
_TEMPORARY = re.compile(r"^\.[^/]+\.(pt|params|csv|png|json|py)\.[A-Za-z0-9_]+\.(pt|params|csv|png|json|py)$")


def remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files a killed run left behind in its folder (they are never read)."""
    for path in Path(folder).glob(".*"):
        if path.is_file() and _TEMPORARY.match(path.name):
            path.unlink(missing_ok=True)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The network's state_dict (CPU tensors), loadable with ``torch.load(path, weights_only=True)``."""
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    atomic_torch_save(state, path)


def load_weights_file(path: Path) -> dict:
    """A ``.params`` state_dict; ``ValueError`` naming the file when it is missing or not a state_dict."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable/unsafe file is one clear error
        raise ValueError(f"{path}: not a loadable state_dict ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state_dict (name -> tensor), got {type(state).__name__}")
    return state


# ----------------------------------------------------------------------------------------------- random states
def capture_rng_state() -> dict:
    """torch (CPU and every CUDA device), numpy and python global random states, as weights_only-safe values."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gauss": float(cached_gauss)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["position"], numpy_state["has_gauss"], numpy_state["cached_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------------------------- resume files
def save_resume(folder: Path, state: dict) -> None:
    """Write the resume checkpoint of a run (see the module docstring for the content)."""
    atomic_torch_save({"format": FORMAT_VERSION, **state}, Path(folder) / RESUME_FILE)


def load_resume(folder: Path) -> dict | None:
    """The resume checkpoint of ``folder``, or None when there is none."""
    path = Path(folder) / RESUME_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {state.get('format')!r}, this version reads {FORMAT_VERSION}")
    return state


def config_fingerprint(config: dict) -> str:
    """A canonical JSON text of a config (tuples as lists), to compare a resumed run's config with its own."""
    return json.dumps(config, sort_keys=True, default=str)


def config_differences(saved: dict, current: dict) -> list[str]:
    """Keys whose values differ between two configs (compared as canonical JSON)."""
    keys = sorted(set(saved) | set(current))
    return [key for key in keys if config_fingerprint({key: saved.get(key)}) != config_fingerprint(
        {key: current.get(key)})]
