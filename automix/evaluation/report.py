"""The evaluation report: one HTML page that works offline from its folder, with plots and audio beside it.

Layout of ``<output>/``::

    report.html                       summary table, per-song tables, plots, audio players
    report_files/metric_bars.png      headline metrics per system, mean and 95 % interval
    report_files/<song>/spectrum.png  long-term average spectrum of every mix against the reference
    report_files/<song>/panning.png   stereo panning spectrum of every mix against the reference
    report_files/<song>/<system>.wav  loudness-matched excerpt (the same excerpt for all systems)

Everything is linked relatively; the page has no external script, font or style sheet. A small inline script
checks that every image decoded and every audio element loaded and writes the result into
``document.body.dataset.mediaCheck`` (shown at the bottom of the page; the browser test reads it).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from automix.atomic import atomic_path, atomic_write_text
from automix.audio import write as write_audio
from automix.evaluation.metrics import SPECTRAL_FFT, SPECTRAL_HOP, panning_spectrum
from automix.fxnorm.loudness import SAMPLE_RATE, integrated_loudness, max_abs
from automix.fxnorm.stft import stft

EXCERPT_SECONDS = 10.0
EXCERPT_LUFS = -23.0
REFERENCE = "reference"
# (metric, label, lower is better) shown in the tables; the CSV holds every metric
HEADLINE = [("stereo_loss", "stereo loss", True), ("mrstft", "MRSTFT", True),
            ("lufs_abs_lu", "loudness |Δ| LU", True), ("centroid_abs_hz", "centroid |Δ| Hz", True),
            ("contrast_m_abs_db", "contrast mid |Δ| dB", True), ("pan_t_abs", "panning |Δ|", True),
            ("rms_abs_db", "RMS |Δ| dB", True), ("crest_abs", "crest |Δ|", True),
            ("spectral_mape_mean", "spectral MAPE", True), ("panning_mape_mean", "panning MAPE", True),
            ("dynamics_mape_mean", "dynamics MAPE", True), ("d_lufs", "loudness MAPE", True)]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    _plt().close(fig)


def _log_bands(frequencies: np.ndarray, values: np.ndarray, n_bands: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` in log-spaced bands from 20 Hz to 20 kHz (1/16 octave): readable curves."""
    edges = np.geomspace(20.0, 20000.0, n_bands + 1)
    index = np.searchsorted(edges, frequencies) - 1
    valid = (index >= 0) & (index < n_bands)
    counts = np.bincount(index[valid], minlength=n_bands)
    sums = np.bincount(index[valid], weights=values[valid], minlength=n_bands)
    keep = counts > 0
    return np.sqrt(edges[:-1] * edges[1:])[keep], sums[keep] / counts[keep]


