"""automix.dataset: discovery of good and broken song folders, padding of unequal stems."""
import logging

import numpy as np
import pytest
import soundfile as sf

from automix import audio
from automix.dataset import STEMS, discover_songs, load_stems, scan_songs


def _make_song(folder, n_samples=4410, rate=44100, skip=(), suffix=None, mixture=True, lengths=None):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(folder.name))
    names = list(STEMS) + (["mixture"] if mixture else [])
    for name in names:
        if name in skip:
            continue
        n = (lengths or {}).get(name, n_samples)
        base = f"{name}_{suffix}" if suffix and name != "mixture" else name
        audio.write(folder / f"{base}.wav", 0.1 * rng.standard_normal((n, 2)), sample_rate=rate)


def test_discovery_sorted_and_reports_every_skip(tmp_path, caplog):
    split = tmp_path / "train"
    _make_song(split / "b_song")
    _make_song(split / "a_song")
    _make_song(split / "c_missing_bass", skip=("bass",))
    _make_song(split / "d_rates", rate=48000)
    audio.write(split / "d_rates" / "vocals.wav", np.zeros((100, 2)), sample_rate=44100)  # now mixed rates
    _make_song(split / "e_broken")
    (split / "e_broken" / "drums.wav").write_text("garbage")
    with caplog.at_level(logging.WARNING):
        report = scan_songs(split)
    assert [s.name for s in report.songs] == ["a_song", "b_song"]
    reasons = {folder.name: reason for folder, reason in report.skipped}
    assert set(reasons) == {"c_missing_bass", "d_rates", "e_broken"}
    assert "missing stem 'bass'" in reasons["c_missing_bass"]
    assert "mismatched sample rates" in reasons["d_rates"]
    assert "drums.wav" in reasons["e_broken"] and "not a readable audio file" in reasons["e_broken"]
    for name in reasons:
        assert name in caplog.text


def test_song_fields_and_flac(tmp_path):
    _make_song(tmp_path / "s" / "song")
    path = tmp_path / "s" / "song" / "other.wav"
    data, rate = sf.read(path)
    path.unlink()
    sf.write(path.with_suffix(".flac"), data, rate)
    (song,) = discover_songs(tmp_path / "s", require_mixture=True)
    assert song.stems["other"].suffix == ".flac"
    assert set(song.stems) == set(STEMS) and song.mixture.name == "mixture.wav"


def test_normalized_suffix_and_require_mixture(tmp_path):
    _make_song(tmp_path / "split" / "x", suffix="normalized", mixture=False)
    assert discover_songs(tmp_path / "split") == []  # raw stems absent
    (song,) = discover_songs(tmp_path / "split", suffix="normalized")
    assert song.stems["vocals"].name == "vocals_normalized.wav"
    assert discover_songs(tmp_path / "split", suffix="normalized", require_mixture=True) == []


def test_expected_sample_rate(tmp_path):
    _make_song(tmp_path / "split" / "x", rate=22050)
    report = scan_songs(tmp_path / "split", sample_rate=44100)
    assert report.songs == [] and "expected 44100" in report.skipped[0][1]


def test_unequal_lengths_are_end_padded_with_warning(tmp_path, caplog):
    _make_song(tmp_path / "split" / "x", lengths={"bass": 4000})
    (song,) = discover_songs(tmp_path / "split")
    with caplog.at_level(logging.WARNING):
        stems = load_stems(song, with_mixture=True)
    assert {a.shape for a in stems.values()} == {(4410, 2)}
    assert np.all(stems["bass"][4000:] == 0) and np.any(stems["bass"][:4000] != 0)
    assert "bass is 410 samples shorter" in caplog.text


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        discover_songs(tmp_path / "nope")
