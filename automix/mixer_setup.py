"""Loading what a :class:`automix.mixer.Mixer` needs: configs, checkpoints (and the rule that picks one), weights
checked against the config, the device, features and impulse responses. Every failure is a ``ValueError`` or
``FileNotFoundError`` naming the file and the fix. torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from automix.fxnorm.features import load_features, validate_features
from automix.conventions import STEMS

CURRENT_CHECKPOINT = "current_model_for_mixture.params"
BEST_PATTERN = "best_model_for_mixture_valid_{loss}_{statistic}.params"
MIXING_NETWORKS = ("CAFX_TDCN_MIX", "WAVEUNET")


def read_config(path) -> dict:
    """A validated experiment config from a ``.py`` config file or a ``.json`` dump of one.

    Raises:
        FileNotFoundError, ValueError: naming the file.
    """
    from automix.config import load_config, validate_config

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    if path.suffix != ".json":
        return load_config(path)
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a JSON config ({err}); give the config.json or config.py of the training")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a JSON config must hold one object (the config dict)")
    return validate_config(config, source=str(path))


def validation_loss_name(config: dict) -> str:
    """The validation loss in checkpoint names: ``stereo_loss`` (mixing, La/Lb) or ``td_l1`` (pre-training), as
    :func:`automix.train.validation.primary_loss_name` (not imported: it needs torch)."""
    return "td_l1" if config.get("LOSS") == "td_l1" else "stereo_loss"


def pick_checkpoint(folder, config: dict, checkpoint: str = "best") -> tuple[Path, str]:
    """The checkpoint of a results folder and the rule that chose it.

    Rule for ``"best"``: ``best_model_for_mixture_valid_<loss>_mean.params`` (the best mean validation loss; the
    trainer's and the release's name ``stereo_loss``, ``td_l1`` for pre-training configs), else the only
    ``best_model_for_mixture_valid_*_mean.params``, else ``current_model_for_mixture.params`` (the last epoch).
    ``"current"``: the last epoch. Any other value is a path (relative paths are tried in the folder first).

    Raises:
        FileNotFoundError: no checkpoint; ValueError: several best-by-mean checkpoints, none with the expected name.
    """
    folder = Path(folder)
    if checkpoint not in ("best", "current"):
        path = folder / checkpoint if (folder / checkpoint).is_file() else Path(checkpoint)
        return path, f"checkpoint given: {path.name}"
    current = folder / CURRENT_CHECKPOINT
    if checkpoint == "best":
        loss = validation_loss_name(config)
        preferred = folder / BEST_PATTERN.format(loss=loss, statistic="mean")
        if preferred.is_file():
            return preferred, f"best mean validation loss ({loss}, {config.get('LOSS', 'Lb')})"
        candidates = sorted(folder.glob(BEST_PATTERN.format(loss="*", statistic="mean")))
        if len(candidates) == 1:
            return candidates[0], "best mean validation loss"
        if candidates:
            raise ValueError(f"{folder}: several best-by-mean checkpoints ({', '.join(p.name for p in candidates)}) "
                             f"and none named for {loss!r}; choose one with --weights/checkpoint=PATH")
        rule = f"no best-by-mean checkpoint ({preferred.name}): the last epoch's"
    else:
        rule = "last epoch (asked for)"
    if not current.is_file():
        raise FileNotFoundError(f"{folder}: no checkpoint ({CURRENT_CHECKPOINT} or "
                                f"{BEST_PATTERN.format(loss='<LOSS>', statistic='mean')}); train first "
                                "(python -m automix.train) or give the weights file")
    return current, rule


def weights_mismatch(model, state: dict) -> str | None:
    """What keeps ``state`` from loading strictly into ``model``, in words (None: it fits)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model" for k, v in own.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    parts = [f"{len(items)} {what} ({', '.join(items[:2])}{', ...' if len(items) > 2 else ''})"
             for what, items in (("missing keys", missing), ("unexpected keys", unexpected),
                                 ("shape mismatches", shapes)) if items]
    return "; ".join(parts) or None


