"""Dynamics (compression) normalization: measure a stem's transient level and compress it towards a target.

Spec §1.6. The feature of a stem is the onset-peak statistic ``[mean_db, std_db]`` (:mod:`automix.fxnorm.onsets`) of
the stereo file peak-normalized to -10 dBFS. A stem whose statistic lies above the target band
``(mean - std, mean + std)`` is compressed with the *gentlest* setting of the release's grid (ratios ``r0 … 20``
outer, thresholds ``-10 … -40 dB`` in 0.5 dB steps inner) that brings the statistic below ``mean + std``. Stems
inside or below the band are only peak-normalized (the release's expander is off).

Two modes. ``release`` works per channel, as the published code: each channel is peak-normalized and compressed on
its own, which erases the L/R balance, and its statistic is not the one the feature measured. It also keeps the
release's arithmetic under NumPy 2: the peak-normalized channel and the compressor output are float64 (pyloudnorm's
float64 gain), the statistic is measured on a float32 copy in float32 (the float32 cast aubio needs).
``fixed`` (default) matches the stereo stem as the feature measures it: joint peak normalization, the channel-averaged statistic, and
one gain for both channels from a stereo-linked detector (the louder channel's level), so the L/R balance is kept.

The release walks that grid setting by setting (up to 1,037 compressor + onset passes per channel, ~15 min for a
4-min channel). :func:`fast_search_compression` finds the same setting in at most 12 passes, typically 3 when the
start ratio suffices, relying on the statistic falling as compression increases (lower threshold or higher ratio:
the gain reduction is pointwise monotone in both, so every sample's level only falls; the re-detected onsets and the
top-quartile selection can still make the statistic wiggle). It keeps a bracket (a setting known to miss the target
next to one known to meet it) and chooses each pass's setting from a cheap prediction of the statistic: the
compressor's output peaks over the onsets of a setting already measured, without running the onset detector
(:func:`automix.fxnorm.compressor.compressed_segment_peaks`). Where the statistic wiggles across the target the fast
search may return a stronger setting that also meets the target. :func:`grid_search_compression` keeps the release's
order as the reference (``search="grid"``); the tests compare both on rendered stems.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from automix.conventions import COMPRESSION_SEARCHES as SEARCHES
from automix.conventions import MODES
from automix.conventions import SILENCE_GATE_DB as GATE_DB  # at or below: silence, left unchanged
from automix.fxnorm.compressor import SAMPLE_RATE, apply_compressor, compressed_segment_peaks, linked_level_db
from automix.fxnorm.loudness import max_abs, peak_db
from automix.fxnorm.onsets import PEAK_FLOOR, onset_peak_statistic, onset_peak_statistic_and_onsets, top_quartile_statistic

logger = logging.getLogger(__name__)

PEAK_NORM_DB = -10.0  # every channel (matching) or the stereo file (feature) is peak-normalized to this first
MAX_RATIO = 20
THRESHOLDS_DB = tuple(-10.0 - 0.5 * i for i in range(61))  # -10, -10.5, ..., -40 dB: the release's inner loop
MAX_FAST_PASSES = 12  # fast search: 2 + 4 (bisection of 17 ratios) + 6 (of 61 thresholds) in the worst case
STEM_COMPRESSOR_SETTINGS = {
    "vocals": {"attack_ms": 7.5, "release_ms": 400.0, "start_ratio": 4},
    "drums": {"attack_ms": 10.0, "release_ms": 180.0, "start_ratio": 6},
    "bass": {"attack_ms": 10.0, "release_ms": 500.0, "start_ratio": 5},
    "other": {"attack_ms": 15.0, "release_ms": 666.0, "start_ratio": 4},
}


@dataclass
class SearchResult:
    """Outcome of a compression search on one channel.

    Attributes:
        ratio, threshold_db: the chosen setting (ratio 20 / -40 dB when ``exhausted``).
        output: the compressed channel, shape ``(n_samples,)``.
        statistic: onset-peak ``(mean_db, std_db)`` of ``output`` (``None``: no onset left).
        exhausted: no setting of the grid reached the target.
        trace: every tried setting in order, as ``(ratio, threshold_db, met_target, mean_db or None)``.
    """

    ratio: int
    threshold_db: float
    output: np.ndarray
    statistic: tuple[float, float] | None
    exhausted: bool
    trace: list[tuple[int, float, bool, float | None]] = field(default_factory=list)

    @property
    def n_passes(self) -> int:
        """Number of compressor + statistic passes the search needed."""
        return len(self.trace)


class OnsetAnalysis(NamedTuple):
    """A measured signal's onset-peak statistic and the onsets it came from (per channel).

    ``statistic``: ``(mean_db, std_db)`` or ``None`` (no onset); ``onsets``: one sorted int64 array per channel (as
    :func:`~automix.fxnorm.onsets.detect_onsets`). What the fast search re-uses from the measurement of its input.
    """

    statistic: tuple[float, float] | None
    onsets: tuple


class _Trials:
    """Compresses a signal with grid settings and tests the target; the detector level is computed once.

    A ``(n_samples,)`` channel is compressed alone (release mode); a ``(n_samples, n_channels)`` signal gets one gain
    from the stereo-linked detector and is measured with the channel-averaged statistic (fixed mode).
    """

    def __init__(self, signal: np.ndarray, upper_db: float, stem: str, sample_rate: int,
                 precision: str = "float64"):
        signal = np.asarray(signal)
        if signal.ndim not in (1, 2):
            raise ValueError(f"compression search works on (n_samples,) or (n_samples, n_channels), got "
                             f"{signal.shape}")
        # float64 stays float64 (release mode: the release compresses its float64 peak-normalized channel)
        self.signal = np.asarray(signal, dtype=np.float64 if signal.dtype == np.float64 else np.float32)
        # Channels as contiguous rows: every trial's output is made in this layout, so the onset detector reads
        # each channel without a copy (the (n, C) output handed back is a transposed view). A signal given as the
        # transposed view of such rows (fixed-mode matching) is used without a copy.
        self.rows = np.ascontiguousarray(self.signal if signal.ndim == 1 else self.signal.T)
        self.upper_db, self.sample_rate, self.precision = upper_db, sample_rate, precision
        self.levels_db = linked_level_db(self.signal)
        settings = stem_settings(stem)
        self.attack_ms, self.release_ms = settings["attack_ms"], settings["release_ms"]
        self.ratios = list(range(settings["start_ratio"], MAX_RATIO + 1))
        self.trace: list[tuple[int, float, bool, float | None]] = []
        self.measured: dict = {}  # (ratio, threshold index) -> OnsetAnalysis of its output

    def run(self, ratio: int, threshold_index: int) -> tuple[bool, np.ndarray, tuple[float, float] | None]:
        """Compress with ``(ratio, THRESHOLDS_DB[threshold_index])``; return (target met, output, statistic)."""
        threshold_db = THRESHOLDS_DB[threshold_index]
        # float32 · float64 rounded to float32, as ``(signal * gain).astype(float32)``, without the float64 copy and
        # without the gain of the whole signal (apply_compressor: block by block, the same values)
        rows = apply_compressor(self.levels_db, self.rows, threshold_db, ratio, self.attack_ms, self.release_ms,
                                self.sample_rate)
        output = rows if self.signal.ndim == 1 else rows.T
        analysis = signal_analysis(output, self.sample_rate, self.precision)
        statistic = analysis.statistic
        self.measured[(ratio, threshold_index)] = analysis
        # No onset left cannot be verified against the target: count it as a miss (the release would crash).
        met = statistic is not None and statistic[0] < self.upper_db
        self.trace.append((ratio, threshold_db, met, None if statistic is None else statistic[0]))
        return met, output, statistic

    def output(self, ratio: int, threshold_index: int) -> np.ndarray:
        """The output of a setting (as :meth:`run` makes it), without measuring it."""
        rows = apply_compressor(self.levels_db, self.rows, THRESHOLDS_DB[threshold_index], ratio, self.attack_ms,
                                self.release_ms, self.sample_rate)
        return rows if self.signal.ndim == 1 else rows.T

    def predicted_mean(self, ratio: int, threshold_index: int, onsets) -> float | None:
        """The statistic's mean predicted for a setting from the output's peaks over given ``onsets`` (per channel):
        exact for the onsets of that very setting, close for those of a nearby one. ``None``: no onsets."""
        peaks = compressed_segment_peaks(self.levels_db, self.rows, onsets, THRESHOLDS_DB[threshold_index], ratio,
                                         self.attack_ms, self.release_ms, self.sample_rate)
        means = [top_quartile_statistic(20.0 * np.log10(np.maximum(p, PEAK_FLOOR)))[0] for p in peaks if p.size]
        return float(np.mean(means)) if means else None

    def result(self, ratio: int, threshold_index: int, output: np.ndarray, statistic, exhausted: bool):
        return SearchResult(ratio, THRESHOLDS_DB[threshold_index], output, statistic, exhausted, self.trace)


def stem_settings(stem: str) -> dict:
    """Attack/release times (ms) and start ratio of a stem type; ValueError names the valid stems."""
    if stem not in STEM_COMPRESSOR_SETTINGS:
        raise ValueError(f"unknown stem type {stem!r} for compression; expected one of "
                         f"{sorted(STEM_COMPRESSOR_SETTINGS)}")
    return STEM_COMPRESSOR_SETTINGS[stem]


def grid_search_compression(channel: np.ndarray, upper_db: float, stem: str,
                            sample_rate: int = SAMPLE_RATE, precision: str = "float64") -> SearchResult:
    """The release's brute-force search: first grid setting whose statistic mean is below ``upper_db``.

    Ratios ``start_ratio … 20`` (outer), thresholds -10 … -40 dB (inner); up to 1,037 passes. Kept as the
    reference for :func:`fast_search_compression`.

    Args:
        channel: peak-normalized channel ``(n_samples,)`` float32, or a jointly peak-normalized multichannel signal
            ``(n_samples, n_channels)`` compressed with a stereo-linked detector (fixed mode).
        upper_db: the target's upper band edge ``ref_mean + ref_std`` in dB.
        stem: stem type (picks attack, release and start ratio).
        sample_rate: in Hz.
        precision: of the onset statistic (:func:`~automix.fxnorm.onsets.onset_peak_statistic`; release mode:
            ``"float32"``).

    Returns:
        The chosen setting, or ratio 20 / -40 dB with ``exhausted=True`` (the release's last try).
    """
    trials = _Trials(channel, upper_db, stem, sample_rate, precision)
    for ratio in trials.ratios:
        for index in range(len(THRESHOLDS_DB)):
            met, output, statistic = trials.run(ratio, index)
            if met:
                return trials.result(ratio, index, output, statistic, exhausted=False)
    return trials.result(MAX_RATIO, len(THRESHOLDS_DB) - 1, output, statistic, exhausted=True)


def fast_search_compression(channel: np.ndarray, upper_db: float, stem: str,
                            sample_rate: int = SAMPLE_RATE, precision: str = "float64",
                            analysis: OnsetAnalysis | None = None) -> SearchResult:
    """Find the grid search's setting with a guided bracket search: at most 12 passes, typically 3.

    1. Start ratio at -40 dB. If it meets the target, the grid's row is the start ratio (go to 3).
    2. Otherwise ratio 20 at -40 dB, the strongest setting: if it misses, every setting misses (exhausted). Else
       search the ratios at -40 dB for the smallest one that meets the target: every smaller ratio misses at -40 dB
       and hence at every higher threshold, so the grid's row is that ratio.
    3. Search the 61 thresholds of that row for the first one (from -10 dB down) that meets the target.

    Steps 2 and 3 keep a bracket: a setting known to meet the target and, next to it in the grid's order, the
    settings known to miss it. Each pass tries the setting where a prediction puts the boundary: the statistic of
    the candidate settings computed from the compressor output's peaks over the onsets of the measured setting
    closest to the target (no onset detection: ~0.1 of a pass), so typically the boundary and its neighbour are the
    only settings measured. A pass is chosen from the prediction only while bisection could still finish within the
    12-pass bound afterwards, so the worst case is bisection's (in step 2 it is plain bisection).

    Equal to :func:`grid_search_compression` whenever "meets the target" is monotone in the ratio and in the
    threshold (a stronger setting never raises the statistic): the answer is then the bracket's limit whatever the
    order of the passes. Same arguments and result type, and ``analysis``: :func:`signal_analysis` of ``channel``
    if already measured (its onsets seed the first prediction; else it is measured here: one onset detection, not
    a compressor pass).
    """
    trials = _Trials(channel, upper_db, stem, sample_rate, precision)
    if analysis is None:
        analysis = signal_analysis(trials.signal, sample_rate, precision)
    last = len(THRESHOLDS_DB) - 1
    kept = {}  # the latest output (handed back when every setting misses)

    def meets(ratio: int, index: int) -> bool:
        kept.clear()  # one output alive at a time: the chosen one is made again at the end
        met, output, statistic = trials.run(ratio, index)
        kept["last"] = (output, statistic)
        return met

    row_passes = math.ceil(math.log2(len(THRESHOLDS_DB)))  # bisection of a row whose last setting meets
    if meets(trials.ratios[0], last):
        ratio = trials.ratios[0]
    elif not meets(MAX_RATIO, last):
        return trials.result(MAX_RATIO, last, *kept["last"], exhausted=True)
    else:
        references = lambda lo, hi: [(trials.ratios[k], last) for k in (lo - 1, hi)]  # noqa: E731
        high = _first_meeting(1, len(trials.ratios) - 1, MAX_FAST_PASSES - len(trials.trace) - row_passes,
                              lambda k: meets(trials.ratios[k], last),
                              _predictor(trials, lambda k: (trials.ratios[k], last), references, None))
        ratio = trials.ratios[high]
    references = lambda lo, hi: [(ratio, i) for i in (lo - 1, hi) if i >= 0]  # noqa: E731
    high = _first_meeting(0, last, MAX_FAST_PASSES - len(trials.trace), lambda i: meets(ratio, i),
                          _predictor(trials, lambda i: (ratio, i), references, analysis))
    output, statistic = kept.pop("last")
    if trials.trace[-1][:2] != (ratio, THRESHOLDS_DB[high]):
        # The chosen setting was measured earlier: its output is made again (the same bits; a compressor pass
        # without the onset detector) instead of keeping a second stem-sized array alive during the search.
        del output
        output = trials.output(ratio, high)
        statistic = trials.measured[(ratio, high)].statistic
    return trials.result(ratio, high, output, statistic, exhausted=False)


def _first_meeting(lo: int, hi: int, budget: int, meets, predict) -> int:
    """Smallest ``k`` in ``[lo, hi]`` for which ``meets(k)``, given that ``hi`` meets and ``lo - 1`` (if any) misses.

    ``predict(lo, hi)`` proposes where the boundary lies; the proposal is clamped so that bisection could still
    finish after this pass within ``budget`` passes (``budget >= ceil(log2(hi - lo + 1))``). If ``meets`` is
    monotone the result is the boundary, whatever the proposals.
    """
    while lo < hi:
        rest = budget - 1
        # after this pass [lo, k] (met) or [k + 1, hi] (missed) must each be bisectable in `rest` passes
        first, final = max(lo, hi - 2 ** rest), min(hi - 1, lo + 2 ** rest - 1)
        k = first if first >= final else min(max(predict(lo, hi), first), final)
        budget -= 1
        if meets(k):
            hi = k
        else:
            lo = k + 1
    return hi


def _predictor(trials: _Trials, setting, references, start: OnsetAnalysis | None):
    """``predict(lo, hi)`` for :func:`_first_meeting` over candidates ``setting(k)``.

    The bracket's ends are measured: ``references(lo, hi)`` gives the settings ``lo - 1`` (missed; when there is
    none, ``start``, the uncompressed input, stands for it) and ``hi`` (met). The statistic of the candidates in
    between is predicted with the onsets of the end whose statistic is closest to the target
    (:meth:`_Trials.predicted_mean`), and the predicted boundary is found by regula falsi on the predictions
    (Illinois variant: a few predictions, as the statistic is smooth in the setting).
    """
    cache = {}
    upper = trials.upper_db

    def predicted(reference_key, onsets, k):
        if (reference_key, k) not in cache:
            cache[(reference_key, k)] = trials.predicted_mean(*setting(k), onsets)
        return cache[(reference_key, k)]

    def predict(lo: int, hi: int) -> int:
        below_key, high_key = references(lo, hi) if lo > 0 else (None, references(lo, hi)[-1])
        below = trials.measured.get(below_key) if below_key is not None else start
        high = trials.measured[high_key]
        ends = [(key, a) for key, a in ((below_key, below), (high_key, high)) if a is not None and a.statistic]
        if len(ends) < 2:
            return (lo + hi) // 2
        key, reference = min(ends, key=lambda end: abs(end[1].statistic[0] - upper))
        a, value_a, b, value_b = lo - 1, below.statistic[0], hi, high.statistic[0]
        kept_side = 0  # +1: b moved last, -1: a moved last (Illinois: halve the stale end's distance to the target)
        while b - a > 1:
            if value_a > upper > value_b:
                k = a + (value_a - upper) / (value_a - value_b) * (b - a)
                k = min(max(int(round(k)), a + 1), b - 1)
            else:
                k = (a + b) // 2
            value = predicted(key, reference.onsets, k)
            if value is not None and value < upper:
                b, value_b = k, value
                if kept_side == 1:
                    value_a = upper + (value_a - upper) / 2
                kept_side = 1
            else:
                a, value_a = k, (value if value is not None else value_a)
                if kept_side == -1:
                    value_b = upper - (upper - value_b) / 2
                kept_side = -1
        return b

    return predict


def peak_normalize(x: np.ndarray, target_db: float = PEAK_NORM_DB, dtype=None) -> np.ndarray:
    """Scale so that ``max |x| == 10^(target_db/20)`` (pyloudnorm ``normalize.peak``); all-zero input is copied.

    The result has ``x``'s dtype, or ``dtype`` (release mode: float64, as pyloudnorm's float64 gain makes it under
    NumPy 2).
    """
    dtype = x.dtype if dtype is None else dtype
    peak = max_abs(x)
    if peak == 0.0:
        return np.array(x, dtype=dtype, copy=True)
    gain = float(np.power(10.0, target_db / 20.0)) / peak  # a Python float: float32 input stays float32
    return (x.astype(dtype, copy=False) * gain).astype(dtype, copy=False)


def _peak_normalized_rows(x: np.ndarray, target_db: float = PEAK_NORM_DB) -> np.ndarray:
    """:func:`peak_normalize` of ``x (n, C)`` (same values), laid out as channel rows ``(C, n)``."""
    rows = np.empty((x.shape[1], x.shape[0]), dtype=x.dtype)
    peak = max_abs(x)
    if peak == 0.0:
        rows[...] = x.T
    else:
        np.multiply(x.T, float(np.power(10.0, target_db / 20.0)) / peak, out=rows)
    return rows


def _as_audio(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be audio of shape (n_samples, n_channels) with n_samples > 0, got {x.shape}")
    if not np.isfinite(max_abs(x)):  # NaN or inf anywhere (no whole-signal boolean temporary)
        raise ValueError(f"{name} contains NaN or infinite samples")
    return x.astype(np.float32, copy=False)


def compression_feature(x: np.ndarray, sample_rate: int = SAMPLE_RATE, mode: str = "fixed") -> np.ndarray | None:
    """Per-file compression feature ``[mean_db, std_db]`` (spec §1.6, "Per-file feature").

    The file is peak-normalized *jointly* (both channels by the same gain) to -10 dBFS; the onset-peak statistic is
    computed per channel and averaged over channels. Decision (the spec is silent): a channel without onsets is left
    out of the average (e.g. a hard-panned part whose other channel is near silent); the feature is ``None`` only
    when no channel has an onset. A file whose peak is at or below -50 dBFS is silence: ``None`` (spec §1.3).
    ``mode="release"``: as the release under NumPy 2: float64 peak normalization, each channel measured as float32
    (float32 statistic, float32 channel mean), and ``None`` as soon as one channel has no onset.

    Args:
        x: audio, shape ``(n_samples, n_channels)``; the caller applies the release's padding (spec §1.3).
        sample_rate: in Hz.
        mode: ``"fixed"`` or ``"release"``.

    Returns:
        ``[mean_db, std_db]``, shape ``(2,)`` (float64; float32 in release mode), or ``None`` (file to be excluded
        from the average).
    """
    x = _as_audio(x, "compression_feature input")
    if peak_db(x) <= GATE_DB:
        return None
    if mode == "release":
        normalized = peak_normalize(x, dtype=np.float64)
        statistics = [onset_peak_statistic(normalized[:, c], sample_rate, "float32") for c in range(x.shape[1])]
        if any(s is None for s in statistics):
            return None
        return np.mean(np.asarray(statistics, dtype=np.float32), axis=0)
    statistic = signal_statistic(peak_normalize(x), sample_rate)
    return None if statistic is None else np.asarray(statistic, dtype=np.float64)


def compression_analysis(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray | None, OnsetAnalysis | None]:
    """Fixed mode: :func:`compression_feature` of ``x`` and the :class:`OnsetAnalysis` behind it, which
    :func:`match_compression` (``statistic=``) re-uses instead of measuring the same signal again.

    Returns:
        ``(feature or None, analysis or None)``; both ``None`` for silence or a stem without onsets.
    """
    x = _as_audio(x, "compression_analysis input")
    if peak_db(x) <= GATE_DB:
        return None, None
    analysis = signal_analysis(peak_normalize(x), sample_rate)
    if analysis.statistic is None:
        return None, None
    return np.asarray(analysis.statistic, dtype=np.float64), analysis


def signal_statistic(x: np.ndarray, sample_rate: int = SAMPLE_RATE,
                     precision: str = "float64") -> tuple[float, float] | None:
    """Onset-peak statistic of a channel ``(n,)``, or channel average of it for ``(n, n_channels)``.

    Channels without onsets are left out of the average; ``None`` when no channel has an onset. ``precision``: see
    :func:`~automix.fxnorm.onsets.onset_peak_statistic`.
    """
    return signal_analysis(x, sample_rate, precision).statistic


def signal_analysis(x: np.ndarray, sample_rate: int = SAMPLE_RATE, precision: str = "float64") -> OnsetAnalysis:
    """:func:`signal_statistic` and the onsets of every channel it was computed from."""
    if x.ndim == 1:
        statistic, onsets = onset_peak_statistic_and_onsets(x, sample_rate, precision)
        return OnsetAnalysis(statistic, (onsets,))
    measured = [onset_peak_statistic_and_onsets(np.ascontiguousarray(x[:, c]), sample_rate, precision)
                for c in range(x.shape[1])]
    statistics = [s for s, _ in measured if s is not None]
    onsets = tuple(o for _, o in measured)
    if not statistics:
        return OnsetAnalysis(None, onsets)
    mean_db, std_db = np.mean(np.asarray(statistics, dtype=np.float64), axis=0)
    return OnsetAnalysis((float(mean_db), float(std_db)), onsets)


def _match_signal(source: list, target: np.ndarray, stem: str, mode: str, search: str,
                  sample_rate: int, statistic_before=None) -> tuple[np.ndarray, dict]:
    """Match one channel ``(n,)`` (release) or a linked stereo signal ``(n, c)`` (fixed); returns (output, report
    entry). See :func:`match_compression`. ``source`` holds the signal and is emptied: where no caller keeps it,
    the signal is freed once its peak-normalized copy exists (one stem-sized array less during the search)."""
    signal = source.pop()
    level_db_before = peak_db(signal)
    report = {"peak_db_before": level_db_before if np.isfinite(level_db_before) else None,  # JSON-safe
              "statistic_before": None, "statistic_after": None, "ratio": None, "threshold_db": None, "n_passes": 0}
    if level_db_before <= GATE_DB:
        return signal.copy(), {**report, "action": "gated"}
    # release: the channel and the compressor's output stay float64 (NumPy 2 promotion), rounded once at the end.
    # fixed (n, C): normalized as channel rows, viewed as (n, C): the onset detector and the search read the
    # channels without copies (one stem-sized array instead of two)
    normalized = peak_normalize(signal, dtype=np.float64) if mode == "release" else _peak_normalized_rows(signal).T
    precision = "float32" if mode == "release" else "float64"  # the release measures a float32 copy
    analysis = statistic_before if isinstance(statistic_before, OnsetAnalysis) else None
    if statistic_before is None:
        analysis = signal_analysis(normalized, sample_rate, precision)
    statistic = analysis.statistic if analysis is not None else (float(statistic_before[0]),
                                                                 float(statistic_before[1]))
    report["statistic_before"] = report["statistic_after"] = statistic
    if statistic is None:
        if mode == "release":
            raise ValueError("compression matching: a channel has no detected onset (aubio HFC); the original "
                             "release crashes on such input. Use mode='fixed' to leave the stem uncompressed.")
        return signal.copy(), {**report, "action": "no_onsets"}  # left unchanged (spec §9), not peak-normalized
    shape = signal.shape
    del signal
    lower_db, upper_db = target[0] - target[1], target[0] + target[1]
    if statistic[0] <= lower_db:  # the release's upward expander is disabled
        return np.ascontiguousarray(normalized), {**report, "action": "below_band"}
    if statistic[0] < upper_db:
        return np.ascontiguousarray(normalized), {**report, "action": "in_band"}
    if search == "fast":
        result = fast_search_compression(normalized, upper_db, stem, sample_rate, precision, analysis)
    else:
        result = grid_search_compression(normalized, upper_db, stem, sample_rate, precision)
    del normalized  # the search's input: freed before the clipped copy is made
    report.update(statistic_after=result.statistic, ratio=result.ratio, threshold_db=result.threshold_db,
                  n_passes=result.n_passes, action="exhausted" if result.exhausted else "compressed")
    return np.clip(result.output, -1.0, 1.0, out=np.empty(shape, dtype=np.float32)), report


def match_compression(x: np.ndarray, target: np.ndarray, stem: str, mode: str = "fixed",
                      sample_rate: int = SAMPLE_RATE, search: str | None = None,
                      statistic=None) -> tuple[np.ndarray, dict]:
    """Compress every channel so that its onset-peak statistic falls inside the target band (spec §1.6).

    ``mode="release"`` works per channel, as the published code: peak at or below -50 dBFS → unchanged ("gated");
    otherwise peak-normalized alone to -10 dBFS (this erases the L/R balance), then: statistic inside
    ``(mean - std, mean + std)`` → "in_band"; at or below the band → "below_band" (expander off); above →
    compressed with the grid's first setting meeting ``statistic < mean + std`` ("compressed"), or with ratio 20 at
    -40 dB if none does ("exhausted"). A channel without any detected onset raises (the original crashes there).

    ``mode="fixed"`` (default) takes the same decisions once for the whole stem, measured as the feature is: the
    stem is peak-normalized jointly, its statistic is the channel average, and the compressor applies one gain to
    all channels from a stereo-linked detector (the louder channel's level), so the L/R balance is kept. A stem
    without onsets comes back unchanged ("no_onsets", spec §9: not even peak-normalized). Samples with
    ``|y| >= 1`` are clipped to ±1 in both modes, as in the release.

    Args:
        x: stereo (or any channel count) audio, shape ``(n_samples, n_channels)``. Not modified.
        target: dataset feature ``[ref_mean_db, ref_std_db]``, shape ``(2,)``.
        stem: ``"vocals"``, ``"drums"``, ``"bass"`` or ``"other"`` (attack/release/start ratio).
        mode: ``"fixed"`` (default) or ``"release"``.
        sample_rate: in Hz.
        search: ``"fast"`` (guided bracket search, ≤ 12 passes per channel) or ``"grid"`` (the release's brute force, in its
            order; same answer when the statistic is monotone in the compression setting). Default: ``"grid"`` in
            release mode, ``"fast"`` in fixed mode.
        statistic: ``compression_feature(x)``, or better the analysis of :func:`compression_analysis`, if already
            computed (fixed mode: it is the statistic of the jointly peak-normalized stem, so the first two onset
            passes are skipped, and with the analysis's onsets the search needs no onset pass of its own; ignored in
            release mode).

    Returns:
        ``(y, report)``: ``y`` float32 of the shape of ``x``; ``report = {"stem", "mode", "band_db", "linked",
        "channels": [dict]}``: one dict per channel (release) or a single dict for the linked stem (fixed,
        ``linked=True``), holding ``action``, ``peak_db_before``, ``statistic_before`` / ``statistic_after``
        (``(mean_db, std_db)`` or ``None``), ``ratio``, ``threshold_db`` and ``n_passes`` (in release mode a channel
        identical to an earlier one reuses its result and adds ``same_as_channel``).

    Raises:
        ValueError: bad shape, NaN/inf samples, unknown stem/mode/search, a target that is not two finite
            numbers, or (``mode="release"``) a channel without onsets.
    """
    return match_compression_owned([x], target, stem, mode, sample_rate, search, statistic)


def match_compression_owned(holder: list, target: np.ndarray, stem: str, mode: str = "fixed",
                            sample_rate: int = SAMPLE_RATE, search: str | None = None,
                            statistic=None) -> tuple[np.ndarray, dict]:
    """:func:`match_compression` of the signal in the one-element list ``holder``, which is emptied: when the caller
    keeps no other reference (the normalization chain), fixed mode frees the input as soon as its peak-normalized
    copy exists, so the search holds one stem-sized array less (~210 MB for a 10-min stem). The input is not
    modified."""
    x = _as_audio(holder.pop(), "match_compression input")
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    if target.shape != (2,) or not np.all(np.isfinite(target)):
        raise ValueError(f"compression target must be [mean_db, std_db] (two finite numbers), got {target!r}")
    stem_settings(stem)
    if search is None:
        search = "grid" if mode == "release" else "fast"
    if mode not in MODES or search not in SEARCHES:
        raise ValueError(f"mode must be one of {MODES} and search one of {SEARCHES}, got {mode!r}, {search!r}")
    band = (float(target[0] - target[1]), float(target[0] + target[1]))
    if mode == "fixed":
        source = [x]
        del x
        y, entry = _match_signal(source, target, stem, mode, search, sample_rate, statistic)
        logger.debug("compression %s (linked): %s", stem, entry)
        return y, {"stem": stem, "mode": mode, "band_db": band, "linked": True, "channels": [entry]}
    y = np.empty_like(x)
    channels = []
    for c in range(x.shape[1]):
        twin = next((k for k in range(c) if np.array_equal(x[:, k], x[:, c])), None)
        if twin is not None:  # dual-mono: the result is identical, skip the search
            y[:, c], entry = y[:, twin], {**channels[twin], "same_as_channel": twin}
        else:
            y[:, c], entry = _match_signal([np.ascontiguousarray(x[:, c])], target, stem, mode, search, sample_rate)
        channels.append(entry)
        logger.debug("compression %s channel %d: %s", stem, c, entry)
    return y, {"stem": stem, "mode": mode, "band_db": band, "linked": False, "channels": channels}
