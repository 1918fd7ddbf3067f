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
4-min channel). :func:`fast_search_compression` finds the same setting in at most 12 passes, relying on the
statistic falling as compression increases (lower threshold or higher ratio: the gain reduction is pointwise
monotone in both, so every sample's level only falls; the re-detected onsets and the top-quartile selection can
still make the statistic wiggle). Where it wiggles across the target the fast search may return a stronger setting
that also meets the target. :func:`grid_search_compression` keeps the release's order as the reference
(``search="grid"``); the tests compare both on rendered stems.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from automix.conventions import COMPRESSION_SEARCHES as SEARCHES
from automix.conventions import MODES
from automix.conventions import SILENCE_GATE_DB as GATE_DB  # at or below: silence, left unchanged
from automix.fxnorm.compressor import SAMPLE_RATE, compressor_gain, linked_level_db
from automix.fxnorm.loudness import max_abs, peak_db
from automix.fxnorm.onsets import onset_peak_statistic

logger = logging.getLogger(__name__)

PEAK_NORM_DB = -10.0  # every channel (matching) or the stereo file (feature) is peak-normalized to this first
MAX_RATIO = 20
THRESHOLDS_DB = tuple(-10.0 - 0.5 * i for i in range(61))  # -10, -10.5, ..., -40 dB: the release's inner loop
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
        self.signal = np.ascontiguousarray(signal, dtype=np.float64 if signal.dtype == np.float64 else np.float32)
        # Channels as contiguous rows: every trial's output is made in this layout, so the onset detector reads
        # each channel without a copy (the (n, C) output handed back is a transposed view).
        self.rows = self.signal if signal.ndim == 1 else np.ascontiguousarray(self.signal.T)
        self.upper_db, self.sample_rate, self.precision = upper_db, sample_rate, precision
        self.levels_db = linked_level_db(self.signal)
        settings = stem_settings(stem)
        self.attack_ms, self.release_ms = settings["attack_ms"], settings["release_ms"]
        self.ratios = list(range(settings["start_ratio"], MAX_RATIO + 1))
        self.trace: list[tuple[int, float, bool, float | None]] = []

    def run(self, ratio: int, threshold_index: int) -> tuple[bool, np.ndarray, tuple[float, float] | None]:
        """Compress with ``(ratio, THRESHOLDS_DB[threshold_index])``; return (target met, output, statistic)."""
        threshold_db = THRESHOLDS_DB[threshold_index]
        gain = compressor_gain(self.levels_db, threshold_db, ratio, self.attack_ms, self.release_ms,
                               self.sample_rate)
        # float32 · float64 rounded to float32, as ``(signal * gain).astype(float32)`` but without the float64 copy
        rows = np.multiply(self.rows, gain, out=np.empty_like(self.rows), casting="same_kind")
        output = rows if self.signal.ndim == 1 else rows.T
        statistic = signal_statistic(output, self.sample_rate, self.precision)
        # No onset left cannot be verified against the target: count it as a miss (the release would crash).
        met = statistic is not None and statistic[0] < self.upper_db
        self.trace.append((ratio, threshold_db, met, None if statistic is None else statistic[0]))
        return met, output, statistic

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
                            sample_rate: int = SAMPLE_RATE, precision: str = "float64") -> SearchResult:
    """Find the grid search's setting by bisection: at most 12 passes (7 when the start ratio suffices).

    1. Start ratio at -40 dB. If it meets the target, the grid's row is the start ratio (go to 3).
    2. Otherwise ratio 20 at -40 dB, the strongest setting: if it misses, every setting misses (exhausted). Else
       bisect the ratios at -40 dB for the smallest one that meets the target: every smaller ratio misses at -40 dB
       and hence at every higher threshold, so the grid's row is that ratio.
    3. Bisect the 61 thresholds of that row for the first one (from -10 dB down) that meets the target.

    Equal to :func:`grid_search_compression` whenever "meets the target" is monotone in the ratio and in the
    threshold (a stronger setting never raises the statistic). Same arguments and result type.
    """
    trials = _Trials(channel, upper_db, stem, sample_rate, precision)
    last = len(THRESHOLDS_DB) - 1
    met, output, statistic = trials.run(trials.ratios[0], last)
    best = (output, statistic)  # output of the weakest setting known to meet the target
    high = 0
    if not met:
        met, output, statistic = trials.run(MAX_RATIO, last)
        if not met:
            return trials.result(MAX_RATIO, last, output, statistic, exhausted=True)
        best, (low, high) = (output, statistic), (1, len(trials.ratios) - 1)
        while low < high:  # invariant: ratios[high] meets at -40 dB, ratios[low - 1] misses
            middle = (low + high) // 2
            met, output, statistic = trials.run(trials.ratios[middle], last)
            if met:
                high, best = middle, (output, statistic)
            else:
                low = middle + 1
    ratio = trials.ratios[high]

    low, high = 0, last
    while low < high:  # invariant: THRESHOLDS_DB[high] meets at this ratio, THRESHOLDS_DB[low - 1] misses
        middle = (low + high) // 2
        met, output, statistic = trials.run(ratio, middle)
        if met:
            high, best = middle, (output, statistic)
        else:
            low = middle + 1
    return trials.result(ratio, high, best[0], best[1], exhausted=False)


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