def load_state_dict(path) -> dict:
    """A plain state_dict checkpoint (``torch.load(weights_only=True)``, on the CPU).

    Raises:
        FileNotFoundError, ValueError: naming the file and the fix.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable/pickled-module file: one message with the fix
        what = ("holds pickled objects other than tensors (a whole module, like the release's net_mixture.dump?)"
                if zipfile.is_zipfile(path) else "is not a PyTorch checkpoint (torch.save file)")
        raise ValueError(f"{path}: {what}; weights must be a .params file saved with "
                         "torch.save(model.state_dict(), path)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state_dict of tensors; weights must be a "
                         ".params file saved with torch.save(model.state_dict(), path)")
    return state


def stem_order(config: dict, source: str = "config") -> list[str]:
    """The network's input stems in its channel order, from ``INPUTS`` (``vocals_normalized`` -> ``vocals``)."""
    names = [str(name).split("_")[0] for name in config["INPUTS"]]
    if sorted(names) != sorted(STEMS) or config.get("N_CHANNELS", 2) != 2:
        raise ValueError(f"{source}: INPUTS {config['INPUTS']} / N_CHANNELS {config.get('N_CHANNELS')}: a mixing "
                         "network takes the four stereo stems vocals, bass, drums, other")
    return names


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; a CUDA device that is not there is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine; use --device cpu (or auto)")
    try:
        torch.device(device)
    except RuntimeError:  # torch's message lists every device type it knows (~20): not the user's choices
        raise ValueError(f"device {device!r} is not a device name; use auto, cpu or cuda (cuda:N for one GPU)") \
            from None
    return str(device)


def build_network(config: dict, weights, device: str, source: str = "config"):
    """The network of ``config`` with ``weights`` (a state_dict or a ``.params`` path) on ``device``, in eval mode.

    Returns:
        ``(model, info)``; info: NET_TYPE, parameter count, weights source.

    Raises:
        ValueError: a network that does not mix, or weights that do not fit the config.
    """
    from automix.models import build_model, load_weights

    if config["NET_TYPE"] not in MIXING_NETWORKS or config.get("PRETRAIN"):
        raise ValueError(f"{source}: NET_TYPE {config['NET_TYPE']} (PRETRAIN {config.get('PRETRAIN')}) is a "
                         "pre-training network and cannot mix; give a mixing config (CAFX_TDCN_MIX or WAVEUNET)")
    weights_source = str(weights) if isinstance(weights, (str, Path)) else "state_dict (in memory)"
    state = load_state_dict(weights) if isinstance(weights, (str, Path)) else weights
    model = build_model(config)
    problem = weights_mismatch(model, state)
    if problem:
        raise ValueError(f"{weights_source}: weights do not fit the config {source}: {problem}; use the config the "
                         "weights were trained with")
    load_weights(model, state)
    model = model.to(device).eval()
    info = {"net_type": config["NET_TYPE"], "parameters": sum(p.numel() for p in model.parameters()),
            "weights": weights_source, "config": source}
    return model, info


def read_features(features, mode: str, allow_mismatch: bool = False) -> tuple[dict, dict]:
    """``(features, metadata)`` from a dict (used as given) or a features ``.npz`` loaded for ``mode`` (its
    provenance checked: mode, sample rate, FFT size, unless ``allow_mismatch``)."""
    if isinstance(features, dict):
        validate_features(features)
        return features, {"source": "in memory"}
    if features is None:
        raise ValueError("features are needed: a features .npz (automix normalize --features-save, or automix "
                         "features import) or a features dict")
    path = Path(features)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give the features .npz file")
    if path.is_file() and path.suffix.lower() != ".npy" and not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a features file (an .npz archive); give the .npz written by automix normalize "
                         "--features-save or automix features import")
    try:
        loaded, metadata = load_features(path, mode=mode, allow_mismatch=allow_mismatch)
    except (FileNotFoundError, ValueError):
        raise
    except Exception as err:  # noqa: BLE001 - zip/npz parser errors of a file that is not a features file
        raise ValueError(f"{path}: not a features file ({type(err).__name__}: {err}); give the .npz written by "
                         "automix normalize --features-save or automix features import") from None
    return loaded, {"source": str(path), **{k: metadata.get(k) for k in ("mode", "n_songs", "with_reverb")}}


def read_irs(value, what: str):
    from automix.fxnorm.reverb import find_impulse_responses

    if value is None or isinstance(value, list):
        return value or None
    try:
        return find_impulse_responses(value)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err} ({what}: expected FOLDER/<name>/impulse_response.wav, 44.1 kHz)") from None
