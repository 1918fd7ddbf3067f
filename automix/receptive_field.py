"""Guard bands, Wave-U-Net shrink and loss guard frames: the integer arithmetic of the networks, without torch.

One definition of each formula, used by the config validation (:mod:`automix.config`, which must not import torch)
and by the networks (:mod:`automix.models`). Numbers for the ISMIR configs (spec §3.2, §3.3, §5.5):

* FxNorm-Automix: receptive field 505 pooled frames, guard ``505 * 64 + 2 * 63 = 32446`` samples each side;
* Wave-U-Net: every valid convolution of kernel K removes K - 1 samples, ``4 * (5 - 1) * 4 + 4 = 68`` in all; the
  release's guard is the FxNorm helper with kernel 128 (32574) minus half that shrink: 32540;
* losses: ``ceil((guard - (FFT - 1) - 1) / hop + 1) + 1 = 30`` STFT frames dropped at each end, for both guards.
"""

from __future__ import annotations

# The release's Wave-U-Net config calls the FxNorm guard helper with these literals (kernel 128, not the Wave-U-Net's
# kernel 5; spec §3.3), then subtracts half the Wave-U-Net shrink.
_WAVE_U_NET_GUARD_BASE = (128, 3, 6, 4, 64)


def receptive_field_frames(kernel_size_tb: int, n_tb_per_repeat: int, n_repeats: int) -> int:
    """Receptive field of the TCN in pooled frames: ``1 + R * (P - 1) * sum_{i<X} 2^i`` (505 for ISMIR)."""
    return 1 + n_repeats * (kernel_size_tb - 1) * sum(2 ** i for i in range(n_tb_per_repeat))


def guard_samples(kernel_size_encoder: int = 64, kernel_size_tb: int = 3, n_tb_per_repeat: int = 6,
                  n_repeats: int = 4, max_pooling: int = 64) -> int:
    """Guard band in samples each side, as the release computes it (spec §3.2): 32446 for the ISMIR configs.

    ``guard = RF_frames * max_pooling + 2 * (kernel_size_encoder - 1)``. It covers the convolutional context only;
    the BLSTM (and the global layer norms) see the whole input.
    """
    frames = receptive_field_frames(kernel_size_tb, n_tb_per_repeat, n_repeats)
    return frames * max_pooling + 2 * (kernel_size_encoder - 1)


def wave_u_net_shrink(kernel_size: int, levels: int) -> int:
    """Samples the Wave-U-Net's valid convolutions remove (both sides together): 68 for kernel 5, 5 levels.

    Two ConvLayers per down and per up block (``levels - 1`` of each) and one bottleneck, each removing
    ``kernel_size - 1`` samples (stride 1, the release's setting).
    """
    return (kernel_size - 1) * (4 * (levels - 1) + 1)


def loss_guard_frames(guard: int, n_fft: int, hop: int) -> int:
    """STFT frames the training loss drops at each end (spec §5.5): 30 for guards 32446 and 32540, FFT 4096/1024.

    ``ceil((guard - (n_fft - 1) - 1) / hop + 1) + 1``, computed in integers; guards shorter than about one FFT
    give no frame to drop (0, where the release's formula would go negative).
    """
    return max(0, -(-(guard - n_fft) // hop) + 2)


def guard_samples_for_config(config: dict) -> int:
    """Guard band (samples each side) of an experiment config, raw or validated, as the release computes it.

    32446 for the FxNorm-Automix configs; 32540 for the Wave-U-Net config. Missing keys take the defaults of
    :func:`automix.config.setting`.
    """
    from automix.config import setting  # automix.config imports this module

    if setting(config, "NET_TYPE") == "WAVEUNET":
        shrink = wave_u_net_shrink(setting(config, "KERNEL_SIZE_ENCODER"), setting(config, "LEVELS"))
        return guard_samples(*_WAVE_U_NET_GUARD_BASE) - shrink // 2
    return guard_samples(*(setting(config, key) for key in ("KERNEL_SIZE_ENCODER", "KERNEL_SIZE_TB",
                                                            "N_TB_PER_REPEAT", "N_REPEATS", "MAX_POOLING")))


def network_input_length(config: dict) -> int:
    """Input samples of one training segment as the release sizes the network.

    FxNorm-Automix: ``TRAINING_SEQ_LENGTH``. Wave-U-Net: ``OUTPUT_SEQ_LENGTH + shrink`` (the release builds the
    network from its target output length), which equals ``TRAINING_SEQ_LENGTH`` when ``OUTPUT_SEQ_LENGTH`` is
    absent (it is then derived as ``TRAINING_SEQ_LENGTH - shrink``).
    """
    from automix.config import setting

    if setting(config, "NET_TYPE") != "WAVEUNET":
        return setting(config, "TRAINING_SEQ_LENGTH")
    shrink = wave_u_net_shrink(setting(config, "KERNEL_SIZE_ENCODER"), setting(config, "LEVELS"))
    return setting(config, "OUTPUT_SEQ_LENGTH") + shrink
