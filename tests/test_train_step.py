"""Trainer internals on real (tiny) data: one step, the schedule and its warm-up, skipped steps, validation."""
import math

import pytest
import torch

from automix.config import learning_rate_at, validate_config
from automix.data import TrainingBatches, find_songs
from automix.models import build_model
from automix.train.trainer import Trainer, TrainingError, TrainOptions
from automix.train.validation import summarize, windowed_forward
from train_helpers import STEMS, TINY_MIX, TINY_PRETRAIN, make_dataset


def _config(text, **changes):
    namespace = {}
    exec(text, namespace)  # the helper's config text: a literal dict
    return validate_config({**namespace["config"], **changes}, source="test")


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("train_step") / "data", n_train=2, n_val=1, seconds=0.5)
    names = [*STEMS, "mixture"]
    return find_songs([(str(root / "train"), True)], names), find_songs([(str(root / "val"), True)], names)


def _batches(config, songs, seed=0):
    return TrainingBatches(songs, config["INPUTS"], config["OUTPUTS"], config["TRAINING_SEQ_LENGTH"],
                           config["BATCH_SIZE"], config["NUM_MINIBATCHES_PER_EPOCH"], seed)


def _trainer(config, seed=0):
    torch.set_num_threads(1)
    return Trainer(build_model(config, seed=seed), config, TrainOptions(seed=seed, progress=False))


def _eval_loss(trainer, batch):
    trainer.model.eval()
    with torch.no_grad():
        return float(trainer.loss_fn(trainer.model(batch["inputs"]), batch["targets"]))


def test_one_step_on_a_fixed_batch_lowers_the_loss(songs):
    config = _config(TINY_MIX)
    trainer = _trainer(config)
    batch = _batches(config, songs[0])[0]
    for group in trainer.optimizer.param_groups:
        group["lr"] = 1e-3
    before = _eval_loss(trainer, batch)
    loss, grad_norm, finite = trainer.train_step(batch)
    after = _eval_loss(trainer, batch)
    assert finite and grad_norm > 0 and math.isfinite(loss)
    assert after < before * 0.995, (before, after)


def test_schedule_warm_up_epoch_keeps_weights_and_fills_optimizer_state(songs):
    config = _config(TINY_MIX, LEARNING_RATES=[(1, 1e-3), (1, 1e-4)])
    assert [learning_rate_at(config, e) for e in range(3)] == [0.0, 1e-3, 1e-4]
    trainer = _trainer(config)
    dataset = _batches(config, songs[0])
    initial = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    trainer.train_epoch(dataset, 0)
    assert all(torch.equal(initial[k], v) for k, v in trainer.net.state_dict().items()), "lr 0 moved weights"
    # every parameter with a gradient (all but the last block's residual conv, unused as in the release)
    states = [trainer.optimizer.state[p] for p in trainer.params if p.grad is not None]
    assert len(states) == len(trainer.params) - 2
    assert all(int(s["step"]) == config["NUM_MINIBATCHES_PER_EPOCH"] for s in states)
    assert sum(float(s["max_exp_avg_sq"].abs().sum()) for s in states) > 0  # AMSGrad statistics accumulated
    assert trainer.optimizer.param_groups[0]["amsgrad"] and trainer.optimizer.param_groups[0]["weight_decay"] == 1e-7
    trainer.train_epoch(dataset, 1)
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-3
    assert not all(torch.equal(initial[k], v) for k, v in trainer.net.state_dict().items())


class _PoisonedBatches(torch.utils.data.Dataset):
    """A dataset whose minibatches ``bad`` carry a NaN input sample."""

    def __init__(self, dataset, bad):
        self.dataset, self.bad = dataset, set(bad)

    def __len__(self):
        return len(self.dataset)

    @property
    def epoch(self):
        return self.dataset.epoch

    def set_epoch(self, epoch):
        self.dataset.set_epoch(epoch)

    def __getitem__(self, index):
        batch = self.dataset[index]
        if index[1] in self.bad:
            batch["inputs"][0, 0, 100] = float("nan")
        return batch


