"""Tests of automix.losses: parity with the original losses, known answers, guards, filters, precision."""
import math

import numpy as np
import pytest
import scipy.signal
import torch

from automix.losses import (FIRFilter, StereoLoss, TimeL1Loss, correlate_polyphase, crop_to_output,
                            design_a_weighting_fir, single_threaded_ops)

N_FFT, HOP = 4096, 1024
PARITY_LOSSES = [("La", (), "La_nofilter"), ("La", ("aw", "lp"), "La_aw+lp"),
                 ("Lb", (), "Lb_nofilter"), ("Lb", ("aw", "lp"), "Lb_aw+lp")]


def _signals(n_frames=12, seed=0, shape=(1, 2, 2)):
    """Short random stereo output/target pair (n_targets, batch, 2, time) giving ``n_frames`` STFT frames."""
    gen = torch.Generator().manual_seed(seed)
    n_samples = N_FFT + HOP * (n_frames - 1)
    target = 0.1 * torch.randn(*shape, n_samples, generator=gen)
    output = target + 0.05 * torch.randn(*shape, n_samples, generator=gen)
    return output, target


@pytest.fixture(scope="module")
def parity(reference_dir):
    return torch.load(reference_dir / "parity" / "losses.pt", weights_only=True)


# ---------------------------------------------------------------- parity with the original release
@pytest.mark.parametrize("kind, filters, key", PARITY_LOSSES)
def test_stereo_loss_matches_release_fixture(parity, kind, filters, key):
    loss = StereoLoss(kind, filters, guard_frames=parity["f_guard"], release_delay=True)
    value = loss(parity["out"], parity["tar"]).item()
    assert value == pytest.approx(parity[key].item(), rel=1e-4)


def test_time_l1_matches_release_fixture(parity):
    value = TimeL1Loss()(parity["out"], parity["tar"]).item()
    assert value == pytest.approx(parity["L1_time"].item(), rel=1e-4)


def test_fixture_was_made_with_release_delay(parity):
    # Lb with aw+lp: the release padding matches to ~1e-7, the centred filters differ by ~1.7e-5 (a 49-sample
    # shift of the STFT frames); this pins down which variant the fixture used.
    reference = parity["Lb_aw+lp"].item()
    errors = {}
    for release_delay in (True, False):
        loss = StereoLoss("Lb", ("aw", "lp"), guard_frames=parity["f_guard"], release_delay=release_delay)
        errors[release_delay] = abs(loss(parity["out"], parity["tar"]).item() / reference - 1)
    assert errors[True] < 3e-6 < 5e-6 < errors[False]


# ---------------------------------------------------------------- known answers
def test_la_and_lb_differ_only_in_first_term():
    # output = 0.5 * target => X = 0.5 Y for every bin (filters and STFT are linear): La's spectral convergence is
    # 0.5 per channel and the log term log(2) per channel, so La = 1 + 2 log 2; Lb replaces 0.5 by mean((0.5 Y)^2).
    _, target = _signals()
    output = 0.5 * target
    la = StereoLoss("La", guard_frames=2)(output, target).item()
    lb = StereoLoss("Lb", guard_frames=2)(output, target).item()
    assert la == pytest.approx(1 + 2 * math.log(2), rel=1e-5)

    filtered = target.numpy().astype(np.float64)
    for name in ("aw", "lp"):
        kernel = FIRFilter(name).kernel.flatten().double().numpy()
        filtered = scipy.signal.correlate(filtered, kernel[None, None, None], mode="same")
    window = np.sqrt(scipy.signal.get_window("hann", N_FFT))
    mse_sum = 0.0
    for side in (filtered[..., 0, :] + filtered[..., 1, :], filtered[..., 0, :] - filtered[..., 1, :]):
        frames = np.lib.stride_tricks.sliding_window_view(side, N_FFT, axis=-1)[..., ::HOP, :][..., 2:-2, :]
        magnitude = np.abs(np.fft.rfft(frames * window, axis=-1))
        mse_sum += np.mean((0.5 * magnitude) ** 2)
    assert lb - la == pytest.approx(mse_sum - 1.0, rel=1e-4)


