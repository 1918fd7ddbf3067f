"""automix.config: every shipped config loads, equals the release's settings, and bad configs fail clearly."""
import json
from pathlib import Path

import pytest
import torch

from automix.config import ConfigError, load_config, validate_config
from automix.models import build_model

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.py"))


def test_configs_exist():
    assert {p.stem for p in CONFIGS} >= {"ours_S_Lb", "ours_S_La", "ours_S_pretrained", "wun_S_Lb"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_loads_and_builds_its_network(path):
    config = load_config(path)
    model = build_model(config, seed=0).eval()
    length = 64 * 100 if config["NET_TYPE"] != "WAVEUNET" else 2000
    with torch.inference_mode():
        out = model(torch.zeros(1, 2 * len(config["INPUTS"]), length))
    n_out = len(config["INPUTS"]) if config["PRETRAIN"] else 1
    shrink = config["TRAINING_SEQ_LENGTH"] - config.get("OUTPUT_SEQ_LENGTH", config["TRAINING_SEQ_LENGTH"])
    assert out.shape == (n_out, 1, 2, length - shrink)  # Wave-U-Net's valid convolutions remove 68 samples


@pytest.mark.parametrize("name", ["ours_S_Lb", "ours_S_pretrained", "wun_S_Lb"])
def test_ismir_configs_equal_the_release_settings(reference_dir, name):
    release = json.loads((reference_dir / "parity" / f"{name}.config.json").read_text())
    ours = load_config(Path(__file__).resolve().parents[1] / "configs" / "ISMIR" / f"{name}.py")
    as_json = json.loads(json.dumps(ours))
    assert {k: as_json[k] for k in release} == release
    assert validate_config(release, name)["GUARD_LEFT"] == release["GUARD_LEFT"]  # the release's file is valid too


def _write(tmp_path, text):
    path = tmp_path / "exp.py"
    path.write_text(text)
    return path


BASE = 'config = {"NET_TYPE": "CAFX_TDCN_MIX", "INPUTS": ["vocals"], "OUTPUTS": ["mixture"], ' \
       '"TRAINING_SEQ_LENGTH": 6400%s}'


@pytest.mark.parametrize("extra, message", [
    (', "BATCH_SIZ": 4', "unknown key(s): BATCH_SIZ (did you mean BATCH_SIZE?)"),
    (', "BATCH_SIZE": "4"', "BATCH_SIZE must be int"),
    (', "USE_AMP": 1', "USE_AMP must be bool"),
    (', "NUM_EPOCHS": True', "NUM_EPOCHS must be int"),
    (', "GUARD_LEFT": 100', "GUARD_LEFT = 100 disagrees"),
    (', "LEVELS": 5', "LEVELS are not used by NET_TYPE CAFX_TDCN_MIX"),
])
def test_bad_configs_name_the_file_and_key(tmp_path, extra, message):
    path = _write(tmp_path, BASE % extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_missing_required_key_and_missing_dict(tmp_path):
    with pytest.raises(ConfigError, match="required key TRAINING_SEQ_LENGTH"):
        load_config(_write(tmp_path, 'config = {"NET_TYPE": "WAVEUNET", "INPUTS": [], "OUTPUTS": []}'))
    with pytest.raises(ConfigError, match="must define a dict named 'config'"):
        load_config(_write(tmp_path, "settings = {}"))
    with pytest.raises(ConfigError, match="could not be imported"):
        load_config(_write(tmp_path, "config = {"))
    with pytest.raises(ConfigError, match="NET_TYPE must be one of"):
        validate_config({"NET_TYPE": "UNET"})


def test_derived_values_and_input_not_modified():
    given = {"NET_TYPE": "WAVEUNET", "INPUTS": ["a", "b"], "OUTPUTS": ["mixture"], "TRAINING_SEQ_LENGTH": 440960}
    copy = dict(given)
    config = validate_config(given)
    assert given == copy
    assert config["OUTPUT_SEQ_LENGTH"] == 440892 and config["GUARD_LEFT"] == 32540 and config["N_BINS"] == 2049
    assert config["SOURCES"] == ["a", "b", "mixture"] and config["N_FEATURES_ENCODER"] == 24
