"""The inference command line (``automix mix`` / ``python -m automix.inference`` / ``scripts/inference.sh``) on real
files: round trips, rates, missing stems, track grouping, the official weights in release mode, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from automix import audio
from automix.fxnorm.features import load_features
from automix.fxnorm.normalize import normalize_stem, stem_rng
from automix.inference import main
from automix.mixing import mix
from automix.models import build_model
from mix_fixtures import (STEMS, TINY_CONFIG, features_file, stem_audio, tiny_state_dict, write_results,
                          write_song)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _expected_normalized(path, stem, features, song, mode="fixed"):
    x = audio.read(path)
    x = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
    return normalize_stem(x, stem, features, mode=mode, rng=stem_rng(0, song, stem))[0]


def _stem_args(paths):
    return [arg for stem, path in paths.items() for arg in (f"--{stem}", str(path))]


@pytest.fixture
def setup(tmp_path):
    """A 1.5-s song, features, and a results folder with a tiny random-weight network."""
    return {"song": write_song(tmp_path / "song", seconds=1.5), "features": features_file(tmp_path),
            "results": write_results(tmp_path / "results" / "tiny"), "out": tmp_path / "out"}


def test_baseline_sum_is_the_sum_of_the_normalized_stems_and_formats_round_trip(tmp_path, setup, capsys):
    song = tmp_path / "formats"
    song.mkdir()
    formats = {"vocals": ("vocals.wav", "PCM_U8"), "bass": ("bass.wav", "PCM_32"), "drums": ("drums.flac", "PCM_24"),
               "other": ("other.wav", "FLOAT")}
    paths = {}
    for stem, (name, subtype) in formats.items():
        paths[stem] = song / name
        sf.write(paths[stem], stem_audio(stem, 1.5, channels=1 if stem == "bass" else 2), 44100, subtype=subtype)
    out, report = setup["out"] / "sum.wav", setup["out"] / "sum.json"
    rc = main(["--baseline-sum", "--features", str(setup["features"]), *_stem_args(paths), "--output", str(out),
               "--report", str(report)])
    assert rc == 0, capsys.readouterr().err
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, 66150, "FLOAT")  # highest in
    features = load_features(setup["features"])[0]
    expected = sum(_expected_normalized(paths[s], s, features, "formats") for s in STEMS)
    np.testing.assert_allclose(audio.read(out), expected, atol=1e-6)
    data = json.loads(report.read_text())
    assert data["model"]["kind"] == "baseline" and data["output"]["subtype"] == "FLOAT"
    assert {data["stems"][s]["inputs"][0]["subtype"] for s in STEMS} == {"PCM_U8", "PCM_32", "PCM_24", "FLOAT"}
    printed = capsys.readouterr().out
    assert "x real time" in printed and "vocals  normalized: EQ" in printed


def test_network_mix_keeps_length_rate_channels_and_bit_depth(setup, capsys):
    song = write_song(setup["song"]["vocals"].parent.parent / "s24", seconds=1.5, subtype="PCM_24")
    out = setup["out"] / "mix.wav"
    rc = main(["--results", str(setup["results"]), "--features", str(setup["features"]), *_stem_args(song),
               "--output", str(out), "--device", "cpu", "--seed", "0"])
    assert rc == 0, capsys.readouterr().err
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, 66150, "PCM_24")
    features = load_features(setup["features"])[0]
    x = np.concatenate([_expected_normalized(song[s], s, features, "s24").T for s in STEMS])
    model = build_model(TINY_CONFIG).eval()
    model.load_state_dict(torch.load(setup["results"] / "current_model_for_mixture.params", weights_only=True))
    expected = mix(model, torch.from_numpy(x)).numpy().T
    np.testing.assert_allclose(audio.read(out), expected, atol=2.0**-22)  # PCM_24 rounding
    printed = capsys.readouterr().out
    assert "checkpoint rule: no best-by-mean checkpoint" in printed and "device cpu" in printed


def test_48_khz_song_comes_back_at_48_khz_with_the_same_duration(tmp_path, setup, capsys):
    song = write_song(tmp_path / "s48", seconds=1.25, rate=48000, stems=("vocals", "drums"))
    weights = tmp_path / "w.params"
    torch.save(tiny_state_dict(), weights)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_CONFIG))
    out = setup["out"] / "mix48.flac"
    rc = main(["--training-params", str(config), "--weights", str(weights), "--features", str(setup["features"]),
               *_stem_args(song), "--output", str(out)])
    assert rc == 0, capsys.readouterr().err
    info = sf.info(out)
    assert (info.samplerate, info.frames, info.subtype) == (48000, 60000, "PCM_16")
    printed = capsys.readouterr().out
    assert "bass    missing" in printed and "other   missing" in printed
    assert "missing stem(s) bass, other" in printed and "written at 48000 Hz" in printed


def test_tracks_are_grouped_by_name_mapped_and_summed(tmp_path, setup, capsys):
    session = tmp_path / "session"
    session.mkdir()
    tracks = {"LeadVox.wav": "vocals", "BGVs_2.wav": "vocals", "Bass DI.wav": "bass", "Kick_In.wav": "drums",
              "OH L.wav": "drums", "Piano.wav": "other", "Bassoon.wav": "other"}
    for i, name in enumerate(tracks):
        audio.write(session / name, stem_audio(tracks[name], 1.0, seed=i), 44100, "FLOAT")
    out, report = setup["out"] / "tracks.wav", setup["out"] / "tracks.json"
    rc = main(["--baseline-sum", "--features", str(setup["features"]), "--tracks", str(session),
               "--map", "Bassoon=bass", "--output", str(out), "--report", str(report)])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "vocals  BGVs_2.wav, LeadVox.wav" in printed and "bass    Bass DI.wav, Bassoon.wav" in printed
    assert "drums   Kick_In.wav, OH L.wav" in printed and "other   Piano.wav" in printed
    data = json.loads(report.read_text())
    assert [Path(i["source"]).name for i in data["stems"]["drums"]["inputs"]] == ["Kick_In.wav", "OH L.wav"]
    assert "2 tracks summed" in data["stems"]["vocals"]["notes"]
    # the same mix as stems pre-summed into one file each (same song name: the same random draws)
    summed = tmp_path / "presummed" / "session"
    summed.mkdir(parents=True)
    groups = {"vocals": ["LeadVox.wav", "BGVs_2.wav"], "bass": ["Bass DI.wav", "Bassoon.wav"],
              "drums": ["Kick_In.wav", "OH L.wav"], "other": ["Piano.wav"]}
    for stem, names in groups.items():
        audio.write(summed / f"{stem}.wav", sum(audio.read(session / n) for n in names), 44100, "FLOAT")
    out2 = setup["out"] / "presummed.wav"
    assert main(["--baseline-sum", "--features", str(setup["features"]), "--output", str(out2),
                 *_stem_args({s: summed / f"{s}.wav" for s in STEMS})]) == 0
    np.testing.assert_allclose(audio.read(out), audio.read(out2), atol=1e-5)


def test_official_weights_in_release_mode_with_imported_features(reference_dir, tmp_path, capsys):
    features = tmp_path / "features_MUSDB18.npz"
    result = subprocess.run([sys.executable, "-m", "automix.cli", "features", "import",
                             str(reference_dir / "features_MUSDB18.npy"), str(features)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    song = write_song(tmp_path / "song", seconds=1.5)
    parity = reference_dir / "parity"
    out = tmp_path / "official.wav"
    rc = main(["--training-params", str(parity / "ours_S_Lb.config.json"), "--weights",
               str(parity / "ours_S_Lb.params"), "--mode", "release", "--features", str(features),
               *_stem_args(song), "--output", str(out), "--subtype", "FLOAT"])
    assert rc == 0, capsys.readouterr().err
    loaded = load_features(features, mode="release")[0]  # the release smooths the stored curves again at load
    x = np.concatenate([_expected_normalized(song[s], s, loaded, "song", "release").T for s in STEMS])
    model = build_model(json.loads((parity / "ours_S_Lb.config.json").read_text())).eval()
    model.load_state_dict(torch.load(parity / "ours_S_Lb.params", weights_only=True))
    expected = mix(model, torch.from_numpy(x)).numpy().T
    mixed = audio.read(out)
    assert mixed.shape == (66150, 2) and np.max(np.abs(mixed)) < 1.0
    np.testing.assert_allclose(mixed, expected, atol=1e-5)
    assert "normalization mode release" in capsys.readouterr().out


def _bad_inputs(tmp_path, setup):
    """(name, extra arguments, the file the message must name) for every class of bad input."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "text.wav").write_text("not audio at all\n" * 50)
    good = setup["song"]["vocals"]
    (bad / "truncated.wav").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    sf.write(bad / "empty.wav", np.zeros((0, 2), np.float32), 44100)
    sf.write(bad / "three.wav", np.zeros((100, 3), np.float32), 44100)
    sf.write(bad / "nan.wav", np.full((100, 2), np.nan, np.float32), 44100, subtype="FLOAT")
    (bad / "irs").mkdir()
    (bad / "not_a_folder").write_text("a file")
    (bad / "weights.params").write_text("not a checkpoint")
    torch.save(tiny_state_dict({**TINY_CONFIG, "N_FEATURES_ENCODER": 32}), bad / "other.params")
    torch.save(build_model(TINY_CONFIG), bad / "module.params")  # a pickled module, not a state_dict
    config = bad / "config.json"
    config.write_text(json.dumps(TINY_CONFIG))
    fixed = str(setup["features"])
    net = ["--training-params", str(config)]
    return [
        ("missing file", ["--vocals", str(bad / "nope.wav"), "--features", fixed, "--baseline-sum"], "nope.wav"),
        ("not audio", ["--vocals", str(bad / "text.wav"), "--features", fixed, "--baseline-sum"], "text.wav"),
        ("truncated", ["--vocals", str(bad / "truncated.wav"), "--features", fixed, "--baseline-sum"],
         "truncated.wav"),
        ("empty", ["--bass", str(bad / "empty.wav"), "--features", fixed, "--baseline-sum"], "empty.wav"),
        ("3 channels", ["--bass", str(bad / "three.wav"), "--features", fixed, "--baseline-sum"], "three.wav"),
        ("NaN", ["--bass", str(bad / "nan.wav"), "--features", fixed, "--baseline-sum"], "nan.wav"),
        ("IR folder", ["--vocals", str(good), "--features", fixed, "--baseline-sum", "--impulse-responses",
                       str(bad / "irs")], "irs"),
        ("features kind", ["--vocals", str(good), "--features", str(good), "--baseline-sum"], "vocals.wav"),
        ("features mode", ["--vocals", str(good), "--features", fixed, "--baseline-sum", "--mode", "release"],
         "features_fixed.npz"),
        ("weights kind", ["--vocals", str(good), "--features", fixed, *net, "--weights", str(bad / "weights.params")],
         "weights.params"),
        ("pickled module", ["--vocals", str(good), "--features", fixed, *net, "--weights",
                            str(bad / "module.params")], "module.params"),
        ("weights fit", ["--vocals", str(good), "--features", fixed, *net, "--weights", str(bad / "other.params")],
         "other.params"),
        ("results", ["--vocals", str(good), "--features", fixed, "--results", str(bad / "irs")], "irs"),
        ("no stems", ["--features", fixed, "--baseline-sum"], "--vocals"),
    ]


