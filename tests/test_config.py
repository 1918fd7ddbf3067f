"""automix.config: every shipped config loads, equals the release's settings, means one network, fails clearly."""
import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from automix.config import (ConfigError, add_config_arguments, learning_rate_at, load_config, parse_overrides,
                            setting, validate_config)
from automix.models import build_model
from automix.receptive_field import (guard_samples, guard_samples_for_config, loss_guard_frames,
                                     network_input_length, wave_u_net_shrink)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").rglob("*.py"))
ISMIR = REPO / "configs" / "ISMIR"
PARITY_NAMES = ("ours_S_Lb", "ours_S_pretrained", "wun_S_Lb")
STEMS = ["vocals", "bass", "drums", "other"]


def test_configs_exist():
    assert {p.stem for p in CONFIGS} >= {"ours_S_Lb", "ours_S_La", "ours_S_pretrained", "wun_S_Lb"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_loads_and_builds_its_network(path):
    config = load_config(path)
    assert validate_config(config, str(path)) == config  # idempotent
    model = build_model(config, seed=0).eval()
    length = 64 * 100 if config["NET_TYPE"] != "WAVEUNET" else 2000
    with torch.inference_mode():
        out = model(torch.zeros(1, 2 * len(config["INPUTS"]), length))
    n_out = len(config["INPUTS"]) if config["PRETRAIN"] else 1
    shrink = config["TRAINING_SEQ_LENGTH"] - config.get("OUTPUT_SEQ_LENGTH", config["TRAINING_SEQ_LENGTH"])
    assert out.shape == (n_out, 1, 2, length - shrink)  # Wave-U-Net's valid convolutions remove 68 samples


@pytest.mark.parametrize("name", PARITY_NAMES)
def test_ismir_configs_equal_the_release_settings(reference_dir, name):
    release = json.loads((reference_dir / "parity" / f"{name}.config.json").read_text())
    ours = load_config(ISMIR / f"{name}.py")
    as_json = json.loads(json.dumps(ours))
    assert {k: as_json[k] for k in release} == release
    validated = validate_config(release, name)  # the release's own settings are a valid config too
    assert validated["GUARD_LEFT"] == release["GUARD_LEFT"] and validated["NUM_EPOCHS"] == release["NUM_EPOCHS"]
    assert validate_config(validated, name) == validated


# --------------------------------------------------------------------------------------- schedules, guards
@pytest.mark.parametrize("name, n_epochs", [("ours_S_Lb", 311), ("ours_S_La", 201), ("ours_S_pretrained", 106),
                                            ("wun_S_Lb", 201)])
def test_schedules_and_loss_guards_of_the_ismir_configs(name, n_epochs):
    config = load_config(ISMIR / f"{name}.py")
    assert config["NUM_EPOCHS"] == n_epochs == sum(n for n, _ in config["LR_SCHEDULE"])
    assert config["LR_SCHEDULE"][0] == (1, 0.0) and config["LR_SCHEDULE"][1:] == config["LEARNING_RATES"]
    assert config["LOSS_GUARD_FRAMES"] == 30
    assert learning_rate_at(config, 0) == 0.0 and learning_rate_at(config, 1) == 1e-3
    assert learning_rate_at(config, n_epochs - 1) == pytest.approx(1e-6 if name != "ours_S_La" else 1e-3 / 3)
    with pytest.raises(ValueError, match="out of range"):
        learning_rate_at(config, n_epochs)


def test_learning_rate_at_phase_boundaries():
    config = load_config(ISMIR / "ours_S_Lb.py")
    # spec §5.3: 1 x 0, 150 x 1e-3, 50 x 3.33e-4 (the release writes 1e-3 / 3.0), 50 x 1e-4, ...
    expected = {0: 0.0, 1: 1e-3, 150: 1e-3, 151: 1e-3 / 3.0, 200: 1e-3 / 3.0, 201: 1e-4, 251: 1e-3 / 30.0,
                276: 1e-5, 301: 1e-6, 310: 1e-6}
    assert {epoch: learning_rate_at(config, epoch) for epoch in expected} == pytest.approx(expected)
    assert learning_rate_at(config, 151) == pytest.approx(3.33e-4, rel=2e-3)  # the spec rounds to 3 digits
    with pytest.raises(ValueError, match="out of range"):
        learning_rate_at(config, -1)


def test_default_schedule_follows_num_epochs():
    base = {"NET_TYPE": "CAFX_TDCN_MIX", "INPUTS": STEMS, "OUTPUTS": ["mixture"], "TRAINING_SEQ_LENGTH": 440960}
    assert validate_config({**base, "NUM_EPOCHS": 11})["LR_SCHEDULE"] == [(1, 0.0), (10, 1e-3)]
    assert validate_config(base)["LR_SCHEDULE"] == [(1, 0.0), (1, 1e-3)]
    no_warmup = validate_config({**base, "WARMUP_EPOCHS": 0, "LEARNING_RATES": [(3, 1e-4)]})
    assert no_warmup["NUM_EPOCHS"] == 3 and no_warmup["INITIAL_LEARNING_RATE"] == 1e-4
    assert learning_rate_at(no_warmup, 0) == 1e-4
    with pytest.raises(ConfigError, match="NUM_EPOCHS = 1 leaves no epoch"):
        validate_config({**base, "NUM_EPOCHS": 1})


def test_receptive_field_arithmetic():
    assert guard_samples() == 505 * 64 + 63 + 63 == 32446
    assert wave_u_net_shrink(5, 5) == 68 and wave_u_net_shrink(3, 2) == 2 * 5
    # spec §5.5: ceil((guard - (FFT - 1) - 1) / hop + 1) + 1, written out in floats here
    for guard in (32446, 32540, 4096, 5000, 5121, 40000):
        assert loss_guard_frames(guard, 4096, 1024) == -(-(guard - 4095 - 1) // 1024) + 2
    assert loss_guard_frames(32446, 4096, 1024) == loss_guard_frames(32540, 4096, 1024) == 30
    assert loss_guard_frames(100, 4096, 1024) == 0  # the release's formula would give -1
    assert guard_samples_for_config({"NET_TYPE": "WAVEUNET"}) == 32540  # raw dicts take the defaults


# ---------------------------------------------------------------------------- one config, one network
RAW_NETWORKS = {
    "pretraining": {"NET_TYPE": "CAFX_TDCN", "INPUTS": STEMS, "OUTPUTS": STEMS, "TRAINING_SEQ_LENGTH": 132288},
    "mixing": {"NET_TYPE": "CAFX_TDCN_MIX", "INPUTS": STEMS, "OUTPUTS": ["mixture"], "TRAINING_SEQ_LENGTH": 440960},
    "wave_u_net": {"NET_TYPE": "WAVEUNET", "INPUTS": STEMS, "OUTPUTS": ["mixture"], "TRAINING_SEQ_LENGTH": 440960},
}


@pytest.mark.parametrize("name", RAW_NETWORKS)
def test_raw_and_validated_config_build_the_same_network(name):
    raw = RAW_NETWORKS[name]
    validated = validate_config(raw)
    a, b = build_model(raw, seed=3).eval(), build_model(validated, seed=3).eval()
    assert type(a) is type(b)
    assert getattr(a, "pretrain", False) == getattr(b, "pretrain", False) == (name == "pretraining")
    assert validated["PRETRAIN"] == (name == "pretraining")
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    x = torch.randn(1, 8, 6400 if name != "wave_u_net" else 600, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out_a, out_b = a(x), b(x)
    assert out_a.shape[0] == (4 if name == "pretraining" else 1)
    assert torch.equal(out_a, out_b)


def test_defaults_follow_the_network_mode():
    pre = validate_config(RAW_NETWORKS["pretraining"])
    assert pre["LOSS"] == "td_l1" and pre["TARGETS"] == [("mixture",)]  # the release's names
    mix = validate_config({**RAW_NETWORKS["mixing"], "OUTPUTS": ["mix_a"]})
    assert mix["LOSS"] == "Lb" and mix["TARGETS"] == [("mix_a",)] and setting(RAW_NETWORKS["mixing"], "LOSS") == "Lb"


def test_wave_u_net_sized_from_output_seq_length(caplog):
    with caplog.at_level(logging.WARNING, logger="automix.config"):
        config = load_config(ISMIR / "wun_S_Lb.py", overrides={"OUTPUT_SEQ_LENGTH": 22050})
    assert "OUTPUT_SEQ_LENGTH 22050" in caplog.text and "TRAINING_SEQ_LENGTH 440960" in caplog.text
    assert config["OUTPUT_SEQ_LENGTH"] == 22050 and network_input_length(config) == 22050 + 68
    model = build_model(config, seed=0).eval()
    with torch.inference_mode():
        out = model(torch.zeros(1, 8, network_input_length(config)))
    assert out.shape == (1, 1, 2, 22050)


# ---------------------------------------------------------------------------------------- bad configs
def _write(tmp_path, text):
    path = tmp_path / "exp.py"
    path.write_text(text)
    return path


BASE = 'config = {"NET_TYPE": "CAFX_TDCN_MIX", "INPUTS": ["vocals"], "OUTPUTS": ["mixture"], ' \
       '"TRAINING_SEQ_LENGTH": 132288%s}'


@pytest.mark.parametrize("extra, message", [
    (', "BATCH_SIZ": 4', "unknown key(s): BATCH_SIZ (did you mean BATCH_SIZE?)"),
    (', "BATCH_SIZE": "4"', "BATCH_SIZE must be int"),
    (', "USE_AMP": 1', "USE_AMP must be bool"),
    (', "WARMUP_EPOCHS": True', "WARMUP_EPOCHS must be int"),
    (', "GUARD_LEFT": 100', "GUARD_LEFT = 100 disagrees"),
    (', "LOSS_GUARD_FRAMES": 29', "LOSS_GUARD_FRAMES = 29 disagrees"),
    (', "NUM_EPOCHS": 10, "LEARNING_RATES": [(5, 1e-3)]', "NUM_EPOCHS = 10 disagrees"),
    (', "LEVELS": 5', "LEVELS are not used by NET_TYPE CAFX_TDCN_MIX"),
    (', "MAX_POOLING": 100', "TRAINING_SEQ_LENGTH 132288 must be a multiple of MAX_POOLING 100"),
    (', "INPUTS": ["vocals", 3]', "INPUTS must be a list of non-empty strings"),
    (', "OUTPUTS": []', "OUTPUTS must name at least one target"),
    (', "BATCH_SIZE": 0', "BATCH_SIZE must be >= 1"),
    (', "N_REPEATS": -1', "N_REPEATS must be >= 1"),
    (', "INITIAL_LEARNING_RATE": 0', "INITIAL_LEARNING_RATE must be > 0"),
    (', "LOSS": "L2"', "LOSS must be one of"),
    (', "LEARNING_RATES": [(10, 1e-3, 2)]', "LEARNING_RATES must be a list of (n_epochs >= 1"),
    (', "LEARNING_RATES": []', "LEARNING_RATES must not be empty"),
    (', "LEARNING_RATES": [(1, 0.0), (10, 1e-3)]', "LEARNING_RATES starts with (1, 0.0)"),
    (', "DATA_DIR_TRAIN": "/data/train"', "DATA_DIR_TRAIN must be list or tuple of (folder, load_into_memory)"),
    (', "DATA_DIR_VALID": [("/data/val", "no")]', "DATA_DIR_VALID must be a list of (folder: str, load_into"),
    (', "TARGETS": [("a",), ("b",)]', "TARGETS has several target groups"),
    (', "TARGETS": [("a", "b")]', "TARGETS[0] has 2 names but OUTPUTS 1"),
    (', "PRETRAIN": True, "OUTPUTS": ["a", "b"]', "OUTPUTS has 2 names but the pre-training network reconstructs "
                                                "each of the 1 INPUTS"),
    (', "TRAINING_SEQ_LENGTH": 6400, "BATCHED_VALID": False', "TRAINING_SEQ_LENGTH 6400 gives too few STFT frames"),
    (', "TRAINING_SEQ_LENGTH": 64000, "LOSS": "td_l1"', "TRAINING_SEQ_LENGTH 64000 leaves nothing inside"),
])
def test_bad_configs_name_the_file_and_key(tmp_path, extra, message):
    path = _write(tmp_path, BASE % extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and message in str(info.value)


@pytest.mark.parametrize("changes, message", [
    ({"PRETRAIN": True}, "PRETRAIN and PRETRAIN_FRONT_END must be False for NET_TYPE WAVEUNET"),
    ({"KERNEL_SIZE_ENCODER": 4}, "KERNEL_SIZE_ENCODER must be odd"),
    ({"N_FEATURES_ENCODER": 20}, "N_FEATURES_ENCODER must be a multiple of 8"),
    ({"CONV_TYPE": "bn"}, "CONV_TYPE must be one of ('gn',)"),
    ({"TRAINING_SEQ_LENGTH": 60}, "TRAINING_SEQ_LENGTH 60 must exceed the Wave-U-Net shrink of 68"),
    ({"MAX_POOLING": 64}, "MAX_POOLING are not used by NET_TYPE WAVEUNET"),
])
def test_bad_wave_u_net_configs(changes, message):
    with pytest.raises(ConfigError, match="wun: ") as info:
        validate_config({**RAW_NETWORKS["wave_u_net"], **changes}, "wun")
    assert message in str(info.value)


def test_missing_required_key_and_missing_dict(tmp_path):
    with pytest.raises(ConfigError, match="required key TRAINING_SEQ_LENGTH"):
        load_config(_write(tmp_path, 'config = {"NET_TYPE": "WAVEUNET", "INPUTS": [], "OUTPUTS": []}'))
    with pytest.raises(ConfigError, match="must define a dict named 'config'"):
        load_config(_write(tmp_path, "settings = {}"))
    with pytest.raises(ConfigError, match="could not be imported"):
        load_config(_write(tmp_path, "config = {"))
    with pytest.raises(ConfigError, match="NET_TYPE must be one of"):
        validate_config({"NET_TYPE": "UNET"})
    with pytest.raises(ConfigError, match="required key INPUTS"):
        build_model({"NET_TYPE": "CAFX_TDCN_MIX"})


def test_derived_values_and_input_not_modified():
    given = {"NET_TYPE": "WAVEUNET", "INPUTS": ["a", "b"], "OUTPUTS": ["mixture"], "TRAINING_SEQ_LENGTH": 440960}
    copy = dict(given)
    config = validate_config(given)
    assert given == copy
    assert config["OUTPUT_SEQ_LENGTH"] == 440892 and config["GUARD_LEFT"] == 32540 and config["N_BINS"] == 2049
    assert config["SOURCES"] == ["a", "b", "mixture"] and config["N_FEATURES_ENCODER"] == 24
    assert network_input_length(config) == 440960 and config["DATA_DIR_TRAIN"] == []


# ------------------------------------------------------------------------------------------- overrides
def test_parse_overrides_types():
    parsed = parse_overrides(["BATCH_SIZE=2", "USE_AMP=False", "LOSS=La", "L2_REGULARIZATION=1e-6",
                              "LEARNING_RATES=[(2, 1e-3), (1, 1e-4)]", "DATA_DIR_TRAIN=[('/data/train', True)]",
                              "BATCH_SIZE=3", "AUGMENTER_SOURCES = ['vocals']"])
    assert parsed == {"BATCH_SIZE": 3, "USE_AMP": False, "LOSS": "La", "L2_REGULARIZATION": 1e-6,
                      "LEARNING_RATES": [(2, 1e-3), (1, 1e-4)], "DATA_DIR_TRAIN": [("/data/train", True)],
                      "AUGMENTER_SOURCES": ["vocals"]}
    assert type(parsed["BATCH_SIZE"]) is int and type(parsed["USE_AMP"]) is bool
    with pytest.raises(ConfigError, match=r"unknown key BATCH_SIZ \(did you mean BATCH_SIZE\?\)"):
        parse_overrides(["BATCH_SIZ=2"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_overrides(["BATCH_SIZE"])


def test_load_config_with_overrides_is_validated():
    path = ISMIR / "ours_S_Lb.py"
    config = load_config(path, overrides=["BATCH_SIZE=2", "LEARNING_RATES=[(2, 1e-3)]", "LOSS=La"])
    assert config["BATCH_SIZE"] == 2 and config["LOSS"] == "La" and config["NUM_EPOCHS"] == 3
    assert load_config(path, overrides={"WARMUP_EPOCHS": 0})["NUM_EPOCHS"] == 310
    with pytest.raises(ConfigError, match="BATCH_SIZE must be int, got '2x'"):
        load_config(path, overrides=["BATCH_SIZE=2x"])  # not a literal: a string, rejected by the schema
    with pytest.raises(ConfigError, match="NUM_EPOCHS = 5 disagrees.*change LEARNING_RATES"):
        load_config(path, overrides=["NUM_EPOCHS=5"])
    with pytest.raises(ConfigError, match=r"unknown override key\(s\): BATCHSIZE \(did you mean BATCH_SIZE\?\)"):
        load_config(path, overrides={"BATCHSIZE": 2})
    with pytest.raises(ConfigError, match=r"ours_S_Lb.py \(with overrides of TRAINING_SEQ_LENGTH\).*MAX_POOLING"):
        load_config(path, overrides=["TRAINING_SEQ_LENGTH=440961"])


def test_add_config_arguments():
    parser = add_config_arguments(argparse.ArgumentParser())
    parser.add_argument("config")
    args = parser.parse_args(["x.py", "--set", "BATCH_SIZE=2", "--set", "LOSS=La"])
    assert args.overrides == ["BATCH_SIZE=2", "LOSS=La"] and parser.parse_args(["x.py"]).overrides == []
    assert load_config(ISMIR / "ours_S_Lb.py", overrides=args.overrides)["BATCH_SIZE"] == 2


def test_loading_a_config_does_not_import_torch():
    code = ("import sys, automix.config as c; cfg = c.load_config(sys.argv[1], overrides=['BATCH_SIZE=2']); "
            "c.learning_rate_at(cfg, 1); assert 'torch' not in sys.modules, 'torch imported'; print(cfg['GUARD_LEFT'])")
    result = subprocess.run([sys.executable, "-c", code, str(ISMIR / "wun_S_Lb.py")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "32540"
