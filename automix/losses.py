"""Training losses of FxNorm-Automix: FIR pre-filters, stereo spectral losses, time-domain L1.

The stereo losses compare the mid (``L + R``) and side (``L - R``) signals of a mix in the magnitude-STFT domain,
after perceptual FIR pre-filters (A-weighting, then a first-order low-pass), as in the original release
(spec §4). Everything runs in float32 (also under CUDA or CPU autocast), on CPU or GPU, and never writes into its
inputs.

Tensor layout: time-domain signals are ``(n_targets, batch, channels, time)`` (any leading dimensions work),
magnitudes ``(..., n_bins, n_frames)``.

References:
    C. J. Steinmetz, J. Pons, S. Pascual, J. Serrà, "Automatic multitrack mixing with a differentiable mixing
    console of neural audio effects", ICASSP 2021 (arXiv 2020): the sum/difference stereo loss and the
    FIR pre-emphasis filters (as in auraloss).
    M. A. Martínez-Ramírez, W.-H. Liao, G. Fabbro, S. Uhlich, C. Nagashima, Y. Mitsufuji, "Automatic music mixing
    with deep learning and out-of-domain data", ISMIR 2022: losses La and Lb.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.signal
import torch
from torch import nn
from torch.nn import functional as F

from automix.conventions import SAMPLE_RATE

logger = logging.getLogger(__name__)

FILTER_TYPES = ("hp", "lp", "fd", "aw")
_LOG_EPS = 1e-30  # added before log() as in the release; representable in float32 (min normal 1.2e-38)

# Analogue A-weighting (IEC/CD 1672): pole frequencies in Hz and the gain that makes 1 kHz read 0 dB.
_A_WEIGHTING_POLES_HZ = (20.598997, 107.65265, 737.86223, 12194.217)
_A_WEIGHTING_GAIN_1KHZ_DB = 1.9997


def design_a_weighting_fir(sample_rate: int = SAMPLE_RATE, n_taps: int = 101) -> np.ndarray:
    """Least-squares linear-phase FIR fit of the A-weighting curve (spec §4.2).

    Analogue A-weighting -> bilinear transform at ``sample_rate`` -> magnitude on 512 frequencies (``freqz``) ->
    ``firls`` with the 512 points read as 256 band-edge pairs.

    Args:
        sample_rate: sampling rate in Hz.
        n_taps: FIR length (odd).

    Returns:
        Symmetric float64 kernel of shape ``(n_taps,)``.
    """
    f1, f2, f3, f4 = (2 * np.pi * f for f in _A_WEIGHTING_POLES_HZ)
    numerator = [f4**2 * 10 ** (_A_WEIGHTING_GAIN_1KHZ_DB / 20), 0, 0, 0, 0]
    denominator = np.polymul([1, 2 * f4, f4**2], [1, 2 * f1, f1**2])
    denominator = np.polymul(np.polymul(denominator, [1, f3]), [1, f2])
    b, a = scipy.signal.bilinear(numerator, denominator, fs=sample_rate)
    freqs_hz, response = scipy.signal.freqz(b, a, worN=512, fs=sample_rate)
    return scipy.signal.firls(n_taps, freqs_hz, np.abs(response), fs=sample_rate)


def fir_kernel(filter_type: str, coef: float = 0.85, sample_rate: int = SAMPLE_RATE, n_taps: int = 101) -> np.ndarray:
    """Kernel of one pre-filter, as used by ``conv1d`` (a cross-correlation).

    ``hp`` = [1, -coef, 0], ``lp`` = [1, coef, 0], ``fd`` = [1, 0, -coef], ``aw`` = A-weighting FIR (``n_taps``).
    """
    if filter_type == "hp":
        return np.array([1.0, -coef, 0.0])
    if filter_type == "lp":
        return np.array([1.0, coef, 0.0])
    if filter_type == "fd":
        return np.array([1.0, 0.0, -coef])
    if filter_type == "aw":
        return design_a_weighting_fir(sample_rate, n_taps)
    raise ValueError(f"unknown FIR filter type {filter_type!r}; expected one of {FILTER_TYPES}")


class FIRFilter(nn.Module):
    """FIR pre-emphasis filter applied along the last (time) axis.

    ``y = conv1d(x, kernel)`` (cross-correlation), output as long as the input. By default the kernel is centred
    (zero padding ``(kernel_length - 1) // 2`` on both sides): ``lp`` gives ``y[n] = x[n-1] + 0.85 x[n]``.
    With ``release_delay=True`` every kernel is padded by ``n_taps // 2`` (50) samples on both sides and the first
    ``time`` samples are kept, as in the original release: the 101-tap A-weighting is still centred, but the
    3-tap kernels come out 49 samples late and the last 49 input samples are dropped (spec §4.2).

    The kernel is designed with scipy at init and stored as a float32 buffer (not a parameter).

    Args:
        filter_type: ``"hp"``, ``"lp"``, ``"fd"`` or ``"aw"``.
        coef: coefficient of the first-order filters.
        sample_rate: sampling rate in Hz (A-weighting design).
        n_taps: length of the A-weighting FIR.
        release_delay: reproduce the original's padding (see above).

    Shape:
        input ``(..., time)`` -> output ``(..., time)``, float32.
    """

    def __init__(self, filter_type: str = "aw", coef: float = 0.85, sample_rate: int = SAMPLE_RATE, n_taps: int = 101,
                 release_delay: bool = False):
        super().__init__()
        kernel = fir_kernel(filter_type, coef, sample_rate, n_taps)
        self.filter_type = filter_type
        self.release_delay = release_delay
        # The release pads every kernel by n_taps // 2 (50), also the 3-tap ones, and keeps the first samples. The
        # fixed filter pads as much (same values; oneDNN's conv1d was ~7x faster for 3 taps than with padding 1)
        # and starts its window so that the kernel is centred.
        self.padding = max(n_taps // 2, (len(kernel) - 1) // 2)
        self.start = 0 if release_delay else self.padding - (len(kernel) - 1) // 2
        self.register_buffer("kernel", torch.tensor(kernel, dtype=torch.float32).view(1, 1, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_samples = x.shape[-1]
        flat = x.reshape(-1, 1, n_samples).float()
        # float32 even if a parent module was cast with .half(): half kernels fail on CPU and lose precision
        with torch.autocast(device_type=x.device.type, enabled=False):
            y = _Correlate1d.apply(flat, self.kernel.float(), self.padding)[..., self.start:self.start + n_samples]
        return y.reshape(x.shape)

    def extra_repr(self) -> str:
        return f"{self.filter_type!r}, n_taps={self.kernel.shape[-1]}, release_delay={self.release_delay}"


_BLOCK = 8192  # output samples per block of a long one-channel correlation


def _correlate_blocks(x: torch.Tensor, kernel: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """``F.conv1d(x, kernel, padding=padding)`` for one-channel ``x (n, 1, T)``, computed on blocks.

    oneDNN's one-channel conv1d slows down badly on long signals (8.7 s for 4 x 60 s with 101 taps on the 2-core
    machine, 0.57 s for the same samples cut into 8192-sample blocks): long inputs are cut into overlapping blocks
    (a view), correlated as one batch, and put back in order. Each output sample is the same sum of products.
    """
    n_taps = kernel.shape[-1]
    n_out = x.shape[-1] + 2 * padding - n_taps + 1
    if n_out <= 4 * _BLOCK:
        return F.conv1d(x, kernel, padding=padding)
    n_blocks = -(-n_out // _BLOCK)
    padded = F.pad(x, (padding, padding + n_blocks * _BLOCK - n_out))
    blocks = padded.unfold(-1, _BLOCK + n_taps - 1, _BLOCK)  # (n, 1, n_blocks, block + taps - 1)
    out = F.conv1d(blocks.reshape(-1, 1, _BLOCK + n_taps - 1), kernel)  # (n * n_blocks, 1, block)
    return out.reshape(x.shape[0], 1, -1)[..., :n_out]


class _Correlate1d(torch.autograd.Function):
    """``F.conv1d(x, kernel, padding=p)`` of one-channel signals, whose backward is a forward conv1d.

    oneDNN's backward of a one-channel long-kernel conv is ~5x slower than its forward (0.5 s for the A-weighting
    of a 4 x 1 s minibatch on CPU); the gradient of a correlation is the correlation of the output gradient with
    the flipped kernel, computed here as such. The forward is the plain ``conv1d``; the kernel gets no gradient.
    """

    @staticmethod
    def forward(ctx, x, kernel, padding):
        ctx.save_for_backward(kernel)
        ctx.padding = padding
        return _correlate_blocks(x, kernel, padding)

    @staticmethod
    def backward(ctx, grad):
        (kernel,) = ctx.saved_tensors
        edge = kernel.shape[-1] - 1 - ctx.padding
        if edge >= 0:
            grad_x = _correlate_blocks(grad, kernel.flip(-1), edge)
        else:  # more padding than taps: the outermost output samples saw only zeros
            grad_x = _correlate_blocks(grad[..., -edge:grad.shape[-1] + edge], kernel.flip(-1))
        return grad_x, None, None


def correlate_polyphase(x: torch.Tensor, kernel: torch.Tensor, offset: int, phases: int = 64) -> torch.Tensor:
    """``y[..., n] = sum_k kernel[k] · x[..., n + k + offset]`` (zero outside ``x``), as long as ``x``; no gradient.

    The same sums of products as :class:`FIRFilter`'s ``conv1d`` (in another order: float32 rounding differs), for
    long signals: each signal is cut into rows of ``phases`` samples and the correlation becomes ``J`` matrix
    products ``rows[j : j + M] @ W_j`` with ``(phases, phases)`` polyphase blocks of the kernel (zeros where a block
    reaches past it). BLAS runs them ~10x faster than oneDNN's one-channel conv1d (101-tap A-weighting of 4 x 3 min:
    0.33 s instead of 4 s on the 2-core machine).

    Args:
        x: float32 ``(..., time)``.
        kernel: ``(n_taps,)`` (any float dtype; used in float32).
        offset: index of ``x`` that ``kernel[0]`` multiplies for output sample 0 (negative: zero padding in front).
        phases: row length ``P``; 64 was fastest on the 2-core machine. Kernels of at most ``_DIRECT_TAPS`` taps
            are summed tap by tap instead (:func:`_correlate_direct`).

    Returns:
        float32 ``(..., time)``.
    """
    n_taps, n_samples = kernel.shape[-1], x.shape[-1]
    if n_taps <= _DIRECT_TAPS:
        return _correlate_direct(x, kernel, offset)
    signals = x.reshape(-1, n_samples).float()
    n_blocks = 1 + (phases + n_taps - 2) // phases  # rows of input that one row of output reads
    n_rows = -(-n_samples // phases)
    # W[j, q, p] = kernel[P j + q - p]: input row m + j, column q feeds output row m, column p
    index = (phases * torch.arange(n_blocks)[:, None, None] + torch.arange(phases)[None, :, None]
             - torch.arange(phases)[None, None, :])
    inside = (index >= 0) & (index < n_taps)
    weights = torch.where(inside, kernel.reshape(-1).float()[index.clamp(0, n_taps - 1)], 0.0).to(x.device)
    out = torch.empty(signals.shape[0], n_rows * phases, dtype=torch.float32, device=x.device)
    padded = torch.zeros((n_rows + n_blocks - 1) * phases, dtype=torch.float32, device=x.device)
    first, skip = max(0, -offset), max(0, offset)  # where x[skip] lands in the padded row buffer
    count = min(n_samples - skip, padded.shape[0] - first)
    with torch.no_grad():
        for signal, y in zip(signals, out):
            padded[first:first + count] = signal[skip:skip + count]
            rows, y_rows = padded.view(-1, phases), y.view(n_rows, phases)
            torch.matmul(rows[:n_rows], weights[0], out=y_rows)
            for j in range(1, n_blocks):
                y_rows.addmm_(rows[j:j + n_rows], weights[j])
    return out[:, :n_samples].reshape(x.shape)


_DIRECT_TAPS = 8  # kernels up to this long are correlated as shifted sums (the polyphase GEMMs cost P² per row)


def _correlate_direct(x: torch.Tensor, kernel: torch.Tensor, offset: int) -> torch.Tensor:
    """:func:`correlate_polyphase` of a short kernel as ``sum_k kernel[k] · x[n + k + offset]``, one shifted
    multiply-add per tap (3 taps: ~5x faster than 2 GEMMs of 64 x 64 per row of 64 samples)."""
    n_taps, n_samples = kernel.shape[-1], x.shape[-1]
    taps = kernel.reshape(-1).float().tolist()
    signals = x.reshape(-1, n_samples).float()
    out = torch.zeros_like(signals)
    with torch.no_grad():
        for k, tap in enumerate(taps):
            shift = k + offset  # out[n] += tap · x[n + shift] where 0 <= n + shift < n_samples
            lo, hi = max(0, -shift), min(n_samples, n_samples - shift)
            if tap != 0.0 and hi > lo:
                out[:, lo:hi].add_(signals[:, lo + shift:hi + shift], alpha=tap)
    return out.reshape(x.shape)


@contextlib.contextmanager
def single_threaded_ops():
    """Run torch's CPU ops single-threaded inside the block (threads started in it too); yields the number of
    threads there were, for the caller to spread independent work over that many Python threads instead.

    torch's intra-op threads meet at a barrier after every op; when another process holds a core that costs a
    scheduler slice (~8 ms measured on the shared 2-core machine) per op, while Python threads running
    single-threaded ops (which release the GIL) just share the cores. The setting is process-wide; restored after.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def crop_to_output(target: torch.Tensor, output_length: int, release: bool = False) -> torch.Tensor:
    """Crop a target to the time region a valid-convolution network (Wave-U-Net) outputs.

    Wave-U-Net returns ``time - 68`` samples, centred on its input (34 samples trimmed per side). The fixed
    behaviour keeps the centre of the target so output and target are aligned. With ``release=True`` it keeps the
    first ``output_length`` samples, which reproduces the original's loss exactly: it compared the centred output
    with the uncropped target, and its STFT frames only ever read those first samples, so every frame was offset by
    34 samples (spec §3.3).

    Args:
        target: ``(..., time)`` signal.
        output_length: number of samples of the network output.
        release: keep the release's misaligned (left-aligned) crop.

    Returns:
        View of ``target`` with shape ``(..., output_length)``.
    """
    n_samples = target.shape[-1]
    if not 0 < output_length <= n_samples:
        raise ValueError(f"output_length {output_length} must be in 1..{n_samples} (the target's length)")
    start = 0 if release else (n_samples - output_length) // 2
    return target[..., start:start + output_length]