def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, setup, capsys):
    out_dir = tmp_path / "out_bad"
    out_dir.mkdir()
    for name, args, named in _bad_inputs(tmp_path, setup):
        rc = main([*args, "--output", str(out_dir / "mix.wav"), "--report", str(out_dir / "mix.json")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2, name
        assert len(err) == 1 and named in err[0] and err[0].startswith("automix mix: error: "), (name, err)
        assert list(out_dir.iterdir()) == [], name  # no output, no report, no temporary file
    parent_is_a_file = tmp_path / "bad" / "not_a_folder" / "mix.wav"
    for output in (parent_is_a_file, tmp_path / "out_bad", out_dir / "mix.mp3"):
        rc = main(["--vocals", str(setup["song"]["vocals"]), "--features", str(setup["features"]),
                   "--baseline-sum", "--output", str(output)])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and output.name in err[0], err
    assert list(out_dir.iterdir()) == []


def test_a_chunk_length_that_is_not_positive_is_an_argument_error(setup, capsys):
    for value in ("0", "-1", "abc", "inf"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--baseline-sum", "--features", str(setup["features"]), "--vocals", str(setup["song"]["vocals"]),
                  "--chunk-seconds", value, "--output", str(setup["out"] / "mix.wav")])
        assert exit_info.value.code == 2 and "--chunk-seconds" in capsys.readouterr().err
    assert not setup["out"].exists()


def test_an_existing_output_or_report_is_replaced_only_with_overwrite(setup, capsys):
    """A user's earlier mix is never overwritten without being asked: refused before any work (exit 2, one line
    naming the file and --overwrite, the file byte for byte as it was), replaced with --overwrite."""
    out, report = setup["out"] / "mix.wav", setup["out"] / "mix.json"
    base = ["--baseline-sum", "--features", str(setup["features"]), "--vocals", str(setup["song"]["vocals"])]
    assert main([*base, "--output", str(out), "--report", str(report)]) == 0
    first_mix, first_report = out.read_bytes(), report.read_bytes()
    capsys.readouterr()
    other_song = [*base[:-2], "--drums", str(setup["song"]["drums"])]  # another stem: a replaced file differs
    for args, named in (([*other_song, "--output", str(out)], "mix.wav"),
                        ([*other_song, "--output", str(setup["out"] / "new.wav"), "--report", str(report)],
                         "mix.json")):
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and named in err[0] and "--overwrite" in err[0], err
        assert out.read_bytes() == first_mix and report.read_bytes() == first_report
        assert sorted(p.name for p in setup["out"].iterdir()) == ["mix.json", "mix.wav"]  # nothing new, no temp
    assert main([*other_song, "--output", str(out), "--report", str(report), "--overwrite"]) == 0
    assert out.read_bytes() != first_mix
    assert json.loads(report.read_text())["stems"]["drums"]["status"] != "missing"
    assert sorted(p.name for p in setup["out"].iterdir()) == ["mix.json", "mix.wav"]


def test_command_lines_and_script_from_another_folder(tmp_path, setup):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    bad = subprocess.run([sys.executable, "-m", "automix.cli", "mix", "--vocals", str(tmp_path / "nope.wav"),
                          "--features", str(setup["features"]), "--baseline-sum", "--output", str(tmp_path / "x.wav")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "nope.wav" in bad.stderr
    out = tmp_path / "script" / "mix.wav"
    script = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "inference.sh"), str(setup["song"]["vocals"].parent),
                             str(out), "--report", str(tmp_path / "script" / "mix.json")], cwd=tmp_path,
                            env={**env, "AUTOMIX_PYTHON": sys.executable, "AUTOMIX_RESULTS": str(setup["results"]),
                                 "AUTOMIX_FEATURES": str(setup["features"]), "AUTOMIX_IR_DIR": "none"},
                            capture_output=True, text=True, timeout=300)
    assert script.returncode == 0, script.stdout + script.stderr
    assert sf.info(out).frames == 66150
    assert json.loads((tmp_path / "script" / "mix.json").read_text())["model"]["kind"] == "network"


