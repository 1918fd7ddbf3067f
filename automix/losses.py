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

import logging

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
        return F.conv1d(x, kernel, padding=padding)

    @staticmethod
    def backward(ctx, grad):
        (kernel,) = ctx.saved_tensors
        edge = kernel.shape[-1] - 1 - ctx.padding
        if edge >= 0:
            grad_x = F.conv1d(F.pad(grad, (edge, edge)), kernel.flip(-1))
        else:  # more padding than taps: the outermost output samples saw only zeros
            grad_x = F.conv1d(grad[..., -edge:grad.shape[-1] + edge], kernel.flip(-1))
        return grad_x, None, None


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
