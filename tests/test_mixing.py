"""Chunked mixing: equals the one-pass forward (FxNorm-Automix), windowing with guards (Wave-U-Net), bad input."""

import pytest
import torch
from torch.nn import functional as F

from automix.mixing import mix, mix_wave_u_net
from automix.models import FxNormAutomix, WaveUNet, build_model
from release_reference import release_forward

MIX_CONFIG = {"NET_TYPE": "CAFX_TDCN_MIX", "PRETRAIN": False, "INPUTS": ["v", "b", "d", "o"], "N_CHANNELS": 2,
              "TARGETS": [["mixture"]]}


@pytest.fixture(scope="module")
def fxnorm():
    return build_model(MIX_CONFIG, seed=0).eval()


def _stems(n_samples, batch=None, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shape = (8, n_samples) if batch is None else (batch, 8, n_samples)
    # Stems with a loud and a quiet section, so chunks differ in level (the global SE/norm statistics matter).
    x = (torch.rand(shape, generator=generator) - 0.5) * 0.6
    return x * torch.linspace(0.05, 1.0, n_samples) ** 2


@pytest.mark.parametrize("conv_impl", ["fft", "direct"])
def test_chunked_fxnorm_mix_equals_one_pass_forward(fxnorm, conv_impl):
    fxnorm.conv_impl = conv_impl
    stems = _stems(64 * 500 + 37)  # not a multiple of 64: mix() pads the end and trims
    padded = F.pad(stems, (0, (-stems.shape[-1]) % 64)).unsqueeze(0)
    with torch.inference_mode():
        one_pass = release_forward(fxnorm, padded)[0, 0, :, :stems.shape[-1]]
    for chunk_seconds in (0.05, 60.0):  # 15 chunks (2205 -> 2176 samples, last one shorter), a single chunk
        mixed = mix(fxnorm, stems, chunk_seconds=chunk_seconds)
        assert mixed.shape == (2, stems.shape[-1]) and not mixed.requires_grad
        assert (mixed - one_pass).abs().max() < 1e-4, chunk_seconds
    assert one_pass.abs().max() > 1e-3  # the comparison is not between two silent signals
    fxnorm.conv_impl = "fft"


def test_batched_mix_equals_per_item_mix(fxnorm):
    stems = _stems(64 * 150, batch=2, seed=1)
    mixed = mix(fxnorm, stems, chunk_seconds=0.1)
    assert mixed.shape == (2, 2, 64 * 150)
    for item in range(2):
        assert (mixed[item] - mix(fxnorm, stems[item], chunk_seconds=0.1)).abs().max() < 1e-5


def test_wave_u_net_windows_match_one_pass_within_a_window_and_release_offset():
    model = WaveUNet(n_features=8, levels=3).eval()  # shrink 4 * 9 = 36 samples
    half = model.shrink // 2
    stems = _stems(1000).unsqueeze(0)
    with torch.inference_mode():
        # One window covering the whole zero-padded input: identical to the one-pass output, aligned with the input.
        single = mix_wave_u_net(model, stems, window=1000 + 2 * 50, guard=50)
        one_pass = model(F.pad(stems, (50, 50)))[..., 50 - half:50 - half + 1000]
        assert torch.allclose(single, one_pass, atol=1e-6)
        many = mix_wave_u_net(model, stems, window=300, guard=50)  # 5 windows of hop 200
        release = mix_wave_u_net(model, stems, window=300, guard=50, release_alignment=True)
    assert many.shape == release.shape == (1, 1, 2, 1000)
    # The release keeps output samples shifted by half the shrink: its sample t is the aligned sample t + 18.
    assert torch.allclose(release[..., :200 - half], many[..., half:200], atol=1e-6)
    with pytest.raises(ValueError, match="guard"):
        mix_wave_u_net(model, stems, window=300, guard=10)


def test_mix_rejects_bad_input(fxnorm):
    with pytest.raises(ValueError, match="stems must be"):
        mix(fxnorm, torch.zeros(100))
    with pytest.raises(ValueError, match=r"\(batch, 8, time\)"):
        mix(fxnorm, torch.zeros(6, 6400))
    with pytest.raises(ValueError, match="empty"):
        mix(fxnorm, torch.zeros(8, 0))
    pretraining = build_model({**MIX_CONFIG, "NET_TYPE": "CAFX_TDCN", "PRETRAIN": True}).eval()
    with pytest.raises(ValueError, match="pre-training"):
        mix(pretraining, torch.zeros(8, 6400))
    assert isinstance(fxnorm, FxNormAutomix)
