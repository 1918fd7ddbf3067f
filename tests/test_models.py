"""Networks: parity with the original release, parameter counts, guards, weight loading, fast == plain forward."""

import json

import pytest
import torch

from automix.losses import StereoLoss
from automix.models import (FRONT_END_MODULES, FxNormAutomix, WaveUNet, build_model, guard_samples_for_config,
                            load_weights)
from automix.models import inference_latent
from automix.receptive_field import guard_samples
from automix.models.fft_conv import (CachedFFTCorrelation, CachedFFTDepthwiseCorrelation, fft_correlate,
                                     fft_depthwise_correlate, fft_transposed_conv)
from release_reference import release_forward

NAMES = ("ours_S_Lb", "ours_S_pretrained", "wun_S_Lb")


@pytest.fixture(scope="module")
def parity_dir(reference_dir):
    path = reference_dir / "parity"
    if not path.is_dir():
        pytest.skip(f"parity fixtures not found at {path}")
    return path


def _config(parity_dir, name):
    return json.loads((parity_dir / f"{name}.config.json").read_text())


def _loaded(parity_dir, name):
    model = build_model(_config(parity_dir, name))
    model.load_state_dict(torch.load(parity_dir / f"{name}.params", weights_only=True), strict=True)
    return model.eval()


MIX_CONFIG = {"NET_TYPE": "CAFX_TDCN_MIX", "PRETRAIN": False, "INPUTS": ["v", "b", "d", "o"], "N_CHANNELS": 2,
              "TARGETS": [["mixture"]]}
PRE_CONFIG = {**MIX_CONFIG, "NET_TYPE": "CAFX_TDCN", "PRETRAIN": True}
WUN_CONFIG = {"NET_TYPE": "WAVEUNET", "N_FEATURES_ENCODER": 24, "KERNEL_SIZE_ENCODER": 5, "LEVELS": 5,
              "STRIDES": 1, "FEATURE_GROWTH": "double", "CONV_TYPE": "gn", "RES": "fixed", "DEPTH": 1,
              "INPUTS": ["v", "b", "d", "o"], "N_CHANNELS": 2, "TARGETS": [["mixture"]],
              "TRAINING_SEQ_LENGTH": 440960, "OUTPUT_SEQ_LENGTH": 440892}


@pytest.mark.parametrize("name", ["ours_S_Lb", "ours_S_pretrained"])
def test_fxnorm_parity_with_release(parity_dir, name):
    model = _loaded(parity_dir, name)
    fixture = torch.load(parity_dir / f"{name}.pt", weights_only=True)
    with torch.inference_mode():
        for impl in ("fft", "direct"):
            model.conv_impl = impl
            out = model(fixture["input"])
            assert out.shape == fixture["output"].shape
            assert (out - fixture["output"]).abs().max() < 1e-4, impl
        reference = release_forward(model, fixture["input"])
    assert (reference - fixture["output"]).abs().max() < 1e-4


def test_wave_u_net_parity_with_release(parity_dir):
    # One 10-s window through a 2.5M-MAC-per-sample network: the slowest test here (~30 s on 2 cores).
    model = _loaded(parity_dir, "wun_S_Lb")
    fixture = torch.load(parity_dir / "wun_S_Lb.pt", weights_only=True)
    with torch.inference_mode():
        out = model(fixture["input"])
    assert out.shape == fixture["output"].shape == (1, 1, 2, 440892)
    assert (out - fixture["output"]).abs().max() < 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_keys_and_guards_match_release_configs(parity_dir, name):
    config = _config(parity_dir, name)
    state = torch.load(parity_dir / f"{name}.params", weights_only=True)
    assert list(build_model(config).state_dict()) == list(state)
    assert guard_samples_for_config(config) == config["GUARD_LEFT"] == {"wun_S_Lb": 32540}.get(name, 32446)


def test_parameter_counts():
    ours, pre, wun = build_model(MIX_CONFIG), build_model(PRE_CONFIG), \
        build_model(WUN_CONFIG)
    count = lambda m, trainable=False: sum(p.numel() for p in m.parameters() if p.requires_grad or not trainable)
    assert count(ours) == count(ours, True) == 2_752_817
    assert pre.pretrain and count(pre) == 2_752_817 and count(pre, True) == 379_904
    assert count(wun) == 2_477_162 and count(wun, True) == 2_455_562