def _write_irs(folder, seconds, seed):
    rng = np.random.default_rng(seed)
    n = int(seconds * 44100)
    ir = (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.1 * n))).astype(np.float32)
    ir[0] = 1.0
    audio.write(folder / "room" / "impulse_response.wav", ir[:, None] * 0.5, 44100, "FLOAT")
    return folder


def test_dry_stems_get_the_pre_reverb_then_the_reverb_send(tmp_path, setup, capsys):
    from automix.fxnorm.reverb import find_impulse_responses

    pre, send = _write_irs(tmp_path / "pre", 0.2, 1), _write_irs(tmp_path / "send", 0.5, 2)
    out, report = setup["out"] / "dry.wav", setup["out"] / "dry.json"
    rc = main(["--baseline-sum", "--features", str(setup["features"]), *_stem_args(setup["song"]), "--output",
               str(out), "--subtype", "FLOAT", "--pre-impulse-responses", str(pre), "--impulse-responses", str(send),
               "--report", str(report)])
    assert rc == 0, capsys.readouterr().err
    stems = json.loads(report.read_text())["stems"]
    for stem in STEMS:
        assert ("pre_reverb" in stems[stem]) == (stem in ("vocals", "other"))
        assert ("reverb" in stems[stem]) == (stem in ("vocals", "other"))
    features = load_features(setup["features"])[0]
    expected = 0
    for stem in STEMS:
        x = audio.read(setup["song"][stem])
        x = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
        expected = expected + normalize_stem(x, stem, features, rng=stem_rng(0, "song", stem),
                                             irs=find_impulse_responses(send), pre_irs=find_impulse_responses(pre))[0]
    np.testing.assert_allclose(audio.read(out), expected, atol=1e-6)


@pytest.mark.skipif(not Path("/proc/stat").exists() or not hasattr(os, "sched_getaffinity"),
                    reason="reads Linux's /proc/stat")
def test_cpu_use_of_others_sees_a_busy_process():
    # what the CLI measures to pick libgomp's barrier spin (short only when other processes keep a core busy)
    from automix.inference import BUSY_CORES, cpu_use_of_others

    cpu = sorted(os.sched_getaffinity(0))[0]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=True)  # the busy loop has started by now
        assert cpu_use_of_others(0.3) >= BUSY_CORES
    finally:
        busy.kill()
        busy.wait()
