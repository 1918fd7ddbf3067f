"""Tidy metric rows -> per-system statistics (mean, median, 95 % bootstrap interval) and the files that hold them.

A row is ``(song, system, metric, value)``; ``metrics.csv`` holds one per song, system and metric, and
``summary.json`` the statistics with the bootstrap seed.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from typing import NamedTuple

import numpy as np

from automix.atomic import atomic_write_text


class Row(NamedTuple):
    song: str
    system: str
    metric: str
    value: float


def bootstrap_interval(values, seed: int, n_resamples: int = 2000, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of the mean; a single value gives ``[value, value]``."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return [float(values[0])] * 2 if values.size else [math.nan, math.nan]
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return [float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))]


def summarize(rows: list[Row], seed: int = 0, n_resamples: int = 2000) -> dict:
    """``{system: {metric: {"mean", "median", "ci95", "n"}}}``; each interval's resampling is seeded by ``seed``."""
    grouped = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if math.isfinite(row.value):
            grouped[row.system][row.metric].append(row.value)
    summary = {}
    for system, per_metric in grouped.items():
        summary[system] = {}
        for metric, values in sorted(per_metric.items()):
            summary[system][metric] = {"mean": float(np.mean(values)), "median": float(np.median(values)),
                                       "ci95": bootstrap_interval(values, seed, n_resamples), "n": len(values)}
    return summary


def write_metrics_csv(path, rows: list[Row]) -> None:
    """``song,system,metric,value``, one row per song, system and metric, sorted; written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(Row._fields)
    for row in sorted(rows):
        writer.writerow([row.song, row.system, row.metric, repr(float(row.value))])
    atomic_write_text(path, buffer.getvalue())


def read_metrics_csv(path) -> list[Row]:
    with open(path, newline="") as handle:
        return [Row(r["song"], r["system"], r["metric"], float(r["value"])) for r in csv.DictReader(handle)]


def write_summary_json(path, summary: dict, seed: int, n_resamples: int, notes: dict | None = None) -> None:
    document = {"bootstrap": {"seed": seed, "resamples": n_resamples, "level": 0.95, "statistic": "mean"},
                "systems": summary, "notes": notes or {}}
    atomic_write_text(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