def test_receptive_field_helper():
    assert guard_samples() == 505 * 64 + 63 + 63 == 32446
    assert guard_samples(kernel_size_encoder=128) - 34 == 32540
    assert guard_samples(kernel_size_tb=3, n_tb_per_repeat=2, n_repeats=1, max_pooling=4) == 7 * 4 + 126


def test_pretraining_freezes_all_but_front_end_and_blstm():
    model = build_model(PRE_CONFIG)
    trainable = {name.split(".", 1)[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"conv_1", "conv_2", "blstm"}


def test_seeded_build_is_reproducible_and_chrono_initialized():
    a, b, c = (build_model(MIX_CONFIG, seed=s) for s in (3, 3, 4))
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert not torch.equal(a.conv_1.weight, c.conv_1.weight)
    hidden = a.blstm.hidden_size
    for name, bias in a.blstm.named_parameters():
        if name.startswith("bias"):
            forget = bias[hidden:2 * hidden]
            assert torch.all((forget >= 0) & (forget <= torch.log(torch.tensor(31.0)))) and forget.std() > 0.3
            assert torch.equal(bias[:hidden], -forget)
            assert not bias[2 * hidden:].any()


def test_front_end_transfer_loads_only_conv_1_and_conv_2():
    pretrained = build_model(PRE_CONFIG, seed=1).state_dict()
    model = build_model(MIX_CONFIG, seed=2)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_weights(model, pretrained, front_end_only=True)
    assert report.loaded == ["conv_1.weight", "conv_2.0.weight"]
    for key, value in model.state_dict().items():
        expected = pretrained[key] if key.split(".", 1)[0] in FRONT_END_MODULES else fresh[key]
        assert torch.equal(value, expected), key
    assert not torch.equal(pretrained["conv_1.weight"], fresh["conv_1.weight"])
    with pytest.raises(KeyError, match="front-end"):
        load_weights(model, build_model(WUN_CONFIG).state_dict(), front_end_only=True)
    with pytest.raises(RuntimeError, match="Missing key"):
        load_weights(model, {"conv_1.weight": pretrained["conv_1.weight"]})


def test_fast_forward_gives_the_same_loss_and_gradients_as_the_plain_forward():
    model = build_model(MIX_CONFIG, seed=0).train()
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(2, 8, 64 * 200, generator=generator) - 0.5) * 0.4
    target = (torch.rand(1, 2, 2, 64 * 200, generator=generator) - 0.5) * 0.4
    loss_fn = StereoLoss("Lb", guard_frames=2)
    results = []
    for forward in (lambda x: release_forward(model, x), model.forward):
        model.zero_grad()
        torch.manual_seed(5)  # same BLSTM dropout draws
        loss = loss_fn(forward(x), target)
        loss.backward()
        results.append((loss.item(), model.conv_1.weight.grad.clone(), model.se_block.net[0].weight.grad.clone()))
    (loss_ref, g1_ref, g2_ref), (loss_fast, g1, g2) = results
    assert loss_fast == pytest.approx(loss_ref, rel=1e-5)
    for grad, grad_ref in ((g1, g1_ref), (g2, g2_ref)):
        assert torch.linalg.vector_norm(grad - grad_ref) < 1e-4 * torch.linalg.vector_norm(grad_ref)


def test_fft_convolutions_equal_direct_convolutions():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 3000, generator=generator)
    dense, depthwise = torch.randn(16, 8, 64, generator=generator), torch.randn(8, 1, 128, generator=generator)
    direct = torch.nn.functional.conv1d(torch.nn.functional.pad(x, (31, 32)), dense)
    assert torch.allclose(fft_correlate(x, dense, 31, 32, fft_size=512), direct, atol=1e-4)
    direct = torch.nn.functional.conv1d(torch.nn.functional.pad(x, (63, 64)), depthwise, groups=8)
    assert torch.allclose(fft_depthwise_correlate(x, depthwise, 63, 64), direct, atol=1e-4)
    y = torch.randn(2, 16, 3000, generator=generator)
    assert torch.allclose(fft_transposed_conv(y, dense), torch.nn.functional.conv_transpose1d(y, dense), atol=1e-4)