@pytest.mark.parametrize("kind", ["La", "Lb"])
@pytest.mark.parametrize("release_delay", [False, True])
def test_identical_inputs_give_zero_loss(kind, release_delay):
    _, target = _signals()
    loss = StereoLoss(kind, guard_frames=2, release_delay=release_delay)
    assert loss(target.clone(), target).item() == pytest.approx(0.0, abs=1e-6)
    magnitude = loss.magnitude(target[..., 0, :])
    assert loss.spectral_term(magnitude, magnitude.clone()).item() == 0.0


def test_stereo_loss_guards_ignore_edge_frames():
    output, target = _signals(n_frames=12)
    loss = StereoLoss("Lb", guard_frames=3)
    reference = loss(output, target)
    # frames 3..8 read samples [3 * HOP, 8 * HOP + N_FFT); the filters reach 51 samples further
    first_kept, last_kept = 3 * HOP - 60, 8 * HOP + N_FFT + 60
    changed = output.clone()
    changed[..., :first_kept] = 1.0
    changed[..., last_kept:] = -1.0
    assert torch.equal(loss(changed, target), reference)
    changed[..., 3 * HOP + 100] += 1.0  # inside the first kept frame
    assert not torch.allclose(loss(changed, target), reference)


def test_time_l1_guards_in_samples():
    output, target = _signals()
    loss = TimeL1Loss(guard_left=100, guard_right=200)
    reference = loss(output, target)
    assert reference.item() == pytest.approx((output - target)[..., 100:-200].abs().mean().item(), rel=1e-6)
    changed = output.clone()
    changed[..., :100] = 5.0
    changed[..., -200:] = 5.0
    assert torch.equal(loss(changed, target), reference)
    changed[..., 100] = 5.0
    assert loss(changed, target).item() > reference.item()


# ---------------------------------------------------------------- pre-filters
def test_a_weighting_fir_response_matches_spec():
    kernel = FIRFilter("aw").kernel.flatten().double().numpy()
    np.testing.assert_allclose(kernel, design_a_weighting_fir(), rtol=1e-6, atol=1e-9)  # float32 storage
    np.testing.assert_allclose(kernel, kernel[::-1])  # linear phase
    spec_db = {31.5: -19.6, 125: -16.1, 500: -3.3, 1000: -0.1, 2000: 1.1, 4000: 1.0, 8000: -1.8, 16000: -15.3}
    _, response = scipy.signal.freqz(kernel, worN=list(spec_db), fs=44100)
    np.testing.assert_allclose(20 * np.log10(np.abs(response)), list(spec_db.values()), atol=0.5)


def test_low_pass_response():
    _, response = scipy.signal.freqz(FIRFilter("lp").kernel.flatten().numpy(), worN=[0, 22050], fs=44100)
    np.testing.assert_allclose(20 * np.log10(np.abs(response)), [5.34, -16.48], atol=0.01)


def test_release_delay_reproduces_delayed_impulse_response():
    impulse = torch.zeros(1, 1, 400)
    impulse[..., 100] = 1.0
    delayed = FIRFilter("lp", release_delay=True)(impulse).flatten()
    centred = FIRFilter("lp")(impulse).flatten()
    assert delayed.nonzero().flatten().tolist() == [149, 150]
    assert delayed[149].item() == pytest.approx(0.85) and delayed[150].item() == 1.0
    assert centred.nonzero().flatten().tolist() == [100, 101]
    assert centred[100].item() == pytest.approx(0.85) and centred[101].item() == 1.0
    # release drops the last 49 samples of the input
    tail = torch.zeros(1, 1, 400)
    tail[..., 360] = 1.0
    assert FIRFilter("lp", release_delay=True)(tail).abs().sum().item() == 0.0
    # the 101-tap A-weighting is centred in both modes
    aw_release = FIRFilter("aw", release_delay=True)(impulse).flatten()
    aw_fixed = FIRFilter("aw")(impulse).flatten()
    assert torch.equal(aw_release, aw_fixed)
    assert aw_fixed.abs().argmax().item() == 100
    torch.testing.assert_close(aw_fixed[50:100], aw_fixed[101:151].flip(0))


@pytest.mark.parametrize("name", ["aw", "lp", "hp", "fd"])
def test_filter_kernels_are_float32_buffers(name):
    fir = FIRFilter(name)
    assert fir.kernel.dtype == torch.float32
    assert list(fir.parameters()) == [] and "kernel" in dict(fir.named_buffers())
    assert list(StereoLoss().parameters()) == []


