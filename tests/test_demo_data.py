"""Demo dataset generator: determinism, layout, levels, impulse responses, errors (real rendering, no mocks)."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from automix import audio
from automix.dataset import STEMS, discover_songs
from automix.demo.data import SPLITS, generate_demo_dataset, main
from automix.demo.irs import estimate_rt60_s, write_generated_ir

SECONDS = 3.0
SONGS = {"train": 1, "val": 1, "test": 1}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Three 3-second songs with simulated IRs, seed 0, one worker."""
    out = tmp_path_factory.mktemp("demo_a") / "data"
    return generate_demo_dataset(out, n_songs=SONGS, seconds=SECONDS, seed=0, workers=1)


def _hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "demo_info.json"}


def _info(root: Path) -> dict:
    info = json.loads((root / "demo_info.json").read_text())
    info.pop("seconds_taken")
    return info


def _song_dirs(root: Path, kind: str):
    return [song for split in SPLITS for song in sorted((root / kind / split).iterdir())]


def test_same_seed_gives_same_bytes_with_two_workers_and_overwrite_removes_old_songs(generated, tmp_path):
    first = generated["out_dir"]
    second = tmp_path / "data"
    shutil.copytree(first, second)
    stale = second / "wet" / "train" / "999_stale"
    stale.mkdir()
    (second / "my_notes.txt").write_text("not ours")
    generate_demo_dataset(second, n_songs=SONGS, seconds=SECONDS, seed=0, workers=2, overwrite=True)
    assert _hashes(second) == {**_hashes(first), "my_notes.txt": _hashes(second)["my_notes.txt"]}
    assert _info(second) == _info(first) and _info(first)["complete"] is True
    assert not stale.exists() and (second / "my_notes.txt").read_text() == "not ours"


def test_other_seed_changes_every_audio_file(generated, tmp_path):
    # reuses the first run's IRs (simulating rooms is the slow part); the IRs' own seeding is tested below
    other = generate_demo_dataset(tmp_path / "data", n_songs=SONGS, seconds=SECONDS, seed=1,
                                  ir_folder=generated["out_dir"] / "irs")
    first = {k: v for k, v in _hashes(generated["out_dir"]).items() if not k.startswith("irs")}
    second = _hashes(other["out_dir"])
    assert len(first) == len(second) == 3 * 9
    assert not set(first.values()) & set(second.values())


def test_simulated_irs_follow_the_seed(tmp_path):
    def simulate(seed, folder):
        _, name, path, details = write_generated_ir((tmp_path / folder, "pre_reverb", 1, seed))
        return name, path.read_bytes(), details

    same, again, other = simulate(7, "a"), simulate(7, "b"), simulate(8, "c")
    assert same == again
    assert other[0] == same[0] and other[1] != same[1] and other[2]["room_m"] != same[2]["room_m"]


def test_layout_lengths_and_levels(generated):
    root = generated["out_dir"]
    n_samples = int(SECONDS * audio.SAMPLE_RATE)
    for split in SPLITS:
        names = generated["songs"][split]
        assert len(names) == SONGS[split] and all(n[:4] == f"{i:03d}_" for i, n in enumerate(names))
        assert [s.name for s in discover_songs(root / "wet" / split, require_mixture=True)] == names
        assert [s.name for s in discover_songs(root / "dry" / split)] == names
    for kind, stems in (("dry", STEMS), ("wet", STEMS + ("mixture",))):
        for song in _song_dirs(root, kind):
            assert sorted(p.name for p in song.iterdir()) == sorted(f"{s}.wav" for s in stems)
            for stem in stems:
                info = sf.info(str(song / f"{stem}.wav"))
                assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, n_samples, "PCM_16")
                data = audio.read(song / f"{stem}.wav")
                assert 20 * np.log10(np.max(np.abs(data))) > -30.0, f"{song.name}/{stem} is near silent"
                assert np.sqrt(np.mean(data**2)) > 10 ** (-50 / 20), f"{song.name}/{stem} is near silent"
            if kind == "wet":
                assert np.max(np.abs(audio.read(song / "mixture.wav"))) < 10 ** (-0.5 / 20)


