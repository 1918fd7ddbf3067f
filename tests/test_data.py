"""Training data: discovery and file checks, segment sampling, song order, determinism, layout (tiny WAVs)."""
import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from automix import audio
from automix.data import TrainingBatches, find_songs, make_loader, validation_songs
from automix.data.augment import AugmentationChain, Gain
from automix.data.sampling import release_pieces, song_order

SR = 44100
STEMS = ["vocals_normalized", "bass_normalized", "drums_normalized", "other_normalized"]
ALL = STEMS + ["mixture"]


def write_song(folder, files, subtype="PCM_16", rate=SR):
    """files: name -> int16 (n,) / (n, c) array (PCM_16) or float array (FLOAT)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        sf.write(str(folder / f"{name}.wav"), data, rate, subtype=subtype)


def noise_song(folder, n_samples, seed, names=ALL):
    rng = np.random.default_rng(seed)
    write_song(folder, {name: (rng.standard_normal((n_samples, 2)) * 3000).astype(np.int16) for name in names})


@pytest.fixture
def noise_split(tmp_path):
    split = tmp_path / "train"
    for k in range(3):
        noise_song(split / f"song{k}", 6000 + 500 * k, seed=k)
    return split


def batches(split, **kwargs):
    songs = find_songs([(str(split), kwargs.pop("load_into_memory", False))], ALL)
    options = dict(segment_samples=1024, batch_size=4, n_batches=3, seed=7)
    options.update(kwargs)
    return TrainingBatches(songs, STEMS, ["mixture"], **options)


def assert_same(a, b):
    assert torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["targets"], b["targets"])


# --- discovery and file checks -------------------------------------------------------------------------------

def test_find_songs_skips_incomplete_songs_and_reads_int_pcm(tmp_path, caplog):
    split = tmp_path / "train"
    write_song(split / "a", {name: np.full((3000, 2), 16384, np.int16) for name in ALL})
    write_song(split / "b", {name: np.zeros((3000, 2), np.int16) for name in STEMS})  # no mixture
    with caplog.at_level(logging.WARNING):
        songs = find_songs([(str(split), False)], ALL)
    assert [s.name for s in songs] == ["a"]
    assert "missing 'mixture'" in caplog.text and "b" in caplog.text
    _, inputs, targets = next(validation_songs(songs, STEMS, ["mixture"], max_samples=10**6, multiple=1024))
    assert inputs.shape == (8, 2048) and targets.shape == (1, 2, 2048)
    assert np.all(inputs == 0.5) and np.all(targets == 0.5)  # 16384 / 32768


def test_no_song_names_the_folder(tmp_path):
    (tmp_path / "empty" / "song").mkdir(parents=True)
    with pytest.raises(ValueError, match="empty"):
        find_songs([(str(tmp_path / "empty"), False)], ALL)


@pytest.mark.parametrize("problem", ["rate", "channels"])
def test_bad_file_error_names_the_file(tmp_path, problem):
    files = {name: np.zeros((2000, 2), np.int16) for name in ALL}
    rate = 48000 if problem == "rate" else SR
    if problem == "channels":
        files["bass_normalized"] = np.zeros((2000, 3), np.int16)
    write_song(tmp_path / "s" / "song", files, rate=rate)
    with pytest.raises(audio.AudioError, match=r"song/(vocals|bass)_normalized\.wav"):
        find_songs([(str(tmp_path / "s"), False)], ALL)


def test_mono_file_is_duplicated_and_memory_mode_matches_lazy_reads(tmp_path):
    rng = np.random.default_rng(0)
    files = {name: (rng.standard_normal((5000, 2)) * 3000).astype(np.int16) for name in ALL}
    files["drums_normalized"] = files["drums_normalized"][:, 0]
    write_song(tmp_path / "t" / "song", files)
    lazy = batches(tmp_path / "t", segment_samples=700)
    memory = batches(tmp_path / "t", segment_samples=700, load_into_memory=True)
    assert memory.songs[0].files["mixture"].data.dtype == np.int16 and lazy.songs[0].files["mixture"].data is None
    assert_same(lazy[1], memory[1])
    x = lazy[0]["inputs"]
    assert torch.equal(x[:, 4], x[:, 5])  # drums L == R


# --- sampling ------------------------------------------------------------------------------------------------

def ramp_split(tmp_path, n_samples):
    ramp = (np.arange(n_samples) % 30000).astype(np.int16)
    write_song(tmp_path / "r" / "song", {name: np.stack([ramp, ramp], axis=1) for name in ALL})
    return tmp_path / "r"


def test_default_segments_never_splice(tmp_path):
    data = batches(ramp_split(tmp_path, 5000), segment_samples=1000, n_batches=10, shuffle_channels=False)
    for i in range(len(data)):
        x = data[i]["inputs"].numpy() * 32768
        assert np.all(np.diff(x, axis=-1) == 1)  # contiguous: no jump back to the song's start
        assert x.min() >= 0 and x.max() <= 4999


def test_release_segments_wrap_around(tmp_path):
    data = batches(ramp_split(tmp_path, 5000), segment_samples=1000, n_batches=25, sampling="release")
    jumps = 0
    for i in range(len(data)):
        x = data[i]["inputs"].numpy()[:, 0] * 32768
        steps = np.diff(x, axis=-1)
        for row in steps:
            wrapped = np.flatnonzero(row != 1)
            assert wrapped.size <= 1 and np.all(row[wrapped] == -4999)  # 4999 -> 0: the end spliced onto the start
            jumps += wrapped.size
    assert jumps > 0


def test_release_pads_shorter_files_symmetrically():
    # 4990-sample file in a 5000-sample song: padded by (5000 - 4990)//2 + 1 = 6 on both sides (5002 samples)
    assert release_pieces(4990, 5000, 0, 10) == [(0, 4, 6)]
    assert release_pieces(4990, 5000, 4998, 10) == []  # padding at the end, then padding at the start
    pieces = release_pieces(4990, 5000, 4990, 20)  # padded [4990, 5002) then wrap to [0, 8)
    assert pieces == [(4984, 6, 0), (0, 2, 18)]
    assert release_pieces(5000, 5000, 4500, 1000) == [(4500, 500, 0), (0, 500, 500)]


def test_short_song_is_zero_padded_at_the_end(tmp_path):
    data = batches(ramp_split(tmp_path, 600), segment_samples=1000, silence_threshold_db=None)
    x = data[0]["inputs"].numpy() * 32768
    assert np.all(x[..., :600] == np.arange(600)) and np.all(x[..., 600:] == 0)


def test_silent_targets_are_redrawn(tmp_path, caplog):
    rng = np.random.default_rng(1)
    files = {name: (rng.standard_normal((8000, 2)) * 3000).astype(np.int16) for name in ALL}
    files["mixture"][:4000] = 0  # first half silent: half of the starts give a silent target
    write_song(tmp_path / "q" / "song", files)
    data = batches(tmp_path / "q", segment_samples=1000, n_batches=10, max_silence_tries=20)
    for i in range(len(data)):
        y = data[i]["targets"].numpy()
        assert np.all(np.sqrt(np.mean(y ** 2, axis=(0, 2, 3))) > 0.01)
    loose = batches(tmp_path / "q", segment_samples=1000, n_batches=10, silence_threshold_db=None)
    assert any(np.any(np.all(loose[i]["targets"].numpy() == 0, axis=(0, 2, 3))) for i in range(10))
    files["mixture"][:] = 0
    write_song(tmp_path / "z" / "song", files)
    with caplog.at_level(logging.WARNING):
        silent = batches(tmp_path / "z", segment_samples=1000, n_batches=2)
        silent[0], silent[1]
    assert caplog.text.count("keeping a silent one") == 1


# --- song order ----------------------------------------------------------------------------------------------

def test_stratified_order_uses_each_song_batch_size_times_per_round():
    order = song_order(n_songs=5, batch_size=4, n_batches=10, rng=np.random.default_rng(0))
    assert order.shape == (10, 4)
    for round_ in (order[:5], order[5:]):
        assert np.all(np.bincount(round_.ravel(), minlength=5) == 4)
    plain = song_order(n_songs=5, batch_size=4, n_batches=5, rng=np.random.default_rng(0), mode="shuffle")
    for start in range(0, 20, 5):
        assert sorted(plain.ravel()[start:start + 5]) == list(range(5))


# --- determinism, workers, ranks -----------------------------------------------------------------------------

def test_batches_depend_only_on_seed_epoch_and_index(noise_split):
    a, b = batches(noise_split), batches(noise_split)
    assert_same(a[2], b[2])
    b.set_epoch(1)
    assert not torch.equal(a[2]["inputs"], b[2]["inputs"])
    assert_same(b[2], a[(1, 2)])
    assert not torch.equal(batches(noise_split, seed=8)[0]["inputs"], a[0]["inputs"])


def test_worker_count_does_not_change_batches(noise_split):
    data = batches(noise_split)
    serial = list(make_loader(data, num_workers=0))
    loader = make_loader(data, num_workers=2)
    parallel = list(loader)
    assert len(serial) == len(parallel) == 3
    for a, b in zip(serial, parallel):
        assert_same(a, b)
    data.set_epoch(1)  # persistent workers still see the new epoch
    for i, b in enumerate(loader):
        assert_same(data[(1, i)], b)


def test_rank_slices_concatenate_to_the_single_process_batch(noise_split):
    whole = batches(noise_split)[1]
    parts = [batches(noise_split, rank=r, world_size=2)[1] for r in range(2)]
    assert parts[0]["inputs"].shape[0] == 2
    assert torch.equal(torch.cat([p["inputs"] for p in parts]), whole["inputs"])
    assert torch.equal(torch.cat([p["targets"] for p in parts], dim=1), whole["targets"])
    with pytest.raises(ValueError, match="world_size"):
        batches(noise_split, world_size=3)


# --- layout, channel swap, stem shuffle, augmentation --------------------------------------------------------

def level_split(tmp_path):
    """Constant files: stem k has L = 0.1·(k+1), R = -0.1·(k+1); the mixture L = 0.5, R = -0.5."""
    files = {name: np.tile(np.int16([3277 * (k + 1), -3277 * (k + 1)]), (4000, 1)) for k, name in enumerate(STEMS)}
    files["mixture"] = np.tile(np.int16([16384, -16384]), (4000, 1))
    write_song(tmp_path / "l" / "song", files)
    return tmp_path / "l"


def test_layout_and_joint_channel_swap(tmp_path):
    data = batches(level_split(tmp_path), segment_samples=512, n_batches=6)
    swapped = []
    for i in range(len(data)):
        batch = data[i]
        x, y = batch["inputs"].numpy(), batch["targets"].numpy()
        assert x.shape == (4, 8, 512) and y.shape == (1, 4, 2, 512) and x.dtype == np.float32
        for b in range(4):
            sign = np.sign(y[0, b, 0, 0])  # +1: not swapped
            assert np.all(y[0, b, 1] == -y[0, b, 0])
            for k in range(4):  # stem-major: inputs [2k, 2k+1] = stem k (L, R), swapped together with the target
                assert np.allclose(x[b, 2 * k], sign * 0.1 * (k + 1), atol=1e-4)
                assert np.allclose(x[b, 2 * k + 1], -sign * 0.1 * (k + 1), atol=1e-4)
            swapped.append(sign < 0)
    assert 0 < sum(swapped) < len(swapped)
    release = batches(level_split(tmp_path), segment_samples=512, n_batches=6, sampling="release")
    assert all(np.all(release[i]["targets"].numpy()[0, :, 0] > 0) for i in range(6))  # the release's no-op


def test_shuffle_stems_permutes_inputs_and_targets_together(tmp_path):
    songs = find_songs([(str(level_split(tmp_path)), False)], STEMS)
    data = TrainingBatches(songs, STEMS, STEMS, segment_samples=256, batch_size=4, n_batches=4, seed=0,
                           shuffle_stems=True, shuffle_channels=False)
    orders = set()
    for i in range(4):
        batch = data[i]
        x, y = batch["inputs"].numpy(), batch["targets"].numpy()
        assert y.shape == (4, 4, 2, 256)
        for b in range(4):
            levels = np.round(x[b, ::2, 0] / 0.1).astype(int) - 1
            assert np.allclose(y[:, b, 0, 0], x[b, ::2, 0])
            orders.add(tuple(levels))
    assert len(orders) > 1
    with pytest.raises(ValueError, match="shuffle_stems"):
        TrainingBatches(songs, STEMS, STEMS[:2], 256, 4, 4, 0, shuffle_stems=True)


def test_augmentation_touches_inputs_only_and_not_the_segments(noise_split):
    plain = batches(noise_split, shuffle_channels=False)
    louder = batches(noise_split, shuffle_channels=False,
                     augmentation=AugmentationChain([(Gain(gain_db=(6.0, 6.0), invert_probability=0.0), 1.0, False)]))
    a, b = plain[0], louder[0]
    assert torch.equal(a["targets"], b["targets"])
    assert torch.allclose(b["inputs"], a["inputs"] * 10 ** (6 / 20), atol=1e-6)


def test_validation_songs_round_down(noise_split):
    songs = find_songs([(str(noise_split), False)], ALL)
    got = list(validation_songs(songs, STEMS, ["mixture"], max_samples=6400, multiple=1024))
    assert [(name, x.shape, y.shape) for name, x, y in got] == [
        ("song0", (8, 5120), (1, 2, 5120)), ("song1", (8, 6144), (1, 2, 6144)), ("song2", (8, 6144), (1, 2, 6144))]
