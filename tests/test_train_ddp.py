"""torchrun with 2 CPU processes (gloo) trains the same weights as 1 process with the same global minibatch."""
import socket
import sys

import torch

from train_helpers import TINY_PRETRAIN, make_dataset, run, train_command, write_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_equal_one(tmp_path):
    # the pre-training network has no dropout, so both runs compute the same function (the BLSTM's dropout masks
    # are drawn per rank: with it, runs agree statistically, not number for number)
    data = make_dataset(tmp_path / "data", n_train=3, n_val=3, seconds=0.5)
    config = write_config(tmp_path / "tiny_pretrain.py", TINY_PRETRAIN)
    results = tmp_path / "training"
    single = run(train_command(config, results, "one", data))
    assert single.returncode == 0, single.stderr[-2000:]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                str(_free_port()), "-m", "automix.train"]
    double = run(launcher + train_command(config, results, "two", data)[3:])
    assert double.returncode == 0, double.stderr[-3000:]
    one = torch.load(results / "results" / "one" / "current_model_for_mixture.params", weights_only=True)
    two = torch.load(results / "results" / "two" / "current_model_for_mixture.params", weights_only=True)
    assert one.keys() == two.keys()
    worst = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert worst < 1e-6, worst  # float rounding of the gradient all-reduce (measured 1.5e-8 after 9 Adam steps)
    log_one = (results / "results" / "one" / "history.csv").read_text().splitlines()
    log_two = (results / "results" / "two" / "history.csv").read_text().splitlines()
    assert len(log_one) == len(log_two) == 5  # header + 4 epochs
    # validation songs split over the ranks (2 + 1), losses gathered: the same means and medians
    column = log_one[0].split(",").index("valid_td_l1_median")
    for a, b in zip(log_one[1:], log_two[1:]):
        assert abs(float(a.split(",")[column]) - float(b.split(",")[column])) < 1e-6
