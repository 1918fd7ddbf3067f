"""The one path from stems to a mix, shared by inference (``automix mix``) and evaluation: :class:`Mixer`.

    from automix.mixer import Mixer

    mixer = Mixer.from_results("training/results/ours_demo_La", features="training/features/features_demo.npz",
                               impulse_responses="demo_data/irs/reverb")
    result = mixer.mix({"vocals": vocals, "bass": bass, "drums": "drums.wav"}, sample_rate=48000)
    result.audio        # float32 (n, 2) at 48 kHz, as long as the longest stem
    result.report       # per stem what the normalization changed; model, device, seconds, real-time factor

Per song: each stem (an array ``(n, 1|2)``, a file, or a list of files summed) is brought to 44.1 kHz stereo
float32 (soxr), its DC offset removed; a missing stem is silence. Each stem is effect-normalized in memory
(:func:`automix.fxnorm.normalize_stem`: pre-reverb if asked, reverb send if IRs are given, EQ, compression,
panning, loudness), one worker process per stem; then the network mixes the normalized stems in chunks
(:func:`automix.mixing.mix`, memory bounded for any length) or, for the baseline, they are summed. The mix is
resampled back to the highest input rate. torch is imported only when a network is built.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from automix.conventions import MODES, SAMPLE_RATE, STEMS
from automix.mixer_setup import (build_network, pick_checkpoint, read_config, read_features, read_irs,
                                 resolve_device, stem_order)
from automix.mixer_stems import (SHORT_SONG_SECONDS, normalize_task, prepare_stem, stem_features, summarize,
                                 warm_up_prefix)

logger = logging.getLogger(__name__)

WARMUP_SECONDS = 30  # the release's wrap-around prefix that "warms up the LSTM states" (spec §6 step 4)
POOL_MIN_SECONDS = 60.0  # songs at least this long are normalized in worker processes (one per stem) by default
NORMALIZATION_BYTES_PER_SAMPLE = 32  # peak memory of normalizing one stereo stem: ~4x its 8 bytes per sample


@dataclass
class MixResult:
    """A mix and what was done to make it.

    Attributes:
        audio: float32 ``(n_samples, 2)`` at ``sample_rate``; as long as the longest input stem.
        sample_rate: Hz, the highest input rate.
        report: JSON-ready dict: ``stems`` (per stem: status, notes, EQ range dB, compression, pan change, gain dB,
            reverb), ``model``, ``device``, ``mode``, ``notes``, ``seconds`` per stage and ``real_time_factor``.
    """

    audio: np.ndarray
    sample_rate: int
    report: dict


@dataclass
class NormalizedSong:
    """One song's effect-normalized stems (:meth:`Mixer.normalize`), ready for :meth:`Mixer.mix_normalized`.

    Attributes:
        name: song name (it seeded the normalization's draws).
        x: float32 ``(8, n)`` normalized stems in ``stem_order`` (stem-major, L/R), zeros where a stem is missing.
        stem_order: the stems of ``x``'s row pairs.
        prepared, normalized, layout, times: what the report is made of (inputs, per-stem reports, lengths and
            rates, seconds of reading and normalizing).
        settings: :meth:`Mixer.normalization_settings` of the mixer that normalized it.
    """

    name: str
    x: np.ndarray
    stem_order: list
    prepared: dict
    normalized: dict
    layout: dict
    times: dict
    settings: tuple


def _auto_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(len(STEMS), cores))


def _start_pool(make_executor, workers: int):
    """An executor whose ``workers`` processes are started now (a spawn pool starts one per submit otherwise), so
    that they import and warm up while this process reads the stems."""
    executor = make_executor(workers)
    if workers > 1:
        for _ in range(workers):
            executor.submit(os.getpid)
    return executor


def normalization_pool(stems: dict, sample_rate=None, workers: int | None = None):
    """Start the normalization workers for one song now, sized as :meth:`Mixer.mix` would size them.

    For callers that know the stems before they build the :class:`Mixer`: the workers (``spawn``: ~1-2 s of
    imports each) then start up while this process imports torch and builds the network, instead of during
    :meth:`Mixer.mix`. Hand the result to ``mix(..., pool=...)``, which shuts it down after the normalization; shut
    it down yourself if ``mix`` is not called.

    Args:
        stems, sample_rate: as for :meth:`Mixer.mix` (only lengths are read, from file headers or array shapes).
        workers: as the :class:`Mixer` option (None: one per stem, at most the CPUs and what memory holds, for
            songs of a minute or more; in-process for shorter ones).
    """
    from automix.fxnorm.workers import make_executor

    given = {k: v for k, v in stems.items() if v is not None}
    return _start_pool(make_executor, _pool_size(given, sample_rate, workers))


def _pool_size(stems: dict, sample_rate, workers: int | None) -> int:
    """Worker processes for one song: ``workers`` if given, else one per stem (at most the CPUs, and as many as half
    the available memory holds) for songs of at least :data:`POOL_MIN_SECONDS`; shorter ones are normalized in this
    process (a pool's start-up, ~1 s, would cost more than it saves)."""
    n_stems = max(1, len(stems))
    if workers is not None:
        return min(max(1, int(workers)), n_stems)
    seconds = _estimate_seconds(stems, sample_rate)
    if seconds < POOL_MIN_SECONDS:
        return 1
    return min(_auto_workers(), n_stems, _workers_that_fit(seconds))


def _workers_that_fit(seconds: float) -> int:
    """How many stems of ``seconds`` can be normalized at once in half the available memory (at least 1).

    Measured: normalizing a 10-min stereo stem peaks at ~0.9 GB in its process (the ~0.2-GB interpreter and
    ~3.3x the float32 stem: the compression search holds the normalized stem, its detector level and one output).
    """
    try:
        import psutil

        available = psutil.virtual_memory().available
    except (ImportError, OSError):
        return len(STEMS)
    per_stem = NORMALIZATION_BYTES_PER_SAMPLE * seconds * SAMPLE_RATE + 0.3 * 2**30
    return max(1, int(0.5 * available // per_stem))


def _estimate_seconds(stems: dict, sample_rate) -> float:
    """Duration of the longest stem from file headers and array shapes (0 where it cannot be told yet)."""
    from automix import audio

    longest = 0.0
    for stem, value in stems.items():
        for track in value if isinstance(value, (list, tuple)) else [value]:
            try:
                if isinstance(track, (str, Path)):
                    rate, n_samples, _ = audio.info(track)
                else:
                    rate = sample_rate.get(stem) if isinstance(sample_rate, dict) else sample_rate
                    n_samples = np.shape(track)[0]
                longest = max(longest, n_samples / rate)
            except (ValueError, TypeError, IndexError, ZeroDivisionError):
                continue  # reported with its reason when the stem is read
    return longest


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value if isinstance(value, (str, int, bool, type(None))) else str(value)


class Mixer:
    """Stems to a mix: effect normalization in memory, then the network (or, for the baseline, a plain sum).

    Args:
        config: experiment config (a dict, raw or validated, or a ``.py``/``.json`` file); None for the baseline.
        weights: the network's state_dict, or a ``.params`` path (loaded with ``weights_only=True``); None for the
            baseline.
        features: dataset-average features: a ``.npz`` path (loaded for ``mode``), or a dict as
            :func:`automix.fxnorm.load_features` returns it (used as given).
        mode: ``"fixed"`` (intended behaviour) or ``"release"`` (the published normalization, needed by the official
            checkpoints; also the release's Wave-U-Net output alignment).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        seed: seed of the random draws of the normalization (IR, shelf corners), per song and stem.
        impulse_responses: reverb-send IRs of vocals/other (a folder ``<name>/impulse_response.wav`` or a list of
            :class:`automix.fxnorm.reverb.ImpulseResponse`); None: no reverb send (already wet stems).
        pre_impulse_responses: short IRs of the pre-reverb of *dry* vocals/other, applied before normalization.
        chunk_seconds: mixing chunk (memory vs. per-chunk overhead; the result does not depend on it); None: the
            default of :func:`automix.mixing.mix`.
        workers: normalization processes; 1 runs in this process. Default: one per stem (at most the CPUs) for
            songs of a minute or more, in this process for shorter ones. Worker processes are started with
            ``spawn``: a script that uses them needs the ``if __name__ == "__main__":`` guard.
        release_warmup: reproduce the release's 30-s wrap-around prefix (each stem's own last 30 s prepended, the
            input padded to ``(1 + n // K) K`` samples, the prefix dropped from the mix): for comparisons only.
        allow_features_mismatch: accept a features file made for another mode (or rate, FFT size), with a warning;
            by default that is an error (:func:`automix.fxnorm.load_features`).
        config_source: how messages name the config.

    Raises:
        ValueError / FileNotFoundError: bad features, IRs, config or weights, naming the file and the fix.
    """

    def __init__(self, config, weights, features, mode: str = "fixed", device: str = "auto", seed: int = 0,
                 impulse_responses=None, pre_impulse_responses=None, chunk_seconds: float | None = None,
                 workers: int | None = None, release_warmup: bool = False, allow_features_mismatch: bool = False,
                 config_source: str = "config"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if (config is None) != (weights is None):
            raise ValueError("give both a config and weights for a network, or neither (Mixer.baseline)")
        if chunk_seconds is not None and not chunk_seconds > 0:
            raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
        self.mode, self.seed, self.chunk_seconds = mode, int(seed), chunk_seconds
        self.release_warmup = bool(release_warmup)
        self.workers_given = workers is not None
        self.workers = _auto_workers() if workers is None else max(1, int(workers))
        self.features, self.features_info = read_features(features, mode, allow_features_mismatch)
        self.irs = read_irs(impulse_responses, "impulse responses")
        self.pre_irs = read_irs(pre_impulse_responses, "pre-reverb impulse responses")
        self._executor = None
        self.config, self.model = None, None
        if config is None:
            self.device, self.stem_order = "cpu", list(STEMS)
            self.model_info = {"kind": "baseline", "description": "sum of the normalized stems (no network)"}
            return
        if isinstance(config, (str, Path)):
            config_source, config = str(config), read_config(config)
        else:
            from automix.config import validate_config

            config = validate_config(config, source=config_source)
        self.config, self.stem_order = config, stem_order(config, config_source)
        self.device = resolve_device(device)
        self.model, info = build_network(config, weights, self.device, config_source)
        self.model_info = {"kind": "network", **info}

    @classmethod
    def baseline(cls, features, **kwargs) -> "Mixer":
        """The normalized baseline: the sum of the effect-normalized stems, no network."""
        return cls(None, None, features, **kwargs)

    @classmethod
    def from_results(cls, folder, checkpoint: str = "best", features=None, **kwargs) -> "Mixer":
        """A mixer from a training results folder (``config.json`` or ``config.py`` and ``.params`` checkpoints).

        Args:
            folder: e.g. ``training/results/ours_demo_La``.
            checkpoint: ``"best"`` (best mean validation loss if saved, else the last epoch; see
                :func:`pick_checkpoint`), ``"current"`` (last epoch) or a checkpoint path.
            features, kwargs: as for :class:`Mixer`.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: results folder not found (a training writes training/results/NAME)")
        config_path = next((folder / n for n in ("config.json", "config.py") if (folder / n).is_file()), None)
        if config_path is None:
            raise FileNotFoundError(f"{folder}: no config.json or config.py; give a training results folder "
                                    "(training/results/NAME)")
        config = read_config(config_path)
        weights, rule = pick_checkpoint(folder, config, checkpoint)
        logger.info("%s: checkpoint %s (rule: %s)", folder, weights.name, rule)
        mixer = cls(config, weights, features, config_source=str(config_path), **kwargs)
        mixer.model_info.update(results=str(folder), checkpoint=weights.name, checkpoint_rule=rule)
        return mixer

    def __enter__(self) -> "Mixer":
        """Keep one pool of normalization workers for every :meth:`mix` until the ``with`` block ends."""
        if self._executor is None:
            from automix.fxnorm.workers import make_executor

            self._executor = _start_pool(make_executor, self.workers)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Shut the persistent worker pool down (if any)."""
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def mix(self, stems: dict, sample_rate=None, *, name: str = "song", progress: bool = False,
            pool=None) -> MixResult:
        """Mix one song: :meth:`normalize`, then :meth:`mix_normalized`.

        Args:
            stems: ``{stem: audio}`` for any subset of vocals, bass, drums, other; audio is an array
                ``(n,)``/``(n, 1|2)`` (float, or int16/int32 PCM), an audio file path, or a list of those (tracks
                summed). Missing stems are silence. Any lengths (the mix is as long as the longest) and rates.
                File paths keep memory lowest (no caller-held copy).
            sample_rate: Hz of array input: an int or ``{stem: Hz}``.
            name: song name: seeds the normalization's random draws with ``(seed, name, stem)``, as the
                dataset normalization does.
            progress: progress bars (stderr): stems normalized, then the mixing's chunks.
            pool: normalization workers already started for this song (:func:`normalization_pool`); used instead
                of this mixer's and shut down after the normalization.

        Returns:
            :class:`MixResult`: float32 ``(n, 2)`` at the highest input rate.

        Raises:
            automix.audio.AudioError / ValueError: a bad input, naming the file or stem and the fix.
        """
        return self.mix_normalized(self.normalize(stems, sample_rate, name=name, pool=pool, progress=progress),
                                   progress=progress)

    def normalization_settings(self) -> tuple:
        """What the effect normalization depends on besides the stems and the song name (mode, seed, warm-up,
        features, IRs): mixers with equal settings give identical :class:`NormalizedSong` results."""
        def irs(value):
            return None if not value else tuple(str(getattr(ir, "path", id(ir))) for ir in value)

        source = self.features_info.get("source")
        features = source if source not in (None, "in memory") else id(self.features)
        return self.mode, self.seed, self.release_warmup, features, irs(self.irs), irs(self.pre_irs)

    def normalize(self, stems: dict, sample_rate=None, *, name: str = "song", pool=None,
                  progress: bool = False) -> "NormalizedSong":
        """Read and effect-normalize one song's stems (the first half of :meth:`mix`; arguments as there;
        ``progress``: a bar of the stems normalized).

        The result can be mixed by this mixer and by any other whose :meth:`normalization_settings` are equal
        (evaluation normalizes each song once for all the systems it compares).
        """
        start = time.perf_counter()
        try:
            stems = self._check_stems(stems)
        except (TypeError, ValueError):
            if pool is not None:
                pool.shutdown()
            raise
        executor = pool if pool is not None else self._executor
        if executor is None:
            from automix.fxnorm.workers import make_executor

            executor = _start_pool(make_executor, self._pool_size(stems, sample_rate))
        try:
            prepared = {stem: prepare_stem(value, sample_rate, stem) for stem, value in stems.items()}
            layout = self._layout(prepared)
            times = {"read": time.perf_counter() - start}
            x, normalized = self._normalize(executor, prepared, layout, name, progress)
            times["normalize"] = time.perf_counter() - start - times["read"]
        finally:
            if executor is not self._executor:
                executor.shutdown()  # free the workers' memory before the mixing
        return NormalizedSong(name, x, self.stem_order, prepared, normalized, layout, times,
                              self.normalization_settings())

    def mix_normalized(self, song: "NormalizedSong", progress: bool = False) -> MixResult:
        """Mix a song from :meth:`normalize` (of this mixer or of one with equal normalization settings).

        The report's seconds and real-time factor count the song's reading and normalization as well: what
        :meth:`mix` alone would take.

        Raises:
            ValueError: ``song`` was normalized with other settings (mode, seed, features, IRs).
        """
        if song.settings != self.normalization_settings():
            raise ValueError(f"{song.name}: normalized with other settings {song.settings} than this mixer's "
                             f"{self.normalization_settings()}; normalize the stems with this mixer")
        layout = {**song.layout, "n_mix": self._n_mix(song.layout["n44"] + song.layout["prefix"])}
        mark = time.perf_counter()
        audio = self._finish(self._mix_array(self._network_input(song, layout["n_mix"]), progress), layout)
        times = {**song.times, "mix": time.perf_counter() - mark}
        times["total"] = times["read"] + times["normalize"] + times["mix"]
        report = self._report(song.name, song.prepared, song.normalized, layout, times)
        logger.info("%s: %.1f s of audio mixed in %.1f s (%.1fx real time)", song.name, layout["seconds"],
                    times["total"], report["real_time_factor"] or 0.0)
        return MixResult(audio=audio, sample_rate=layout["sample_rate"], report=report)

    def _network_input(self, song: "NormalizedSong", n_mix: int) -> np.ndarray:
        """``song.x`` in this mixer's stem order and length (the array itself when both already fit)."""
        if song.stem_order == self.stem_order and song.x.shape[1] == n_mix:
            return song.x
        x = np.zeros((2 * len(self.stem_order), n_mix), dtype=np.float32)
        n = min(n_mix, song.x.shape[1])
        for row, stem in enumerate(self.stem_order):
            source = 2 * song.stem_order.index(stem)
            x[2 * row:2 * row + 2, :n] = song.x[source:source + 2, :n]
        return x

    def _pool_size(self, stems: dict, sample_rate) -> int:
        """Worker processes for one song (see :func:`_pool_size`)."""
        return _pool_size(stems, sample_rate, self.workers if self.workers_given else None)

    def _check_stems(self, stems) -> dict:
        if not isinstance(stems, dict):
            raise TypeError(f"stems must be a dict {{stem: audio}}, got {type(stems).__name__}")
        unknown = [k for k in stems if k not in STEMS]
        if unknown:
            raise ValueError(f"unknown stem name(s) {unknown}; use {', '.join(STEMS)}")
        given = {k: v for k, v in stems.items() if v is not None}
        if not given:
            raise ValueError(f"no stem given: pass at least one of {', '.join(STEMS)}")
        return given

    def _layout(self, prepared: dict) -> dict:
        """Lengths and rates: 44.1-kHz length, warm-up prefix, network input length, output rate and length."""
        sources = [s for p in prepared.values() for s in p.sources]
        out_rate = max(s["sample_rate"] for s in sources)
        n44 = max(1, max(p.audio.shape[0] for p in prepared.values()))
        prefix = WARMUP_SECONDS * SAMPLE_RATE if self.release_warmup else 0
        return {"n44": n44, "prefix": prefix, "n_mix": self._n_mix(n44 + prefix), "sample_rate": out_rate,
                "samples": max(1, max(round(s["samples"] * out_rate / s["sample_rate"]) for s in sources)),
                "seconds": max(p.seconds for p in prepared.values()), "rates": sorted({s["sample_rate"] for s in
                                                                                         sources})}

    def _n_mix(self, n_samples: int) -> int:
        """Network input length for ``n_samples`` (warm-up prefix included)."""
        if self.release_warmup and self.model is not None:  # the release pads to (1 + n // K) K, always >= 1 sample
            kernel = int(self.config.get("KERNEL_SIZE_ENCODER", 64))
            return (1 + n_samples // kernel) * kernel
        return n_samples

    def _normalize(self, executor, prepared: dict, layout: dict, song: str,
                   progress: bool = False) -> tuple[np.ndarray, dict]:
        """Normalize every given stem (reverb stems first: the longest tasks) into the network's input array.

        Returns:
            ``(x, {stem: (report, input LUFS, seconds)})``; ``x`` float32 ``(8, n_mix)`` in :attr:`stem_order`
            (stem-major, L/R), zeros where a stem is missing or ended.
        """
        from automix.fxnorm.workers import InlineExecutor

        x = np.zeros((2 * len(self.stem_order), layout["n_mix"]), dtype=np.float32)
        to_files = not isinstance(executor, InlineExecutor)
        futures, results = {}, {}
        with tempfile.TemporaryDirectory(prefix="automix-mix-") as tmp:
            for stem in sorted(prepared, key=lambda s: s not in ("vocals", "other")):
                audio = prepared[stem].audio
                prepared[stem].audio = None  # the worker's copy is the only one now
                if layout["prefix"]:
                    audio = warm_up_prefix(audio, layout["prefix"])
                source, out_path = audio, None
                if to_files:  # a .npy in the page cache instead of pickling a long stem through the pool's pipe
                    source, out_path = os.path.join(tmp, f"{stem}.npy"), os.path.join(tmp, f"{stem}_out.npy")
                    np.save(source, audio, allow_pickle=False)
                del audio
                futures[stem] = executor.submit(normalize_task, source, stem, stem_features(self.features, stem),
                                                self.mode, self.seed, song, self.irs, self.pre_irs, out_path)
                del source
            stem_of = {future: stem for stem, future in futures.items()}
            with tqdm(total=len(futures), disable=not progress, desc="normalize", unit="stem") as bar:
                for future in as_completed(stem_of):  # the bar moves as stems finish, in any order
                    stem = stem_of[future]
                    try:
                        y, *rest = future.result()
                    except ValueError as err:
                        raise ValueError(f"{stem}: normalization failed: {err}") from None
                    y = np.load(y, mmap_mode="r") if isinstance(y, str) else y
                    row = 2 * self.stem_order.index(stem)
                    x[row:row + 2, :y.shape[0]] = y.T
                    results[stem] = tuple(rest)
                    del y
                    bar.update()
        return x, results

    def _mix_array(self, x: np.ndarray, progress: bool) -> np.ndarray:
        """``(n_mix, 2)`` float32: the network's mix of ``x (8, n_mix)``, or the sum of its stems (baseline)."""
        if self.model is None:
            return np.stack([x[0::2].sum(axis=0), x[1::2].sum(axis=0)], axis=1)
        import torch

        from automix.mixing import mix

        kwargs = {} if self.chunk_seconds is None else {"chunk_seconds": self.chunk_seconds}
        out = mix(self.model, torch.from_numpy(x), release_alignment=self.mode == "release", progress=progress,
                  **kwargs)
        return out.numpy().T

    def _finish(self, out: np.ndarray, layout: dict) -> np.ndarray:
        """Drop the warm-up prefix and end padding, resample to the output rate, exact output length."""
        out = out[layout["prefix"]:layout["prefix"] + layout["n44"]]
        if layout["sample_rate"] != SAMPLE_RATE:
            import soxr

            out = soxr.resample(np.ascontiguousarray(out), SAMPLE_RATE, layout["sample_rate"], quality="HQ")
        n = layout["samples"]
        if out.shape[0] < n:
            out = np.pad(out, ((0, n - out.shape[0]), (0, 0)))
        return np.ascontiguousarray(out[:n], dtype=np.float32)

    def _report(self, song: str, prepared: dict, normalized: dict, layout: dict, times: dict) -> dict:
        stems, notes = {}, []
        for stem in STEMS:
            if stem not in prepared:
                stems[stem] = {"status": "missing", "notes": ["not given: mixed as silence"]}
                continue
            report, lufs_in, seconds = normalized[stem]
            entry = summarize(report, lufs_in)
            entry_notes = list(prepared[stem].notes)
            if entry["status"] == "all_zero":
                entry_notes.append("all zeros: mixed as silence")
            elif entry["status"] == "silent":
                entry_notes.append("silent (peak <= -50 dBFS): left unchanged")
            if prepared[stem].seconds < layout["seconds"] - 1e-3:
                entry_notes.append(f"{prepared[stem].seconds:.2f} s long, end-padded with silence to "
                                   f"{layout['seconds']:.2f} s")
            if report.get("compression", {}).get("action") == "skipped":
                entry_notes.append("no onsets: compression skipped (the release crashes on such a stem)")
            stems[stem] = {**entry, "notes": entry_notes, "inputs": prepared[stem].sources,
                           "normalization_seconds": seconds, "normalization": report}
        missing = [s for s in STEMS if s not in prepared]
        if missing:
            notes.append(f"missing stem(s) {', '.join(missing)}: silence")
        if layout["sample_rate"] != SAMPLE_RATE or len(layout["rates"]) > 1:
            notes.append(f"input rates {', '.join(map(str, layout['rates']))} Hz: mixed at {SAMPLE_RATE} Hz, written "
                         f"at {layout['sample_rate']} Hz")
        if layout["seconds"] < SHORT_SONG_SECONDS:
            notes.append(f"very short song ({layout['seconds']:.2f} s): loudness and compression statistics rest on "
                         "few blocks/onsets")
        if self.release_warmup:
            notes.append(f"release warm-up: {WARMUP_SECONDS}-s wrap-around prefix mixed and dropped")
        total = times["total"]
        return _jsonable({
            "song": song, "model": self.model_info, "device": self.device, "mode": self.mode, "seed": self.seed,
            "features": self.features_info, "impulse_responses": len(self.irs) if self.irs else None,
            "pre_impulse_responses": len(self.pre_irs) if self.pre_irs else None,
            "sample_rate": layout["sample_rate"], "samples": layout["samples"], "duration_seconds": layout["seconds"],
            "stems": stems, "notes": notes, "seconds": times,
            "real_time_factor": layout["seconds"] / total if total > 0 else None})


__all__ = ["MixResult", "Mixer", "NormalizedSong", "pick_checkpoint", "read_config"]