def test_mixture_is_the_sum_of_wet_stems_below_the_limiter(generated):
    for song in _song_dirs(generated["out_dir"], "wet"):
        total = sum(audio.read(song / f"{stem}.wav").astype(np.float64) for stem in STEMS)
        mixture = audio.read(song / "mixture.wav")
        residual_db = 10 * np.log10(np.sum((mixture - total) ** 2) / np.sum(total**2))
        assert residual_db < -25.0, f"{song.name}: mixture differs from the stem sum by {residual_db:.1f} dB"


def test_wet_stems_are_engineered_versions_of_dry_stems(generated):
    root = generated["out_dir"]
    info = json.loads((root / "demo_info.json").read_text())
    meter = pyloudnorm.Meter(audio.SAMPLE_RATE)
    for song_info in info["songs"]:
        settings = song_info["engineer"]
        assert settings["vocals"]["send"] is not None and settings["other"]["send"] is not None
        assert settings["bass"]["send"] is None
        for stem in STEMS:
            dry = audio.read(root / "dry" / song_info["split"] / song_info["name"] / f"{stem}.wav")
            wet = audio.read(root / "wet" / song_info["split"] / song_info["name"] / f"{stem}.wav")
            dry_mono, wet_mono = dry.mean(axis=1), wet.mean(axis=1)
            # what no gain can explain: EQ, compression and reverb changed the waveform
            fitted = dry_mono * (wet_mono @ dry_mono) / (dry_mono @ dry_mono)
            assert 10 * np.log10(np.sum((wet_mono - fitted) ** 2) / np.sum(wet_mono**2)) > -20.0
            expected_lufs = settings[stem]["target_lufs"] + song_info["stem_trim_db"]
            assert meter.integrated_loudness(wet.astype(np.float64)) == pytest.approx(expected_lufs, abs=0.5)
        other = audio.read(root / "wet" / song_info["split"] / song_info["name"] / "other.wav")
        balance_db = 10 * np.log10(np.sum(other[:, 0] ** 2) / np.sum(other[:, 1] ** 2))
        assert abs(balance_db) > 2.0 and np.sign(balance_db) == -np.sign(settings["other"]["pan"])


def _t30_rt60_s(ir: np.ndarray, sample_rate: int) -> float:
    """Independent estimate: Schroeder decay, line fit from -5 to -35 dB, extrapolated to -60 dB."""
    energy = np.sum(ir.astype(np.float64) ** 2, axis=1)
    edc_db = 10 * np.log10(np.cumsum(energy[::-1])[::-1] / energy.sum() + 1e-30)
    fit = (edc_db <= -5) & (edc_db >= -35)
    slope = np.polyfit(np.flatnonzero(fit) / sample_rate, edc_db[fit], 1)[0]
    return -60.0 / slope


def test_generated_irs_have_their_rt60_and_the_loader_layout(generated):
    ir_root = generated["out_dir"] / "irs"
    assert generated["ir_dir"] == ir_root
    for kind, (low, high), count in (("reverb", (2.0, 4.0), 2), ("pre_reverb", (0.2, 1.5), 3)):
        files = sorted(ir_root.glob(f"{kind}/*/impulse_response.wav"))
        assert len(files) == count
        for path in files:
            info = sf.info(str(path))
            assert (info.samplerate, info.channels) == (44100, 2)
            rt60 = _t30_rt60_s(audio.read(path, sample_rate=None), info.samplerate)
            assert low < rt60 < high, f"{path}: RT60 {rt60:.2f} s"


def test_rt60_estimator_on_a_known_exponential_decay():
    rng = np.random.default_rng(3)
    n = int(3.0 * audio.SAMPLE_RATE)
    decay = 10 ** (-3 * np.arange(n) / audio.SAMPLE_RATE / 1.8)  # -60 dB after 1.8 s
    ir = rng.standard_normal((n, 2)) * decay[:, None]
    assert estimate_rt60_s(ir) == pytest.approx(1.8, rel=0.05)


def test_given_ir_folder_is_used_and_no_irs_are_generated(demo_dataset, ir_dir):
    assert not (demo_dataset / "irs").exists()
    info = json.loads((demo_dataset / "demo_info.json").read_text())
    assert info["irs"]["source"] == "folder"
    names = {kind: sorted(p.name for p in (ir_dir / kind).iterdir() if p.is_dir()) for kind in info["irs"]["names"]}
    assert info["irs"]["names"] == names
    sends = [s["send"] for song in info["songs"] for s in song["engineer"].values() if s["send"]]
    assert sends and all(s["ir_name"] in names[s["ir_kind"]] for s in sends)


