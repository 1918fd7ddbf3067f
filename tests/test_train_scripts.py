"""The training scripts, run from another folder: pre-training, then the mixing network picking up its front-end."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from train_helpers import REPO_ROOT, TINY_MIX, TINY_PRETRAIN, make_dataset, write_config


def test_pretrain_then_train_scripts(tmp_path):
    prefix = Path(sys.prefix)
    if not (prefix / ".automix-install-stamp").is_file():
        pytest.skip(f"{prefix} is not an environment set up by scripts/setup_env.sh (it would install into it)")
    data = make_dataset(tmp_path / "data", n_train=2, n_val=1, seconds=0.5)
    pretrain = write_config(tmp_path / "tiny_pretrained.py", TINY_PRETRAIN, LEARNING_RATES=[(1, 1e-3)])
    mixing = write_config(tmp_path / "tiny_Lb.py", TINY_MIX, PRETRAIN_FRONT_END=True, LEARNING_RATES=[(1, 1e-3)])
    env = {**os.environ, "AUTOMIX_VENV": str(prefix), "AUTOMIX_TRAIN_ARGS": "--no-progress --threads 1",
           "OMP_NUM_THREADS": "1"}
    for script, config in (("pretrain_fxnorm_automix.sh", pretrain), ("train_fxnorm_automix.sh", mixing)):
        done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / script), str(config), str(data), "",
                               "results_here"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = tmp_path / "results_here"
    assert (results / "results" / "tiny_pretrained" / "current_model_for_mixture.params").is_file()
    assert (results / "results" / "tiny_Lb" / "best_model_for_mixture_valid_stereo_loss_mean.params").is_file()
    log = (results / "logs" / "tiny_Lb.log").read_text()
    assert "front-end from" in log and "tiny_pretrained/current_model_for_mixture.params" in log
    assert "initial weights from" in log and "2 tensors loaded" in log