def average_spectrum_db(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Long-term average power spectrum (4096-point, channel mean, 1/16-octave bands) in dB:
    ``(frequencies_hz, level_db)``."""
    power = (np.abs(stft(np.asarray(x, np.float32), SPECTRAL_FFT, SPECTRAL_HOP)) ** 2).mean(axis=(0, 1))
    frequencies = np.arange(power.size) * SAMPLE_RATE / SPECTRAL_FFT
    centres, band_power = _log_bands(frequencies, power)
    return centres, 10.0 * np.log10(np.maximum(band_power, 1e-20))


def average_panning(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame-mean stereo panning spectrum in 1/16-octave bands: ``(frequencies_hz, panning)`` in [-1, 1]."""
    mean_sps = panning_spectrum(x).mean(axis=0)
    frequencies = np.arange(mean_sps.size) * SAMPLE_RATE / (2 * (mean_sps.size - 1))
    return _log_bands(frequencies, mean_sps.astype(np.float64))


def plot_song(folder: Path, song: str, reference: np.ndarray, mixes: dict[str, np.ndarray]) -> dict[str, str]:
    """Spectrum and panning plots of one song; returns their paths relative to ``folder``."""
    plt = _plt()
    signals = {REFERENCE: reference, **mixes}
    paths = {}
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for name, x in signals.items():
        frequencies, level = average_spectrum_db(x)
        ax.semilogx(frequencies, level, label=name, lw=1.8 if name == REFERENCE else 1.0,
                    color="black" if name == REFERENCE else None)
    ax.set(xlim=(20, 20000), xlabel="frequency (Hz)", ylabel="level (dB)", title=f"{song}: average spectrum")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths["spectrum"] = f"report_files/{song}/spectrum.png"
    _save_figure(fig, folder / paths["spectrum"])
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for name, x in signals.items():
        frequencies, panning = average_panning(x)
        ax.semilogx(frequencies, panning, label=name, lw=1.8 if name == REFERENCE else 1.0,
                    color="black" if name == REFERENCE else None)
    ax.set(xlim=(20, 20000), ylim=(-1, 1), xlabel="frequency (Hz)", ylabel="panning (-1 left, +1 right)",
           title=f"{song}: stereo panning spectrum")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths["panning"] = f"report_files/{song}/panning.png"
    _save_figure(fig, folder / paths["panning"])
    return paths


def excerpt_bounds(reference: np.ndarray, seconds: float = EXCERPT_SECONDS) -> tuple[int, int]:
    """The loudest ``seconds`` of the reference (by RMS, 1-s steps); the whole song if it is shorter."""
    n, length = reference.shape[0], int(seconds * SAMPLE_RATE)
    if n <= length:
        return 0, n
    energy = np.concatenate([[0.0], np.cumsum(np.square(reference, dtype=np.float64).sum(axis=1))])
    starts = np.arange(0, n - length + 1, SAMPLE_RATE)
    best = int(starts[np.argmax(energy[starts + length] - energy[starts])])
    return best, best + length


def loudness_matched(x: np.ndarray, target_lufs: float = EXCERPT_LUFS) -> np.ndarray:
    """``x`` at ``target_lufs`` (scaled down further if its peak would exceed -1 dBFS); silence stays silent."""
    lufs = integrated_loudness(np.asarray(x, np.float32))
    if not math.isfinite(lufs):
        return np.asarray(x, np.float32)
    y = np.asarray(x, np.float64) * 10.0 ** ((target_lufs - lufs) / 20.0)
    peak = max_abs(y)
    limit = 10.0 ** (-1.0 / 20.0)
    return (y * (limit / peak) if peak > limit else y).astype(np.float32)


def write_excerpts(folder: Path, song: str, reference: np.ndarray, mixes: dict[str, np.ndarray]) -> dict[str, str]:
    """Loudness-matched excerpts of the reference and every mix (same bounds); relative paths by system."""
    start, stop = excerpt_bounds(reference)
    paths = {}
    for name, x in {REFERENCE: reference, **mixes}.items():
        paths[name] = f"report_files/{song}/{name}.wav"
        (folder / paths[name]).parent.mkdir(parents=True, exist_ok=True)
        write_audio(folder / paths[name], loudness_matched(x[start:stop]), SAMPLE_RATE, "PCM_16")
    return paths


def plot_metric_bars(folder: Path, summary: dict) -> str:
    """Bars of the headline metrics per system (mean with 95 % interval); returns the relative path."""
    plt = _plt()
    metrics = [(key, label) for key, label, _ in HEADLINE if any(key in per for per in summary.values())]
    systems = list(summary)
    columns = 4
    rows = max(1, math.ceil(len(metrics) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(12, 2.6 * rows), squeeze=False)
    for ax, (key, label) in zip(axes.flat, metrics):
        stats = [summary[s].get(key) for s in systems]
        means = [st["mean"] if st else np.nan for st in stats]
        errors = np.array([[st["mean"] - st["ci95"][0], st["ci95"][1] - st["mean"]] if st else [0, 0]
                           for st in stats]).T
        ax.bar(range(len(systems)), means, yerr=errors, color=[f"C{i}" for i in range(len(systems))], capsize=3)
        ax.set_xticks(range(len(systems)), systems, rotation=30, ha="right", fontsize=7)
        ax.set_title(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    path = "report_files/metric_bars.png"
    _save_figure(fig, folder / path)
    return path


def _format(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _summary_table(summary: dict) -> str:
    metrics = [(k, label, low) for k, label, low in HEADLINE if any(k in per for per in summary.values())]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in metrics)
    body = []
    for system, per_metric in summary.items():
        cells = []
        for key, _, lower in metrics:
            best = [s for s in summary if key in summary[s]]
            values = {s: summary[s][key]["mean"] for s in best if s != REFERENCE}
            stat = per_metric.get(key)
            if stat is None:
                cells.append("<td>–</td>")
                continue
            winner = values and system in values and values[system] == (min if lower else max)(values.values())
            lo, hi = stat["ci95"]
            cells.append(f"<td class='{'best' if winner else ''}'>{_format(stat['mean'])}"
                         f"<small> [{_format(lo)}, {_format(hi)}]</small></td>")
        body.append(f"<tr><th>{html.escape(system)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>system</th>{head}</tr>{''.join(body)}</table>"


def _song_table(per_song: dict[str, dict[str, float]]) -> str:
    metrics = [(k, label) for k, label, _ in HEADLINE if any(k in v for v in per_song.values())]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in metrics)
    rows = "".join(f"<tr><th>{html.escape(system)}</th>"
                   + "".join(f"<td>{_format(values.get(k))}</td>" for k, _ in metrics) + "</tr>"
                   for system, values in per_song.items())
    return f"<table><tr><th>system</th>{head}</tr>{rows}</table>"


_STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}table{border-collapse:collapse;
margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}
td.best{background:#dff5df;font-weight:bold}small{color:#777}img{max-width:100%}.players{display:flex;flex-wrap:wrap;
gap:1em}.players div{font-size:12px}#media-check{color:#777;font-size:12px}"""

_CHECK_SCRIPT = """(function(){var errors=[];window.addEventListener('error',function(e){errors.push(String(e.message))});
function done(){var imgs=[].slice.call(document.images),auds=[].slice.call(document.querySelectorAll('audio'));
var r={images:imgs.length,imagesDecoded:imgs.filter(function(i){return i.complete&&i.naturalWidth>0}).length,
audio:auds.length,audioLoaded:auds.filter(function(a){return a.readyState>=1&&isFinite(a.duration)}).length,
durations:auds.map(function(a){return a.duration}),errors:errors};document.body.dataset.mediaCheck=JSON.stringify(r);
document.getElementById('media-check').textContent='media check: '+JSON.stringify(r)}
var auds=[].slice.call(document.querySelectorAll('audio'));var pending=auds.length;
function one(){if(--pending<=0){done()}}if(!pending){window.addEventListener('load',done)}
auds.forEach(function(a){if(a.readyState>=1){one()}else{a.addEventListener('loadedmetadata',one);
a.addEventListener('error',one)}})})();"""


def write_report(folder, summary: dict, per_song: dict[str, dict[str, dict[str, float]]], song_media: dict,
                 title: str = "automix evaluation", notes: dict | None = None) -> Path:
    """Write ``report.html`` (and the metric bars) into ``folder``.

    Args:
        folder: the evaluation's output folder.
        summary: from :func:`automix.evaluation.summary.summarize`.
        per_song: ``{song: {system: {metric: value}}}``.
        song_media: ``{song: {"plots": {"spectrum": path, "panning": path}, "audio": {system: path}}}``.
        notes: ``{song: [note, ...]}`` shown under each song.
    """
    folder = Path(folder)
    bars = plot_metric_bars(folder, summary)
    parts = [f"<h1>{html.escape(title)}</h1>",
             "<p>Mean over songs with the 95 % bootstrap interval of the mean; lower is better for every column; "
             "the best system per column is highlighted. <code>metrics.csv</code> holds every metric of every song "
             "and system, <code>summary.json</code> the statistics.</p>",
             _summary_table(summary), f"<img src='{bars}' alt='metric bars'>"]
    for song in sorted(per_song):
        media = song_media.get(song, {})
        parts.append(f"<h2>{html.escape(song)}</h2>")
        for note in (notes or {}).get(song, []):
            parts.append(f"<p><em>note: {html.escape(note)}</em></p>")
        parts.append(_song_table(per_song[song]))
        for name in ("spectrum", "panning"):
            if name in media.get("plots", {}):
                parts.append(f"<img src='{media['plots'][name]}' alt='{html.escape(song)} {name}'>")
        players = "".join(f"<div>{html.escape(system)}<br><audio controls preload='metadata' src='{path}'></audio>"
                          "</div>" for system, path in media.get("audio", {}).items())
        if players:
            parts.append(f"<p>Loudness-matched excerpts ({EXCERPT_LUFS:g} LUFS), the same "
                         f"{EXCERPT_SECONDS:g} s for every system:</p><div class='players'>{players}</div>")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}<p id='media-check'></p>"
            f"<script>{_CHECK_SCRIPT}</script></body></html>")
    path = folder / "report.html"
    atomic_write_text(path, page)
    return path
