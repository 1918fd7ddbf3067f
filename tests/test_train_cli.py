"""The training command as a user runs it: results layout, TensorBoard, learning, refusals, errors, kill + resume."""
import csv
import json
import signal
import subprocess
import time

import pytest
import torch

from automix.config import load_config
from automix.models import build_model
from automix.train import cli
from train_helpers import TINY_MIX, env, make_dataset, run, train_command, write_config


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("train_cli") / "data", n_train=3, n_val=2, seconds=1.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """A demo-like run of ~30 s: 1 warm-up + 7 epochs of 6 minibatches, TensorBoard audio every 4 epochs."""
    root = tmp_path_factory.mktemp("trained")
    config = write_config(root / "tiny_mix.py", TINY_MIX, NUM_MINIBATCHES_PER_EPOCH=6,
                          LEARNING_RATES=[(5, 3e-3), (2, 1e-3)])
    done = run(train_command(config, root / "training", "tiny", data, "--audio-every", "4"))
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "training" / "results" / "tiny", config


def _history(run_dir):
    with open(run_dir / "history.csv") as handle:
        return list(csv.DictReader(handle))


def test_results_layout_and_weights_load_strictly(trained):
    run_dir, config_file = trained
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.py", "config.json", "run.json", "training.log", "history.csv", "loss_mixture.png",
            "current_model_for_mixture.params", "best_model_for_mixture_valid_stereo_loss_mean.params",
            "best_model_for_mixture_valid_stereo_loss_median.params", "resume_checkpoint.pt", "tb"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary left
    config = json.loads((run_dir / "config.json").read_text())
    assert config == json.loads(json.dumps(load_config(config_file)))
    model = build_model(config)
    for name in ("current_model_for_mixture.params", "best_model_for_mixture_valid_stereo_loss_mean.params"):
        model.load_state_dict(torch.load(run_dir / name, weights_only=True), strict=True)
    log = (run_dir / "training.log").read_text()
    assert "baseline (sum of the input stems)" in log and "epoch 8/8" in log and "RSS" in log
    assert "data: 3 training songs" in log  # logged before the run folder existed: held, then written


def test_demo_like_run_learns(trained):
    history = _history(trained[0])
    assert len(history) == 8 and float(history[0]["lr"]) == 0.0
    first, last = (float(history[i]["valid_stereo_loss_mean"]) for i in (0, -1))
    assert last < 0.7 * first, (first, last)
    best = min(float(row["valid_stereo_loss_mean"]) for row in history)
    model = torch.load(trained[0] / "best_model_for_mixture_valid_stereo_loss_mean.params", weights_only=True)
    assert model and best <= last


def test_tensorboard_events_hold_the_scalars_and_audio(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained[0] / "tb"), size_guidance={"scalars": 0, "audio": 0}).Reload()
    tags = events.Tags()
    for tag in ("train/loss", "train/grad_norm", "train/lr", "train/loss_epoch", "train/skipped_steps",
                "train/examples_per_second", "validation/stereo_loss_mean", "validation/stereo_loss_median"):
        assert tag in tags["scalars"], tag
    assert len(events.Scalars("train/loss")) == 8 * 6
    assert [s.value for s in events.Scalars("train/lr")][:2] == [0.0, pytest.approx(3e-3)]
    assert {"validation_audio/output", "validation_audio/target"} <= set(tags["audio"])
    assert "validation_audio/spectrograms" in tags["images"]


def test_a_non_empty_results_folder_is_refused_without_resume(trained, data, capsys):
    run_dir, config = trained
    assert cli.main(train_command(config, run_dir.parents[1], "tiny", data)[3:]) == 2
    message = capsys.readouterr().err
    assert str(run_dir) in message and "--resume" in message


@pytest.mark.parametrize("case", ["bad_key", "missing_weights", "mismatching_weights", "missing_data"])
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, data, capsys):
    config = write_config(tmp_path / "tiny_mix.py", TINY_MIX)
    extra, expected = {
        "bad_key": (["--set", "BATCH_SIZ=2"], "BATCH_SIZ"),
        "missing_weights": (["--weight-initialization", str(tmp_path / "nope.params")], "nope.params"),
        "mismatching_weights": (["--weight-initialization", str(tmp_path / "other.params")], "other.params"),
        "missing_data": ([], str(tmp_path / "no_data" / "train")),
    }[case]
    if case == "mismatching_weights":  # a wider network's weights: the strict load fails on the shapes
        other = load_config(write_config(tmp_path / "wide.py", TINY_MIX, N_FEATURES_ENCODER=12))
        torch.save(build_model(other).state_dict(), tmp_path / "other.params")
    data_dir = tmp_path / "no_data" if case == "missing_data" else data
    argv = train_command(config, tmp_path / "training", "x", data_dir, *extra)[3:]
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines


def test_kill_9_and_resume_equals_an_uninterrupted_run(tmp_path, data):
    config = write_config(tmp_path / "tiny_resume.py", TINY_MIX, LEARNING_RATES=[(3, 1e-3)])
    results = tmp_path / "training"
    whole = run(train_command(config, results, "whole", data))
    assert whole.returncode == 0, whole.stderr[-2000:]
    # same run, killed with SIGKILL as soon as its first mid-epoch checkpoint exists
    command = train_command(config, results, "killed", data, "--checkpoint-every", "2")
    process = subprocess.Popen(command, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = results / "results" / "killed" / "resume_checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait(30) == -signal.SIGKILL, "the run ended before it could be killed"
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["state"]["global_step"] < 4 * 3
    resumed = run(command + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed at epoch" in resumed.stderr
    for name in ("current_model_for_mixture.params", "best_model_for_mixture_valid_stereo_loss_mean.params"):
        a = torch.load(results / "results" / "whole" / name, weights_only=True)
        b = torch.load(results / "results" / "killed" / name, weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    rows = [list(csv.DictReader(open(results / "results" / r / "history.csv"))) for r in ("whole", "killed")]
    assert [r["train_loss"] for r in rows[0]] == [r["train_loss"] for r in rows[1]]