def test_shapes_and_bad_inputs():
    model = build_model(MIX_CONFIG).eval()
    with torch.inference_mode():
        assert model(torch.zeros(2, 8, 6400)).shape == (1, 2, 2, 6400)
        pre = build_model(PRE_CONFIG).eval()
        assert pre(torch.zeros(2, 8, 6400)).shape == (4, 2, 2, 6400)
        for bad in (torch.zeros(1, 8, 6401), torch.zeros(1, 6, 6400), torch.zeros(8, 6400)):
            with pytest.raises(ValueError, match="multiple of 64"):
                model(bad)
    with pytest.raises(ValueError, match="unknown NET_TYPE"):
        build_model({"NET_TYPE": "TRANSFORMER"})
    with pytest.raises(NotImplementedError, match="STRIDES|stride"):
        build_model({**WUN_CONFIG, "STRIDES": 4})


def test_wave_u_net_shrinks_by_68_and_clamps_only_in_eval():
    model = WaveUNet(n_features=8, levels=5)
    assert model.shrink == 68
    x = torch.randn(1, 8, 500) * 50
    with torch.no_grad():
        train_out = model.train()(x)
        eval_out = model.eval()(x)
    assert eval_out.shape == (1, 1, 2, 432)
    assert train_out.abs().max() > 1 and eval_out.abs().max() <= 1
    assert torch.equal(eval_out, train_out.clamp(-1, 1))
    assert isinstance(build_model(WUN_CONFIG), WaveUNet) and isinstance(build_model(MIX_CONFIG), FxNormAutomix)


def test_cached_fft_correlation_equals_conv1d():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(16, 8, 64, generator=generator)
    for n_samples, fft_size in ((63 + 5, 512), (3000, 512), (3000, 256), (449 + 63, 512)):  # 1 block, many, exact
        x = torch.randn(8, n_samples, generator=generator)
        out = CachedFFTCorrelation(weight, fft_size)(x)
        direct = torch.nn.functional.conv1d(x[None], weight)[0]
        assert out.shape == direct.shape
        assert (out - direct).abs().max() < 1e-4 * direct.abs().max(), (n_samples, fft_size)
    with pytest.raises(ValueError, match="fft_size"):
        CachedFFTCorrelation(weight, 64)


def test_cached_fft_depthwise_correlation_equals_grouped_conv1d():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(16, 1, 128, generator=generator)
    # one block, several, an exact multiple of the hop (2048 - 127), a block size other than the default
    for n_samples, fft_size in ((127 + 5, 2048), (30720 + 127, 2048), (2 * 1921 + 127, 2048), (3000, 512)):
        x = torch.randn(16, n_samples, generator=generator).abs()
        out = CachedFFTDepthwiseCorrelation(weight, fft_size)(x)
        direct = torch.nn.functional.conv1d(x[None], weight, groups=16)[0]
        assert out.shape == direct.shape
        assert (out - direct).abs().max() < 1e-5 * direct.abs().max(), (n_samples, fft_size)
    with pytest.raises(ValueError, match="fft_size"):
        CachedFFTDepthwiseCorrelation(weight, 128)


@pytest.mark.parametrize("gemm_rows", [2048, 256])  # 256: the 1x1-conv GEMMs in blocks of rows, the last shorter
def test_in_place_latent_path_equals_module_latent_path(monkeypatch, gemm_rows):
    monkeypatch.setattr(inference_latent, "GEMM_ROWS", gemm_rows)
    model = build_model(MIX_CONFIG, seed=0).eval()
    generator = torch.Generator().manual_seed(1)
    # Pooled features with a loud and a quiet half: the global norms' statistics matter.
    z = torch.nn.functional.softplus(torch.randn(1, 128, 700, generator=generator) * 3) * torch.linspace(0.1, 2, 700)
    with torch.inference_mode():
        expected = model.latent_mask(z)[0]
        features = [z[0].clone()]
        mask = inference_latent.latent_mask_inplace(model, features)
    assert features == []
    assert mask.shape == expected.shape == (1, 128, 700)
    assert (mask - expected).abs().max() < 1e-5 * expected.abs().max()
    assert expected.std() > 1e-3  # not a constant mask


def test_chunked_blstm_equals_one_call(monkeypatch):
    lstm = build_model(MIX_CONFIG, seed=0).blstm.eval()
    x = torch.randn(300, 128, generator=torch.Generator().manual_seed(2))
    monkeypatch.setattr(inference_latent, "LSTM_CHUNK_FRAMES", 70)  # 5 chunks, the last one shorter
    with torch.inference_mode():
        expected = lstm(x[None])[0][0]
        out = inference_latent.blstm_chunked(lstm, x)
    assert out.shape == expected.shape == (300, 128)
    assert (out - expected).abs().max() < 1e-5