def _check_pair(output: torch.Tensor, target: torch.Tensor) -> None:
    if output.shape != target.shape:
        raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} must have the same shape; "
                         "for a network with a shorter (valid) output use automix.losses.crop_to_output(target, ...)")


class StereoLoss(nn.Module):
    """Sum/difference stereo spectral loss La or Lb (Steinmetz et al. 2020; Martínez-Ramírez et al. ISMIR 2022).

    Both signals go through the FIR pre-filters in order, are split into ``S = L + R`` and ``D = L - R``, and
    turned into magnitude STFTs ``X`` (output) and ``Y`` (target) (``n_fft``/``hop_length``, periodic sqrt-Hann
    window, no centring); ``guard_frames`` frames are dropped at both ends. Then::

        loss = term(X_S, Y_S) + term(X_D, Y_D)
        term(X, Y) = A(X, Y) + mean|log(X + 1e-30) - log(Y + 1e-30)|
        La: A = ||Y - X||_F / ||Y||_F      (spectral convergence over the whole batch)
        Lb: A = mean((X - Y)^2)            (MSE of linear magnitudes; dominates numerically)

    Computed in float32 with autocast disabled, so it is the same under CUDA/CPU autocast.

    Args:
        kind: ``"La"`` or ``"Lb"``.
        filters: pre-filter types applied in order (``"aw"``, ``"lp"``, ``"hp"``, ``"fd"``); ``()`` for none.
        n_fft: STFT size in samples.
        hop_length: STFT hop in samples.
        guard_frames: frames removed at each end of the STFT (30 for the ISMIR configs, spec §5.5).
        sample_rate: sampling rate in Hz (A-weighting design).
        release_delay: pad the pre-filters like the original release (3-tap filters delayed by 49 samples).

    Shape:
        output, target: ``(n_targets, batch, 2, time)`` (any leading dims; channels second to last) -> scalar.
    """

    def __init__(self, kind: str = "Lb", filters=("aw", "lp"), n_fft: int = 4096, hop_length: int = 1024,
                 guard_frames: int = 30, sample_rate: int = SAMPLE_RATE, release_delay: bool = False):
        super().__init__()
        if kind not in ("La", "Lb"):
            raise ValueError(f"unknown stereo loss kind {kind!r}; expected 'La' or 'Lb'")
        if guard_frames < 0:
            raise ValueError(f"guard_frames must be >= 0, got {guard_frames}")
        self.kind = kind
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.guard_frames = guard_frames
        if isinstance(filters, str):
            filters = (filters,)
        self.filters = nn.ModuleList(FIRFilter(name, sample_rate=sample_rate, release_delay=release_delay)
                                     for name in filters)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64).sqrt()
        self.register_buffer("window", window.float())

    def magnitude(self, x: torch.Tensor) -> torch.Tensor:
        """Guarded magnitude STFT ``(..., time)`` -> ``(..., n_fft // 2 + 1, n_frames - 2 * guard_frames)``."""
        n_samples = x.shape[-1]
        n_frames = 1 + (n_samples - self.n_fft) // self.hop_length if n_samples >= self.n_fft else 0
        if n_frames <= 2 * self.guard_frames:
            raise ValueError(f"{n_samples} samples give {n_frames} STFT frames (n_fft {self.n_fft}, hop "
                             f"{self.hop_length}): need more than 2 * guard_frames = {2 * self.guard_frames}")
        spec = torch.stft(x.reshape(-1, n_samples), self.n_fft, self.hop_length, window=self.window.float(),
                          center=False, return_complex=True).abs()
        spec = spec[..., self.guard_frames:n_frames - self.guard_frames]
        return spec.reshape(*x.shape[:-1], *spec.shape[-2:])

    def spectral_term(self, x_mag: torch.Tensor, y_mag: torch.Tensor) -> torch.Tensor:
        """First term A: spectral convergence (La) or MSE of linear magnitudes (Lb)."""
        if self.kind == "La":
            return torch.linalg.vector_norm(y_mag - x_mag) / torch.linalg.vector_norm(y_mag)
        return F.mse_loss(x_mag, y_mag)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(output, target)
        if output.shape[-2] != 2:
            raise ValueError(f"StereoLoss needs 2 channels on dim -2, got shape {tuple(output.shape)}")
        with torch.autocast(device_type=output.device.type, enabled=False):
            pair = torch.stack([output.float(), target.float()])  # a new tensor: the inputs are never written to
            for fir in self.filters:
                pair = fir(pair)
            mid_side = torch.stack([pair[..., 0, :] + pair[..., 1, :], pair[..., 0, :] - pair[..., 1, :]])
            mags = self.magnitude(mid_side)  # (2 [S, D], 2 [out, tar], ..., bins, frames)
            loss = output.new_zeros((), dtype=torch.float32)
            for x_mag, y_mag in mags:
                log_l1 = F.l1_loss(torch.log(x_mag + _LOG_EPS), torch.log(y_mag + _LOG_EPS))
                loss = loss + self.spectral_term(x_mag, y_mag) + log_l1
        return loss

    @torch.no_grad()
    def evaluate(self, output: torch.Tensor, target: torch.Tensor, block_frames: int = 64) -> dict:
        """Both losses ``{"La": ..., "Lb": ...}`` (floats) of one long pair with this module's filters, STFT and
        guards, without gradient: for evaluating whole songs. The values are :meth:`forward`'s of ``StereoLoss("La")``
        and ``StereoLoss("Lb")`` computed with float64 sums (the tests compare with a float64 reference): on a 3-min
        song forward's float32 ``vector_norm`` is off by ~4e-4 of La's spectral convergence, these sums are not.

        The pre-filters and the STFT, shared by both losses, run once; the filters as :func:`correlate_polyphase`
        (BLAS, or shifted sums for 3-tap kernels) instead of the one-channel ``conv1d``; the STFT ``block_frames``
        frames at a time, each block reduced at once to the sums of ``(Y - X)²``, ``Y²`` and
        ``|log(X + 1e-30) - log(Y + 1e-30)|`` per mid/side signal in one pass
        (:func:`automix.evaluation.kernels.magnitude_distance_sums`, a numba kernel on the CPU copy of the block's
        spectrum), so no spectrogram of the whole song is made (a 3-min song's is ~0.5 GB, whose page faults cost
        more than the FFTs). The blocks are spread over ``torch.get_num_threads()`` Python threads running
        single-threaded ops: intra-op threads meet at a barrier after every op, which on a busy machine costs ~8 ms
        per op.

        Shape:
            output, target: ``(..., 2, time)`` -> ``{"La": float, "Lb": float}``.
        """
        _check_pair(output, target)
        if output.shape[-2] != 2:
            raise ValueError(f"StereoLoss needs 2 channels on dim -2, got shape {tuple(output.shape)}")
        n_samples = output.shape[-1]
        n_frames = 1 + (n_samples - self.n_fft) // self.hop_length if n_samples >= self.n_fft else 0
        if n_frames <= 2 * self.guard_frames:
            raise ValueError(f"{n_samples} samples give {n_frames} STFT frames (n_fft {self.n_fft}, hop "
                             f"{self.hop_length}): need more than 2 * guard_frames = {2 * self.guard_frames}")
        from automix.evaluation.kernels import magnitude_distance_sums  # lazy: numba

        batch = output[..., 0, 0].numel()
        window = self.window.float()
        eps = np.float32(_LOG_EPS)

        def filtered(signal: torch.Tensor) -> torch.Tensor:
            for fir in self.filters:
                signal = correlate_polyphase(signal, fir.kernel, fir.start - fir.padding)
            return signal

        def block_sums(first: int) -> torch.Tensor:
            size = min(block_frames, n_frames - self.guard_frames - first)
            lo = first * self.hop_length
            hi = lo + (size - 1) * self.hop_length + self.n_fft
            pair = torch.stack([signal[lo:hi] for signal in signals]).view(2, batch, 2, hi - lo)
            mid_side = torch.stack([pair[:, :, 0] + pair[:, :, 1], pair[:, :, 0] - pair[:, :, 1]])
            spectra = torch.stft(mid_side.view(-1, hi - lo), self.n_fft, self.hop_length, window=window,
                                 center=False, return_complex=True).cpu().numpy().reshape(2, 2, -1)
            # (2 [S, D], 2 [output, target], batch * bins * frames): per S/D the three sums in one pass
            return torch.tensor([magnitude_distance_sums(x, y, eps) for x, y in spectra], dtype=torch.float64)

        with torch.autocast(device_type=output.device.type, enabled=False):
            # one-channel signals in the order (output/target, batch, L/R): views, not a stacked copy of the song
            signals = [*output.float().reshape(-1, n_samples), *target.float().reshape(-1, n_samples)]
            with single_threaded_ops() as threads, ThreadPoolExecutor(threads) as pool:
                signals = list(pool.map(filtered, signals))
                firsts = range(self.guard_frames, n_frames - self.guard_frames, block_frames)
                sums = torch.stack(list(pool.map(block_sums, firsts))).sum(dim=0)  # (2 [S, D], 3)
        count = batch * (self.n_fft // 2 + 1) * (n_frames - 2 * self.guard_frames)
        squared, energy, log_l1 = sums[:, 0], sums[:, 1], sums[:, 2] / count
        return {"La": float((squared.sqrt() / energy.sqrt() + log_l1).sum()),
                "Lb": float((squared / count + log_l1).sum())}

    def extra_repr(self) -> str:
        return (f"kind={self.kind!r}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"guard_frames={self.guard_frames}")


class TimeL1Loss(nn.Module):
    """Time-domain L1 loss ``mean|output - target|`` over the samples inside the guards (spec §4.1, §4.4).

    Used to pre-train the FxNorm-Automix front-end (guards 32446 samples per side for 132288-sample segments).

    Args:
        guard_left: samples ignored at the start of the time axis.
        guard_right: samples ignored at the end of the time axis.

    Shape:
        output, target: ``(..., time)`` -> scalar (float32).
    """

    def __init__(self, guard_left: int = 0, guard_right: int = 0):
        super().__init__()
        if guard_left < 0 or guard_right < 0:
            raise ValueError(f"guards must be >= 0, got {guard_left}, {guard_right}")
        self.guard_left = guard_left
        self.guard_right = guard_right

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(output, target)
        n_samples = output.shape[-1]
        stop = n_samples - self.guard_right
        if stop <= self.guard_left:
            raise ValueError(f"{n_samples} samples leave nothing inside guards {self.guard_left}/{self.guard_right}")
        with torch.autocast(device_type=output.device.type, enabled=False):
            return F.l1_loss(output[..., self.guard_left:stop].float(), target[..., self.guard_left:stop].float())

    def extra_repr(self) -> str:
        return f"guard_left={self.guard_left}, guard_right={self.guard_right}"