def test_half_cast_module_still_runs_in_float32():
    output, target = _signals()
    expected = StereoLoss("Lb", guard_frames=2)(output, target)
    value = StereoLoss("Lb", guard_frames=2).half()(output, target)  # half kernels would fail on CPU
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, expected, rtol=1e-2, atol=0)


def test_unknown_filter_and_kind_raise():
    with pytest.raises(ValueError, match="unknown FIR filter"):
        FIRFilter("xx")
    with pytest.raises(ValueError, match="'La' or 'Lb'"):
        StereoLoss("Lc")


# ---------------------------------------------------------------- safety: inputs, gradients, precision
@pytest.mark.parametrize("release_delay", [False, True])
def test_inputs_not_modified_and_gradients_flow(release_delay):
    output, target = _signals()
    output.requires_grad_(True)
    output_copy, target_copy = output.detach().clone(), target.clone()
    for loss in (StereoLoss("La", guard_frames=2, release_delay=release_delay),
                 StereoLoss("Lb", guard_frames=2, release_delay=release_delay), TimeL1Loss(10, 10)):
        output.grad = None
        loss(output, target).backward()
        assert torch.equal(output.detach(), output_copy) and torch.equal(target, target_copy)
        assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
    filtered = FIRFilter("aw")(target)
    assert torch.equal(target, target_copy) and not torch.equal(filtered, target)