def test_non_finite_steps_are_skipped_and_an_all_non_finite_epoch_stops(songs):
    config = _config(TINY_MIX, WARMUP_EPOCHS=0)
    trainer = _trainer(config)
    dataset = _batches(config, songs[0])
    before = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    _, _, finite = trainer.train_step(_PoisonedBatches(dataset, [0])[(0, 0)])
    assert not finite
    assert all(torch.equal(before[k], v) for k, v in trainer.net.state_dict().items())
    stats = trainer.train_epoch(_PoisonedBatches(dataset, [1]), 0)
    assert (stats.n_steps, stats.n_skipped) == (3, 1)
    with pytest.raises(TrainingError, match="all 3 steps"):
        trainer.train_epoch(_PoisonedBatches(dataset, range(3)), 1)


def test_windowed_validation_forward_equals_one_pass_for_the_pre_training_network():
    config = _config(TINY_PRETRAIN)
    model = build_model(config, seed=0).eval()
    x = torch.randn(1, 8, 16 * 700, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        one_pass = model(x)
        # hop 64 x 16 and guards of 16 x 16 samples: pooling grids coincide, the receptive field fits in the guard
        windowed = windowed_forward(model, x, window=16 * 96, guard=16 * 16, batch_size=3)
    assert windowed.shape == one_pass.shape == (4, 1, 2, x.shape[-1])
    # equal but near the song's two ends, where the one-pass forward zero-pads every layer and the windows only
    # the input (the front-end's hidden signal reaches ~8 samples outside the song)
    inner = slice(128, -128)
    torch.testing.assert_close(windowed[..., inner], one_pass[..., inner], atol=1e-6, rtol=1e-5)


def test_validation_summary_and_losses(songs):
    assert summarize({"a": {"l": 1.0}, "b": {"l": 2.0}, "c": {"l": 6.0}}) == {"l_mean": 3.0, "l_median": 2.0}
    from automix.data import validation_songs

    config = _config(TINY_MIX)
    trainer = _trainer(config)
    items = list(validation_songs(songs[1], config["INPUTS"], config["OUTPUTS"], 22528, multiple=256))
    per_song, excerpt = trainer.validate(items, excerpt=True)
    assert list(per_song) == ["song_00"] and set(per_song["song_00"]) == {"stereo_loss", "td_l1"}
    assert excerpt[0].shape == excerpt[1].shape == (2, 22016)  # 0.5 s rounded down to 256
    trainer.log_baseline(items)  # the sum of the stems vs a mixture that weighs them: a clearly non-zero loss
    assert trainer.state.baseline["td_l1_mean"] > 1e-3


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_steps_on_the_cpu(songs, amp):
    config = _config(TINY_MIX, WARMUP_EPOCHS=0, NUM_MINIBATCHES_PER_EPOCH=2, BATCH_SIZE=1, TRAINING_SEQ_LENGTH=4096)
    trainer = Trainer(build_model(config, seed=0), config, TrainOptions(amp=amp, progress=False))
    assert trainer.scaler.is_enabled() == (amp == "fp16")  # fp16 needs loss scaling, bf16 does not
    stats = trainer.train_epoch(_batches(config, songs[0]), 0)
    assert stats.n_steps == 2 and math.isfinite(stats.loss_sum)
    if amp == "bf16":
        assert stats.n_skipped == 0
    else:  # the GradScaler starts at 2^16: the first steps overflow (skipped, not an error) until it has shrunk
        assert trainer.scaler.get_scale() < 2.0 ** 16


def test_pre_training_with_a_stereo_loss_validates_per_stem_and_has_no_baseline(songs):
    """The demo pre-trains with Lb: every stem's reconstruction is scored with the stereo loss, and the "sum of
    the stems" baseline (a mixing notion) is not computed against the four stem targets."""
    from automix.data import validation_songs

    config = _config(TINY_PRETRAIN, LOSS="Lb", FFT_SIZE=1024, HOP_LENGTH=256)
    trainer = _trainer(config)
    batch = _batches(config, songs[0])[0]
    loss, grad_norm, finite = trainer.train_step(batch)
    assert finite and math.isfinite(loss) and grad_norm > 0
    items = list(validation_songs(songs[1], config["INPUTS"], config["OUTPUTS"], 22528, multiple=16))
    trainer.log_baseline(items)
    assert trainer.state.baseline == {}
    per_song, _ = trainer.validate(items)
    assert set(per_song["song_00"]) == {"stereo_loss", "td_l1"} and per_song["song_00"]["stereo_loss"] > 0