def test_refuses_a_non_empty_output_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="--overwrite"):
        generate_demo_dataset(tmp_path, n_songs={"train": 1}, seconds=2.0)
    assert main(["--out", str(tmp_path), "--train", "1", "--val", "0", "--test", "0"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_overwrite_does_not_delete_a_folder_that_is_not_a_demo_dataset(tmp_path):
    (tmp_path / "wet").mkdir()
    (tmp_path / "wet" / "song.wav").write_bytes(b"user data")
    with pytest.raises(FileExistsError, match="not a demo dataset"):
        generate_demo_dataset(tmp_path, n_songs={"train": 1}, seconds=2.0, overwrite=True)
    assert (tmp_path / "wet" / "song.wav").read_bytes() == b"user data"


def test_rejects_an_ir_folder_with_a_48k_ir_or_no_irs(tmp_path):
    bad = tmp_path / "irs" / "reverb" / "hall48" / "impulse_response.wav"
    bad.parent.mkdir(parents=True)
    sf.write(str(bad), np.r_[1.0, np.zeros(4799)] * 0.5, 48000, subtype="PCM_16")
    out = tmp_path / "out"
    with pytest.raises(audio.AudioError, match=r"hall48/impulse_response\.wav.*48000 Hz.*44100"):
        generate_demo_dataset(out, n_songs={"train": 1}, seconds=2.0, ir_folder=tmp_path / "irs")
    bad.parent.rename(bad.parent.with_name("cut"))  # a 44.1 kHz file cut short by an interrupted copy
    cut = bad.parent.with_name("cut") / "impulse_response.wav"
    sf.write(str(cut), np.r_[1.0, np.zeros(44099)] * 0.5, 44100, subtype="PCM_16")
    cut.write_bytes(cut.read_bytes()[:20000])
    with pytest.raises(audio.AudioError, match=r"cut/impulse_response\.wav.*truncated"):
        generate_demo_dataset(out, n_songs={"train": 1}, seconds=2.0, ir_folder=tmp_path / "irs")
    cut.unlink()
    with pytest.raises(FileNotFoundError, match="no impulse responses"):
        generate_demo_dataset(out, n_songs={"train": 1}, seconds=2.0, ir_folder=tmp_path)
    assert not out.exists()


def test_command_line_with_an_ir_folder(generated, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["--out", str(out), "--train", "1", "--val", "0", "--test", "1", "--seconds", "2", "--seed", "5",
            "--ir-folder", str(generated["out_dir"] / "irs")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "train: 1 songs" in printed and "test: 1 songs" in printed
    assert not (out / "irs").exists() and not (out / "wet" / "val").exists()
    songs = discover_songs(out / "wet" / "test", require_mixture=True)
    assert len(songs) == 1 and sf.info(str(songs[0].mixture)).frames == 2 * audio.SAMPLE_RATE


def test_package_entry_points_and_the_deprecated_alias():
    import automix.demo
    import automix.demo_data

    assert automix.demo.generate_demo_dataset is generate_demo_dataset is automix.demo_data.generate_demo_dataset
    for module, deprecated in (("automix.demo", False), ("automix.demo_data", True)):
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "--ir-folder" in result.stdout, result.stderr
        assert ("deprecated" in result.stderr) == deprecated


def test_rejects_bad_sizes(tmp_path):
    with pytest.raises(ValueError, match="seconds"):
        generate_demo_dataset(tmp_path / "a", n_songs={"train": 1}, seconds=0.1)
    with pytest.raises(ValueError, match="unknown split"):
        generate_demo_dataset(tmp_path / "b", n_songs={"training": 1}, seconds=2.0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_rendered_note_has_the_pitch_and_timing_of_the_score():
    from automix.demo.render import Note, render_notes, soundfont_path

    # A4 (MIDI 69, 440 Hz) on an ocarina (GM 80, nearly a sine) from 0.5 s (one quarter at 120 bpm) for 1 s
    audio_out = render_notes([([Note(1.0, 2.0, 69, 100)], 79, False)], 0.5, 2 * audio.SAMPLE_RATE,
                             soundfont_path().read_bytes())
    assert audio_out.shape == (2 * audio.SAMPLE_RATE, 2) and audio_out.dtype == np.float32
    envelope = np.abs(audio_out[:, 0])
    assert np.max(envelope[: int(0.49 * audio.SAMPLE_RATE)]) == 0.0  # silent before the onset
    assert abs(np.argmax(envelope > 1e-3) / audio.SAMPLE_RATE - 0.5) < 0.01
    sustain = audio_out[int(0.7 * audio.SAMPLE_RATE): int(1.4 * audio.SAMPLE_RATE), 0]
    spectrum = np.abs(np.fft.rfft(sustain * np.hanning(len(sustain))))
    frequencies = np.fft.rfftfreq(len(sustain), 1 / audio.SAMPLE_RATE)
    assert frequencies[np.argmax(spectrum)] == pytest.approx(440.0, rel=0.01)
    assert np.max(spectrum[frequencies < 400]) < 0.01 * np.max(spectrum)  # no energy an octave down


def test_drum_pattern_follows_the_meter_and_excerpts_loop_the_score():
    from automix.demo.render import Chorale, Note, drum_pattern, excerpt_notes

    def chorale(beats, beat_quarters, division):
        return Chorale("x", {}, 16.0, (0.0,), beats * beat_quarters, beats, beat_quarters, division, "")

    def hits(meter, key):
        notes = drum_pattern(chorale(*meter), 2 * meter[0] * meter[1], "ride", np.random.default_rng(0))
        return [n.onset_quarters for n in notes if n.key == key]

    assert hits((4, 1.0, 2), 36) == [0, 2, 4, 6] and hits((4, 1.0, 2), 38) == [1, 3, 5, 7]  # 4/4
    assert hits((3, 1.0, 2), 36) == [0, 3] and hits((3, 1.0, 2), 38) == [1, 2, 4, 5]  # 3/4
    assert len(hits((4, 1.5, 3), 51)) == 2 * 12  # 12/8: a ride on every eighth
    score = [Note(0.0, 1.0, 60), Note(3.0, 1.0, 62)]
    looped = excerpt_notes(score, start_quarters=2.0, length_quarters=6.0, loop_quarters=4.0)
    assert [(n.onset_quarters, n.key) for n in looped] == [(1.0, 62), (2.0, 60), (5.0, 62)]


def test_only_four_voice_chorales_are_loaded():
    from automix.demo.render import chorale_paths, load_chorale

    paths = {p.stem: p for p in chorale_paths()}
    chorale = load_chorale(paths["bwv269"])
    assert chorale.chorale_id == "bwv269" and list(chorale.parts) == ["soprano", "alto", "tenor", "bass"]
    soprano, bass = chorale.parts["soprano"], chorale.parts["bass"]
    assert np.mean([n.key for n in soprano]) > np.mean([n.key for n in bass]) + 12
    assert chorale.time_signature == "3/4" and chorale.bar_quarters == 3.0 and chorale.beats_per_bar == 3
    assert all(chorale.length_quarters >= n.onset_quarters + n.duration_quarters for n in soprano)
    assert load_chorale(paths["bwv248.23-2"]) is None  # 8 parts (winds, organ): not a plain SATB chorale


# ---- the held-out variant (--held-out): other programs, tempi, keys and chorales, same mix engineer ----

HELD_OUT_SONGS = {"train": 0, "val": 0, "test": 3}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """Three 3-second held-out test songs (no train or val songs) with simulated IRs, seed 0, one worker."""
    out = tmp_path_factory.mktemp("demo_held_out") / "data"
    return generate_demo_dataset(out, n_songs=HELD_OUT_SONGS, seconds=SECONDS, seed=0, variant="held-out")


def _songs(root: Path) -> list:
    return json.loads((root / "demo_info.json").read_text())["songs"]


def test_held_out_songs_draw_only_held_out_programs_tempi_and_transpositions(held_out):
    from automix.demo import render
    from automix.demo.data import HELD_OUT_TEMPO_RANGES_BPM, TEMPO_RANGE_BPM

    root = held_out["out_dir"]
    info = json.loads((root / "demo_info.json").read_text())
    assert info["variant"] == "held-out" and info["complete"] is True and info["n_songs"] == HELD_OUT_SONGS
    assert info["variant_draws"]["programs"]["bass"] == list(render.HELD_OUT_BASS_PROGRAMS)
    assert info["variant_draws"]["transpose_semitones"] == [-5, -4, -3, -2, 2, 3, 4, 5]
    assert held_out["songs"] == {"train": [], "val": [], "test": held_out["songs"]["test"]}
    assert len(held_out["songs"]["test"]) == 3 and not (root / "wet" / "train").exists()
    assert len(sorted((root / "irs").glob("*/*/impulse_response.wav"))) == 5  # IRs simulated with no train songs
    assert len(discover_songs(root / "wet" / "test", require_mixture=True)) == 3
    trained = set(render.VOCAL_PROGRAMS + render.BASS_PROGRAMS + render.HARMONY_PROGRAMS)
    for song in info["songs"]:
        programs = song["programs"]
        assert programs["vocals"] in render.HELD_OUT_VOCAL_PROGRAMS
        assert programs["bass"] in render.HELD_OUT_BASS_PROGRAMS
        assert {programs["alto"], programs["tenor"]} <= set(render.HELD_OUT_HARMONY_PROGRAMS)
        assert not set(programs.values()) & trained
        tempo = song["tempo_bpm"]
        assert not TEMPO_RANGE_BPM[0] <= tempo <= TEMPO_RANGE_BPM[1]
        assert any(low <= tempo <= high for low, high in HELD_OUT_TEMPO_RANGES_BPM)
        assert 2 <= abs(song["transpose_semitones"]) <= 5
        assert song["engineer"]["bass"]["send"] is None and song["engineer"]["vocals"]["send"] is not None


def _pitch_semitones(segment: np.ndarray) -> float:
    """Fundamental of a sustained note as a MIDI key number (harmonic sum over 4 partials, 25-2000 Hz)."""
    n = 1 << 16
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), n))
    frequencies = np.fft.rfftfreq(n, 1 / audio.SAMPLE_RATE)
    candidates = np.arange(25.0, 2000.0, 0.25)
    score = sum(np.log(1e-9 + np.interp(candidates * h, frequencies, spectrum)) for h in range(1, 5))
    return 69 + 12 * np.log2(candidates[np.argmax(score)] / 440.0)


def test_held_out_transposition_is_heard_in_vocals_and_bass(held_out):
    from automix.demo.render import chorale_paths, excerpt_notes, load_chorale

    root, paths = held_out["out_dir"], {p.stem: p for p in chorale_paths()}
    for song in _songs(root):
        chorale = load_chorale(paths[song["chorale_id"]])
        quarters, seconds_per_quarter = SECONDS * song["tempo_bpm"] / 60, 60 / song["tempo_bpm"]
        for stem, voice, octave in (("vocals", "soprano", 0), ("bass", "bass", -12)):
            notes = excerpt_notes(chorale.parts[voice], song["start_quarters"], quarters, chorale.length_quarters)
            heard = {n: min(n.duration_quarters, quarters - n.onset_quarters) for n in notes}
            note = max(heard, key=heard.get)  # the longest note inside the excerpt, its middle 60 %
            start, stop = (int((note.onset_quarters + f * heard[note]) * seconds_per_quarter * audio.SAMPLE_RATE)
                           for f in (0.2, 0.8))
            dry = audio.read(root / "dry" / "test" / song["name"] / f"{stem}.wav").mean(axis=1).astype(np.float64)
            key = _pitch_semitones(dry[start:stop])
            # pitch class only: some patches' fundamental is weak, so an octave error is possible
            off = (key - (note.key + octave + song["transpose_semitones"]) + 6) % 12 - 6
            assert abs(off) < 0.4, f"{song['name']}/{stem}: {off:+.2f} semitones from the transposed score"


def test_held_out_shares_no_chorale_or_draw_with_the_default_dataset_of_the_same_seed(held_out, generated,
                                                                                       tmp_path):
    default = generate_demo_dataset(tmp_path / "default", n_songs=HELD_OUT_SONGS, seconds=SECONDS, seed=0,
                                    ir_folder=held_out["out_dir"] / "irs")
    held_out_songs = _songs(held_out["out_dir"])
    held_out_chorales = {s["chorale_id"] for s in held_out_songs}
    for other in (default["out_dir"], generated["out_dir"]):  # same sizes, and the 1/1/1 fixture
        assert not held_out_chorales & {s["chorale_id"] for s in _songs(other)}
    for ours, theirs in zip(held_out_songs, _songs(default["out_dir"])):  # a separate seed stream
        assert ours["engineer"] != theirs["engineer"] and ours["bus"] != theirs["bus"]
    default_hashes = set(_hashes(default["out_dir"]).values())
    assert not {h for k, h in _hashes(held_out["out_dir"]).items() if not k.startswith("irs")} & default_hashes


def test_held_out_same_seed_gives_same_bytes_with_two_workers(held_out, tmp_path):
    again = generate_demo_dataset(tmp_path / "data", n_songs=HELD_OUT_SONGS, seconds=SECONDS, seed=0, workers=2,
                                  variant="held-out")
    assert _hashes(again["out_dir"]) == _hashes(held_out["out_dir"])
    assert _info(again["out_dir"]) == _info(held_out["out_dir"])


def test_held_out_programs_are_new_distinct_per_role_and_sound():
    from automix.demo import render

    held_out = (render.HELD_OUT_VOCAL_PROGRAMS, render.HELD_OUT_BASS_PROGRAMS, render.HELD_OUT_HARMONY_PROGRAMS)
    trained = set(render.VOCAL_PROGRAMS + render.BASS_PROGRAMS + render.HARMONY_PROGRAMS)
    every = [p for programs in held_out for p in programs]
    assert len(every) == len(set(every)) and not set(every) & trained and all(0 <= p < 128 for p in every)
    soundfont = render.soundfont_path().read_bytes()
    names = render.program_names(every, soundfont)
    assert len(set(names.values())) == len(every)  # each a preset of its own, not a fallback
    n = audio.SAMPLE_RATE
    # the lowest and highest keys a role plays after a +-5 transposition (bass an octave down)
    for programs, keys in zip(held_out, ((55, 86), (19, 57), (43, 79))):
        for program in programs:
            for key in keys:
                rendered = render.render_notes([([render.Note(0.0, 2.0, key, 90)], program, False)], 0.5, n,
                                               soundfont)[:, 0]
                sustain_db = 20 * np.log10(np.sqrt(np.mean(rendered[int(0.2 * n): int(0.9 * n)] ** 2)) + 1e-12)
                assert sustain_db > -45.0, f"program {program} ({names[program]}) key {key}: {sustain_db:.0f} dB"


def test_default_draws_are_those_of_the_generator_before_the_held_out_variant(generated):
    # Known answer: the seed-0 1/1/1 fixture as the generator made it before variants existed (its audio bytes were
    # compared then too: all 95 files of a default 6/2/2 dataset identical)
    songs = json.loads((generated["out_dir"] / "demo_info.json").read_text())["songs"]
    assert [(s["name"], s["start_quarters"], s["tempo_bpm"], s["programs"], s["drum_style"]) for s in songs] == [
        ("000_bwv146_8", 40.0, 84.7, {"vocals": 54, "bass": 35, "alto": 48, "tenor": 48}, "ride"),
        ("000_bwv301", 0.0, 89.1, {"vocals": 54, "bass": 32, "alto": 49, "tenor": 49}, "hats"),
        ("000_bwv372", 44.0, 81.9, {"vocals": 54, "bass": 38, "alto": 49, "tenor": 49}, "ride")]
    assert [s["engineer"]["vocals"]["target_lufs"] for s in songs] == [-18.894, -17.063, -14.933]
    assert all("transpose_semitones" not in s for s in songs)


def test_held_out_command_line_with_empty_splits(generated, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--held-out" in capsys.readouterr().out
    out = tmp_path / "cli"
    assert main(["--out", str(out), "--held-out", "--train", "0", "--val", "0", "--test", "1", "--seconds", "2",
                 "--ir-folder", str(generated["out_dir"] / "irs")]) == 0
    printed = capsys.readouterr().out
    assert "train: no songs" in printed and "val: no songs" in printed and "test: 1 songs" in printed
    info = json.loads((out / "demo_info.json").read_text())
    assert info["variant"] == "held-out" and [s["split"] for s in info["songs"]] == ["test"]
    assert not (out / "wet" / "train").exists() and not (out / "irs").exists()
    with pytest.raises(ValueError, match="variant"):
        generate_demo_dataset(tmp_path / "bad", n_songs={"test": 1}, seconds=2.0, variant="heldout")
    assert not (tmp_path / "bad").exists()