def test_cpu_autocast_bfloat16_matches_float32():
    output, target = _signals()
    loss = StereoLoss("Lb", guard_frames=2)
    expected = loss(output, target)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        same_inputs = loss(output, target)
        bf16_inputs = loss(output.bfloat16(), target.bfloat16())
    assert same_inputs.dtype == torch.float32
    torch.testing.assert_close(same_inputs, expected, rtol=1e-6, atol=0)
    # bfloat16 inputs (as a network under autocast returns) only lose their own rounding
    torch.testing.assert_close(bf16_inputs, expected, rtol=2e-2, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CUDA autocast cannot be tested here")
def test_cuda_autocast_float16_matches_cpu():
    output, target = _signals()
    expected = StereoLoss("Lb", guard_frames=2)(output, target)
    loss = StereoLoss("Lb", guard_frames=2).cuda()
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        value = loss(output.cuda(), target.cuda())
    assert value.dtype == torch.float32
    torch.testing.assert_close(value.cpu(), expected, rtol=1e-4, atol=0)


# ---------------------------------------------------------------- shapes and Wave-U-Net alignment
def test_crop_to_output_centres_or_keeps_release_offset():
    target = torch.arange(168.0).view(1, 1, 1, 168)
    assert crop_to_output(target, 100)[..., 0].item() == 34.0
    assert crop_to_output(target, 100, release=True)[..., 0].item() == 0.0
    with pytest.raises(ValueError, match="output_length"):
        crop_to_output(target, 200)


def test_release_crop_reproduces_uncropped_target_frames():
    # The release compared a (T - 68)-sample output with the full T-sample target; both gave the same number of
    # frames, which read only the first T - 68 target samples: the left-aligned crop gives the same magnitudes.
    n_samples = N_FFT + HOP * 5 + 200
    target = torch.randn(1, 1, 2, n_samples, generator=torch.Generator().manual_seed(1))
    loss = StereoLoss(guard_frames=1, release_delay=True)
    full = loss.magnitude(loss.filters[1](loss.filters[0](target)))
    cropped_input = crop_to_output(target, n_samples - 68, release=True)
    cropped = loss.magnitude(loss.filters[1](loss.filters[0](cropped_input)))
    assert full.shape == cropped.shape
    torch.testing.assert_close(cropped, full, rtol=1e-5, atol=1e-5)


def test_shape_errors_are_clear():
    output, target = _signals()
    with pytest.raises(ValueError, match="crop_to_output"):
        StereoLoss()(output[..., :-68], target)
    with pytest.raises(ValueError, match="STFT frames"):
        StereoLoss(guard_frames=30)(output, target)
    with pytest.raises(ValueError, match="2 channels"):
        StereoLoss(guard_frames=2)(output[..., :1, :], target[..., :1, :])
    with pytest.raises(ValueError, match="nothing inside guards"):
        TimeL1Loss(10, 10)(output[..., :15], target[..., :15])


# ---------------------------------------------------------------- evaluation of whole songs (no gradient)
@pytest.mark.parametrize("name", ["aw", "lp", "hp", "fd"])
@pytest.mark.parametrize("release_delay", [False, True])
def test_polyphase_correlation_equals_the_filters_conv1d(name, release_delay):
    fir = FIRFilter(name, release_delay=release_delay)
    x = torch.randn(3, 40000, generator=torch.Generator().manual_seed(4))  # > 4 blocks: the blocked conv1d path
    expected = fir(x)
    for phases in (16, 64):
        y = correlate_polyphase(x, fir.kernel, fir.start - fir.padding, phases=phases)
        assert y.shape == x.shape
        torch.testing.assert_close(y, expected, rtol=0, atol=2e-6)  # float32 sums in another order


def _float64_losses(loss, output, target):
    """La and Lb of forward's definition with the filters, STFT and sums all in float64 (evaluate's reference)."""
    pair = torch.stack([output, target]).double()
    n = pair.shape[-1]
    for fir in loss.filters:
        y = torch.nn.functional.conv1d(pair.reshape(-1, 1, n), fir.kernel.double(), padding=fir.padding)
        pair = y[..., fir.start:fir.start + n].reshape(pair.shape)
    mid_side = torch.stack([pair[..., 0, :] + pair[..., 1, :], pair[..., 0, :] - pair[..., 1, :]])
    spec = torch.stft(mid_side.reshape(-1, n), N_FFT, HOP, window=loss.window.double(), center=False,
                      return_complex=True).abs()
    g = loss.guard_frames
    mags = spec[..., g:spec.shape[-1] - g].reshape(2, 2, -1)
    values = {"La": 0.0, "Lb": 0.0}
    for x_mag, y_mag in mags:
        log_l1 = (torch.log(x_mag + 1e-30) - torch.log(y_mag + 1e-30)).abs().mean()
        values["La"] += float(torch.linalg.vector_norm(y_mag - x_mag) / torch.linalg.vector_norm(y_mag) + log_l1)
        values["Lb"] += float(((x_mag - y_mag) ** 2).mean() + log_l1)
    return values


@pytest.mark.parametrize("guard_frames, release_delay", [(0, False), (3, False), (2, True)])
def test_evaluate_gives_both_losses_with_float64_sums(guard_frames, release_delay):
    output, target = _signals(n_frames=150, shape=(2, 1, 2))  # 150 frames: 3 blocks of 64, the last one short
    loss = StereoLoss("La", guard_frames=guard_frames, release_delay=release_delay)
    values = loss.evaluate(output, target)
    expected = _float64_losses(loss, output, target)
    # float32 filters and STFT, float64 sums: within ~3e-6 of the float64 values over seeds (the A-weighting leaves
    # low-frequency bins near float32 rounding level, which the log term sees); forward is ~3e-5 off (float32 norms)
    assert values["La"] == pytest.approx(expected["La"], rel=5e-6)
    assert values["Lb"] == pytest.approx(expected["Lb"], rel=5e-6)
    for kind in ("La", "Lb"):  # and forward's float32 values to their rounding
        forward = StereoLoss(kind, guard_frames=guard_frames, release_delay=release_delay)(output, target).item()
        assert values[kind] == pytest.approx(forward, rel=1e-4)
    assert loss.evaluate(target, target.clone()) == {"La": 0.0, "Lb": 0.0}


def test_evaluate_checks_shapes_and_restores_torch_threads():
    output, target = _signals(n_frames=12)
    threads = torch.get_num_threads()
    with single_threaded_ops() as yielded:
        assert yielded == threads and torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="guard_frames"):
        StereoLoss(guard_frames=6).evaluate(output, target)
    with pytest.raises(ValueError, match="2 channels"):
        StereoLoss(guard_frames=2).evaluate(output[..., :1, :], target[..., :1, :])
    with pytest.raises(ValueError, match="same shape"):
        StereoLoss(guard_frames=2).evaluate(output[..., :-1], target)
    assert torch.get_num_threads() == threads