def signal_statistic(x: np.ndarray, sample_rate: int = SAMPLE_RATE,
                     precision: str = "float64") -> tuple[float, float] | None:
    """Onset-peak statistic of a channel ``(n,)``, or channel average of it for ``(n, n_channels)``.

    Channels without onsets are left out of the average; ``None`` when no channel has an onset. ``precision``: see
    :func:`~automix.fxnorm.onsets.onset_peak_statistic`.
    """
    if x.ndim == 1:
        return onset_peak_statistic(x, sample_rate, precision)
    statistics = [onset_peak_statistic(np.ascontiguousarray(x[:, c]), sample_rate, precision)
                  for c in range(x.shape[1])]
    statistics = [s for s in statistics if s is not None]
    if not statistics:
        return None
    mean_db, std_db = np.mean(np.asarray(statistics, dtype=np.float64), axis=0)
    return float(mean_db), float(std_db)


def _match_signal(signal: np.ndarray, target: np.ndarray, stem: str, mode: str, search: str,
                  sample_rate: int, statistic_before=None) -> tuple[np.ndarray, dict]:
    """Match one channel ``(n,)`` (release) or a linked stereo signal ``(n, c)`` (fixed); returns (output, report
    entry). See :func:`match_compression`."""
    level_db_before = peak_db(signal)
    report = {"peak_db_before": level_db_before if np.isfinite(level_db_before) else None,  # JSON-safe
              "statistic_before": None, "statistic_after": None, "ratio": None, "threshold_db": None, "n_passes": 0}
    if level_db_before <= GATE_DB:
        return signal.copy(), {**report, "action": "gated"}
    # release: the channel and the compressor's output stay float64 (NumPy 2 promotion), rounded once at the end
    normalized = peak_normalize(signal, dtype=np.float64 if mode == "release" else None)
    precision = "float32" if mode == "release" else "float64"  # the release measures a float32 copy
    statistic = signal_statistic(normalized, sample_rate, precision) if statistic_before is None else (
        float(statistic_before[0]), float(statistic_before[1]))
    report["statistic_before"] = report["statistic_after"] = statistic
    if statistic is None:
        if mode == "release":
            raise ValueError("compression matching: a channel has no detected onset (aubio HFC); the original "
                             "release crashes on such input. Use mode='fixed' to leave the stem uncompressed.")
        return signal.copy(), {**report, "action": "no_onsets"}  # left unchanged (spec §9), not peak-normalized
    lower_db, upper_db = target[0] - target[1], target[0] + target[1]
    if statistic[0] <= lower_db:
        return normalized, {**report, "action": "below_band"}  # the release's upward expander is disabled
    if statistic[0] < upper_db:
        return normalized, {**report, "action": "in_band"}
    searcher = fast_search_compression if search == "fast" else grid_search_compression
    result = searcher(normalized, upper_db, stem, sample_rate, precision)
    report.update(statistic_after=result.statistic, ratio=result.ratio, threshold_db=result.threshold_db,
                  n_passes=result.n_passes, action="exhausted" if result.exhausted else "compressed")
    return np.clip(result.output, -1.0, 1.0, out=np.empty(signal.shape, dtype=np.float32)), report


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
        search: ``"fast"`` (bisection, ≤ 12 passes per channel) or ``"grid"`` (the release's brute force, in its
            order; same answer when the statistic is monotone in the compression setting). Default: ``"grid"`` in
            release mode, ``"fast"`` in fixed mode.
        statistic: ``compression_feature(x)`` if already computed (fixed mode: it is the statistic of the jointly
            peak-normalized stem, so the first two onset passes are skipped; ignored in release mode).

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
    x = _as_audio(x, "match_compression input")
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
        y, entry = _match_signal(x, target, stem, mode, search, sample_rate, statistic)
        logger.debug("compression %s (linked): %s", stem, entry)
        return y, {"stem": stem, "mode": mode, "band_db": band, "linked": True, "channels": [entry]}
    y = np.empty_like(x)
    channels = []
    for c in range(x.shape[1]):
        twin = next((k for k in range(c) if np.array_equal(x[:, k], x[:, c])), None)
        if twin is not None:  # dual-mono: the result is identical, skip the search
            y[:, c], entry = y[:, twin], {**channels[twin], "same_as_channel": twin}
        else:
            y[:, c], entry = _match_signal(np.ascontiguousarray(x[:, c]), target, stem, mode, search, sample_rate)
        channels.append(entry)
        logger.debug("compression %s channel %d: %s", stem, c, entry)
    return y, {"stem": stem, "mode": mode, "band_db": band, "linked": False, "channels": channels}
