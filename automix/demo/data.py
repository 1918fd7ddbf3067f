"""Generate the demo multitrack dataset: Bach chorales rendered as dry and MUSDB18-like wet stems.

``python -m automix.demo --out DIR`` (or ``automix demo-data --out DIR``) writes::

    DIR/dry/<split>/<song>/{vocals,bass,drums,other}.wav
    DIR/wet/<split>/<song>/{vocals,bass,drums,other,mixture}.wav      (MUSDB18 decoded layout)
    DIR/irs/{reverb,pre_reverb}/<name>/impulse_response.wav             (only when no --ir-folder is given)
    DIR/demo_info.json       every choice made, per song; "complete": false while a run is in progress or was cut

Songs are excerpts of the four-voice chorales in music21's corpus: soprano -> vocals (voice patch), bass an octave
down -> bass, alto + tenor -> other (keys/strings/guitar), plus a drum groove in the chorale's meter, rendered with the
General-MIDI soundfont shipped with pretty_midi (:mod:`automix.demo.render`), then processed by a seeded "mix
engineer" (:mod:`automix.demo.engineer`). Everything derives from ``seed``: each song's generator comes from
``SeedSequence([seed, split index, song index])``, so the output bytes do not depend on ``workers``.

``--held-out`` (``variant="held-out"``) makes songs the demo-trained models have never heard, to check that what they
learned holds beyond the demo's own sounds; typically a test split only (``--train 0 --val 0 --test 4``). Every song
is drawn from choices disjoint from the default generator's: General-MIDI programs outside its sets
(``render.HELD_OUT_*_PROGRAMS``), a tempo in ``HELD_OUT_TEMPO_RANGES_BPM`` (outside ``TEMPO_RANGE_BPM``), the whole
song transposed by 2 to 5 semitones up or down (drums not; bass still an octave below), and chorales taken from the
back of the seed's chorale order where the default generator takes them from the front, so a default dataset of the
same seed uses other chorales unless it is large (a default song skips the corpus files that are no SATB chorale by
jumping ahead in the order; measured for seeds 0-3, 7, 42 and up to 28 held-out songs, the first shared chorale came
with a default dataset of 87 to 178 songs). The mix engineer's draws keep their distribution (the mixing style is
what the models learned; only the music and its sounds are new). Its generators come from
``SeedSequence([seed, split index, song index, 1])``, so no draw repeats a default song's. ``demo_info.json`` records
``"variant"`` and, for the held-out one, the sets and ranges drawn from (``"variant_draws"``).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from automix import audio
from automix.atomic import atomic_write_text
from automix.demo import engineer as demo_engineer, irs as demo_irs, render as demo_render
from automix.dataset import STEMS

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
DEFAULT_SONGS = {"train": 6, "val": 2, "test": 2}
MAX_SONGS = 300  # the corpus holds ~365 four-voice chorales; every song gets its own
TEMPO_RANGE_BPM = (72.0, 112.0)
VARIANTS = ("default", "held-out")
HELD_OUT_TEMPO_RANGES_BPM = ((52.0, 70.0), (116.0, 140.0))  # one of the two drawn with equal odds, then uniform
HELD_OUT_TRANSPOSE_SEMITONES = (2, 5)  # magnitude range of the whole-song transposition, sign drawn with equal odds
DRY_PEAK_RANGE_DB = (-9.0, -3.0)
MIN_STEM_PEAK_DB = -30.0  # a rendered dry stem quieter than this counts as empty
MIN_VOICE_COVERAGE = 0.4  # each voice must sound during at least this fraction of the excerpt
_EXCERPT_TRIES = 8
_INFO_FILE = "demo_info.json"
_OUTPUT_ENTRIES = ("dry", "wet", "irs", _INFO_FILE)


@dataclass(frozen=True)
class SongJob:
    """Everything a worker needs to make one song (picklable; workers read no module state)."""

    seed: int
    split: str
    index: int
    seconds: float
    candidates: tuple  # corpus files to try in order (str)
    ir_files: tuple  # ((kind, name, path str), ...)
    out_dir: str
    variant: str = "default"  # one of VARIANTS


def _programs(variant: str) -> dict:
    """Role -> the General-MIDI programs a variant draws from."""
    if variant == "held-out":
        return {"vocals": demo_render.HELD_OUT_VOCAL_PROGRAMS, "bass": demo_render.HELD_OUT_BASS_PROGRAMS,
                "harmony": demo_render.HELD_OUT_HARMONY_PROGRAMS}
    return {"vocals": demo_render.VOCAL_PROGRAMS, "bass": demo_render.BASS_PROGRAMS,
            "harmony": demo_render.HARMONY_PROGRAMS}


def variant_info(variant: str) -> dict:
    """What a variant draws from, for ``demo_info.json``: programs per role, tempo ranges, transpositions."""
    low, high = HELD_OUT_TRANSPOSE_SEMITONES
    held_out = variant == "held-out"
    return {"programs": {role: list(programs) for role, programs in _programs(variant).items()},
            "tempo_ranges_bpm": [list(r) for r in (HELD_OUT_TEMPO_RANGES_BPM if held_out else (TEMPO_RANGE_BPM,))],
            "transpose_semitones": ([-t for t in range(high, low - 1, -1)] + list(range(low, high + 1))
                                    if held_out else [0]),
            "chorale_order": "back of the seed's order" if held_out else "front of the seed's order"}


def song_generators(seed: int, split: str, index: int,
                    variant: str = "default") -> tuple[np.random.Generator, np.random.Generator]:
    """The (music, engineer) generators of one song; independent of worker count and of the other songs.

    The held-out variant's come from a separate stream, so its songs repeat no draw of the default songs.
    """
    entropy = [seed, SPLITS.index(split), index] + ([1] if variant == "held-out" else [])
    music, engineer = np.random.SeedSequence(entropy).spawn(2)
    return np.random.default_rng(music), np.random.default_rng(engineer)


def draw_arrangement(rng: np.random.Generator, variant: str = "default") -> dict:
    """Tempo, General-MIDI programs, velocities, drum style and dry levels of one song.

    The held-out variant draws its programs and tempo from its own sets and adds ``transpose_semitones`` (the default
    variant's draws, and so its songs, are those of the generator before the variant existed).
    """
    held_out = variant == "held-out"
    programs = _programs(variant)
    alto = int(rng.choice(programs["harmony"]))
    tempo_range = HELD_OUT_TEMPO_RANGES_BPM[int(rng.integers(2))] if held_out else TEMPO_RANGE_BPM
    arrangement = {
        "tempo_bpm": round(float(rng.uniform(*tempo_range)), 1),
        "programs": {"vocals": int(rng.choice(programs["vocals"])),
                     "bass": int(rng.choice(programs["bass"])),
                     "alto": alto,
                     "tenor": alto if rng.random() < 0.5 else int(rng.choice(programs["harmony"]))},
        "velocities": {voice: int(rng.integers(70, 105)) for voice in demo_render.VOICE_NAMES},
        "drum_style": str(rng.choice(["hats", "ride"])),
        "dry_peak_db": {stem: round(float(rng.uniform(*DRY_PEAK_RANGE_DB)), 2) for stem in STEMS},
    }
    if held_out:
        low, high = HELD_OUT_TRANSPOSE_SEMITONES
        arrangement["transpose_semitones"] = int(rng.integers(low, high + 1)) * (1 if rng.random() < 0.5 else -1)
    return arrangement


def render_dry_stems(chorale, start_quarters: float, arrangement: dict, seconds: float, soundfont: bytes,
                     rng: np.random.Generator) -> tuple[dict, dict]:
    """Render the four dry stems of an excerpt at their drawn peak levels.

    Returns:
        ``(stems, rendered_peaks_db)``: stem -> float32 (n_samples, 2), and each stem's peak as rendered (dBFS),
        which tells whether a stem came out empty.
    """
    length = seconds * arrangement["tempo_bpm"] / 60.0
    seconds_per_quarter = 60.0 / arrangement["tempo_bpm"]
    programs, velocities = arrangement["programs"], arrangement["velocities"]
    song_transpose = arrangement.get("transpose_semitones", 0)  # held-out variant only; drums are not transposed

    def voice(name, transpose=0):
        notes = demo_render.excerpt_notes(chorale.parts[name], start_quarters, length, chorale.length_quarters)
        return demo_render.humanize(notes, velocities[name], rng, song_transpose + transpose)

    tracks = {"vocals": [(voice("soprano"), programs["vocals"], False)],
              "bass": [(voice("bass", -12), programs["bass"], False)],
              "drums": [(demo_render.drum_pattern(chorale, length, arrangement["drum_style"], rng), 0, True)],
              "other": [(voice("alto"), programs["alto"], False), (voice("tenor"), programs["tenor"], False)]}
    n_samples = int(round(seconds * audio.SAMPLE_RATE))
    stems, peaks_db = {}, {}
    for stem in STEMS:
        rendered = demo_render.render_notes(tracks[stem], seconds_per_quarter, n_samples, soundfont)
        peak = float(np.max(np.abs(rendered)))
        scale = 10.0 ** (arrangement["dry_peak_db"][stem] / 20.0) / peak if peak > 0 else 0.0
        stems[stem] = (rendered * scale).astype(np.float32)
        peaks_db[stem] = 20.0 * np.log10(max(peak, 1e-12))
    return stems, peaks_db


def _pick_excerpt(job: SongJob, arrangement: dict, soundfont: bytes, rng: np.random.Generator):
    """Walk the song's candidate chorales and excerpts until every voice is present and every stem sounds."""
    for path in job.candidates:
        chorale = demo_render.load_chorale(Path(path))
        if chorale is None:
            continue
        length = job.seconds * arrangement["tempo_bpm"] / 60.0
        for _ in range(_EXCERPT_TRIES):
            start = float(rng.choice(chorale.bar_starts_quarters))
            coverage = [demo_render.voice_coverage(demo_render.excerpt_notes(
                chorale.parts[v], start, length, chorale.length_quarters), length) for v in demo_render.VOICE_NAMES]
            if min(coverage) < MIN_VOICE_COVERAGE:
                continue
            stems, peaks_db = render_dry_stems(chorale, start, arrangement, job.seconds, soundfont, rng)
            if min(peaks_db.values()) > MIN_STEM_PEAK_DB:
                return chorale, start, stems
    raise RuntimeError(f"no usable chorale excerpt for song {job.split}/{job.index} (tried {len(job.candidates)})")


def render_song(job: SongJob) -> dict:
    """Make one song: pick and render an excerpt, engineer it, write dry and wet files. Runs in a worker."""
    music_rng, engineer_rng = song_generators(job.seed, job.split, job.index, job.variant)
    soundfont = demo_render.soundfont_path().read_bytes()
    arrangement = draw_arrangement(music_rng, job.variant)
    chorale, start, dry = _pick_excerpt(job, arrangement, soundfont, music_rng)
    name = f"{job.index:03d}_{chorale.chorale_id.replace('.', '_')}"
    irs = {(kind, ir_name): audio.read(path, sample_rate=None) for kind, ir_name, path in job.ir_files}
    ir_names = {kind: sorted(n for k, n in irs if k == kind) for kind in demo_irs.IR_KINDS}
    settings = {stem: demo_engineer.draw_stem_settings(stem, engineer_rng, ir_names) for stem in STEMS}
    bus = demo_engineer.draw_bus_settings(engineer_rng)
    wet = {stem: demo_engineer.apply_stem_chain(dry[stem], stem, settings[stem], irs) for stem in STEMS}
    wet, trim_db = demo_engineer.trim_stems(wet)
    wet["mixture"] = demo_engineer.mix_bus(wet, bus)
    out = Path(job.out_dir)
    for stem, data in dry.items():
        audio.write(out / "dry" / job.split / name / f"{stem}.wav", data)
    for stem, data in wet.items():
        audio.write(out / "wet" / job.split / name / f"{stem}.wav", data)
    programs = arrangement["programs"]
    return {"split": job.split, "name": name, "chorale_id": chorale.chorale_id,
            "time_signature": chorale.time_signature, "start_quarters": start, **arrangement,
            "program_names": demo_render.program_names(sorted(set(programs.values())), soundfont),
            "engineer": settings, "bus": bus, "stem_trim_db": round(trim_db, 3),
            "mixture_peak": round(float(np.max(np.abs(wet["mixture"]))), 4)}


def prepare_output(out_dir: Path, overwrite: bool) -> None:
    """Refuse a non-empty output folder unless ``overwrite``; then remove only a previous demo dataset's outputs."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a folder; choose another --out")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        out_dir.mkdir(parents=True, exist_ok=True)
        return
    if not overwrite:
        raise FileExistsError(f"{out_dir}: output folder is not empty; pass --overwrite to replace a previous demo "
                              "dataset there, or choose an empty/new folder")
    ours = [out_dir / entry for entry in _OUTPUT_ENTRIES if (out_dir / entry).exists()]
    if ours and not (out_dir / _INFO_FILE).is_file():
        raise FileExistsError(f"{out_dir}: holds {', '.join(p.name for p in ours)} but no {_INFO_FILE}, so it is not "
                              "a demo dataset; not deleting anything. Choose another --out")
    for path in ours:
        logger.info("--overwrite: removing %s", path)
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def chorale_order(seed: int, variant: str = "default") -> list[str]:
    """The corpus files in the order songs take them: a seeded permutation, reversed for the held-out variant.

    A default dataset's song g of ``total`` takes the first usable file of ``order[g::total]``, so it uses files
    from the front of the permutation; the held-out variant's songs take theirs from the back.
    """
    paths = [str(p) for p in demo_render.chorale_paths()]
    order = [paths[i] for i in np.random.default_rng(np.random.SeedSequence([seed, 999])).permutation(len(paths))]
    return order[::-1] if variant == "held-out" else order


def _song_jobs(out_dir: Path, n_songs: dict, seconds: float, seed: int, ir_files: tuple,
               variant: str = "default") -> list[SongJob]:
    """One job per song; song g of all splits gets the chorales ``order[g::total]`` first, so songs never share."""
    total = sum(n_songs.values())
    order = chorale_order(seed, variant)
    jobs, song = [], 0
    for split in SPLITS:
        for index in range(n_songs.get(split, 0)):
            own = order[song::total]
            taken = set(own)
            fallback = [p for p in order[song:] + order[:song] if p not in taken]  # only if none of its own is usable
            jobs.append(SongJob(seed, split, index, float(seconds), tuple(own + fallback), ir_files, str(out_dir),
                                variant))
            song += 1
    return jobs


def _run_jobs(function, jobs: list, pool, desc: str) -> list:
    """Run ``function`` on every job, in the process pool when there is one; results in job order."""
    if pool is None:
        return [function(job) for job in tqdm(jobs, desc=desc)]
    futures = [pool.submit(function, job) for job in jobs]
    return [future.result() for future in tqdm(futures, desc=desc)]  # raises the first worker error


def _check_sizes(n_songs: dict, seconds: float, workers: int, variant: str = "default") -> dict:
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r}: use one of {VARIANTS}")
    unknown = set(n_songs) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; use {SPLITS}")
    counts = {split: int(n_songs.get(split, 0)) for split in SPLITS}
    if any(c < 0 for c in counts.values()) or not 0 < sum(counts.values()) <= MAX_SONGS:
        raise ValueError(f"song counts {counts}: need 1 to {MAX_SONGS} songs in total, none negative")
    if not 1.0 <= seconds <= 600.0:
        raise ValueError(f"seconds={seconds}: songs must last 1 to 600 s")
    if workers < 1:
        raise ValueError(f"workers={workers}: need at least 1")
    return counts


def generate_demo_dataset(out_dir, n_songs=None, seconds: float = 20.0, seed: int = 0, ir_folder=None,
                          workers: int = 1, overwrite: bool = False, variant: str = "default") -> dict:
    """Generate the demo dataset (see the module docstring for the layout).

    Args:
        out_dir: output folder; created if missing; must be empty unless ``overwrite``.
        n_songs: songs per split, default ``{"train": 6, "val": 2, "test": 2}``; a split may have none (e.g.
            ``{"train": 0, "val": 0, "test": 4}``), as long as there is one song in all.
        seconds: length of each song in seconds.
        seed: every random choice derives from it.
        ir_folder: IR root in the loader layout; None simulates rooms and writes them to ``out_dir/irs``.
        workers: processes rendering songs (output is identical for any count).
        overwrite: replace a previous demo dataset in ``out_dir``.
        variant: ``"default"``, or ``"held-out"`` for songs with other programs, tempi, keys and chorales (see the
            module docstring).

    Returns:
        Summary: ``out_dir``, ``dry_dir``, ``wet_dir``, ``ir_dir``, ``info_file``, ``songs`` (split -> names),
        ``n_songs``, ``n_files``, ``seconds_taken``.
    """
    started = time.perf_counter()
    counts = _check_sizes(DEFAULT_SONGS if n_songs is None else n_songs, seconds, workers, variant)
    out_dir = Path(out_dir)
    found = demo_irs.find_ir_files(ir_folder) if ir_folder is not None else None  # check before touching out_dir
    prepare_output(out_dir, overwrite)
    info = {"complete": False, "seed": seed, "seconds": seconds, "sample_rate": audio.SAMPLE_RATE, "n_songs": counts,
            "soundfont": demo_render.soundfont_path().name, "variant": variant}
    if variant != "default":
        info["variant_draws"] = variant_info(variant)
    _write_json(out_dir / _INFO_FILE, info)  # marks the folder as ours, so --overwrite can replace an interrupted run
    pool = None
    if workers > 1:  # spawn: workers import the package afresh and read no state of this process
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        ir_files, ir_info = _impulse_responses(found, ir_folder, out_dir, seed, pool)
        results = _run_jobs(render_song, _song_jobs(out_dir, counts, seconds, seed, ir_files, variant), pool,
                           "songs")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    info.update(complete=True, irs=ir_info, songs=results, seconds_taken=round(time.perf_counter() - started, 2))
    _write_json(out_dir / _INFO_FILE, info)
    songs = {split: [r["name"] for r in results if r["split"] == split] for split in SPLITS}
    return {"out_dir": out_dir, "dry_dir": out_dir / "dry", "wet_dir": out_dir / "wet",
            "ir_dir": Path(ir_folder) if ir_folder is not None else out_dir / "irs",
            "info_file": out_dir / _INFO_FILE, "songs": songs, "n_songs": counts,
            "n_files": 9 * len(results) + (0 if ir_folder is not None else len(ir_files)),
            "seconds_taken": info["seconds_taken"]}


def _impulse_responses(found, ir_folder, out_dir: Path, seed: int, pool) -> tuple[tuple, dict]:
    """The IR files songs draw from, ``((kind, name, path), ...)``, and their description for the info file.

    ``found`` is the checked user folder (:func:`automix.demo.irs.find_ir_files`) or None to simulate rooms.
    """
    if found is not None:
        files = tuple((k, n, str(p)) for k in demo_irs.IR_KINDS for n, p in found[k].items())
        return files, {"source": "folder", "folder": str(ir_folder),
                       "names": {k: sorted(found[k]) for k in demo_irs.IR_KINDS}}
    logger.info("simulating impulse responses (pyroomacoustics) into %s", out_dir / "irs")
    simulated = _run_jobs(demo_irs.write_generated_ir, demo_irs.generated_ir_jobs(out_dir / "irs", seed), pool,
                          "impulse responses")
    files = tuple((kind, name, str(path)) for kind, name, path, _ in simulated)
    rooms = {kind: {name: details for k, name, _, details in simulated if k == kind} for kind in demo_irs.IR_KINDS}
    return files, {"source": "generated", "rooms": rooms}


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def main(argv=None) -> int:
    """Command line: ``python -m automix.demo --out DIR [--train 6 --val 2 --test 2 --seconds 20 ...]``."""
    parser = argparse.ArgumentParser(prog="automix demo-data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (must be empty unless --overwrite)")
    for split in SPLITS:
        parser.add_argument(f"--{split}", type=int, default=DEFAULT_SONGS[split],
                            help=f"songs in {split} (default {DEFAULT_SONGS[split]})")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each song in seconds (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    parser.add_argument("--ir-folder", type=Path, default=None,
                        help="IR root with reverb/<name>/impulse_response.wav (44.1 kHz); default: simulate rooms")
    parser.add_argument("--workers", type=int, default=1, help="processes rendering songs (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous demo dataset in --out")
    parser.add_argument("--held-out", action="store_true",
                        help="songs the demo models never heard: other General-MIDI programs, tempi 52-70 or "
                             "116-140 bpm, the song transposed by 2-5 semitones, other chorales (same mix engineer); "
                             "e.g. --train 0 --val 0 --test 4")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = generate_demo_dataset(args.out, {s: getattr(args, s) for s in SPLITS}, args.seconds, args.seed,
                                        args.ir_folder, args.workers, args.overwrite,
                                        "held-out" if args.held_out else "default")
    except (ValueError, FileExistsError, FileNotFoundError) as err:  # AudioError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 2
    for split, names in summary["songs"].items():
        if names:
            print(f"{split}: {len(names)} songs in {summary['wet_dir'] / split} ({', '.join(names)})")
        else:
            print(f"{split}: no songs")
    print(f"dry stems: {summary['dry_dir']}\nimpulse responses: {summary['ir_dir']}\n"
          f"info: {summary['info_file']}\n{summary['n_files']} files in {summary['seconds_taken']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
