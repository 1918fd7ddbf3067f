"""Demo-sized FxNorm-Automix trained with the stereo loss La: ``ISMIR/ours_S_La.py`` shrunk to train in a few
minutes on 2 CPU cores, on the demo dataset (``scripts/demo.sh``: 6 training songs of 20 s).

Why La and not Lb (the paper's main model is ``ours_S_Lb``): both add ``mean |log X - log Y|`` over all STFT bins to
a term A; Lb's A is the MSE of the linear magnitudes, which on these signals is 20-50x the log term and is made by
the loud low bins, so in a few hundred steps the network learns the lows and leaves the quiet high bins alone. La's
A is the spectral convergence (a ratio, ~1), so the log term, i.e. every bin, counts as much. Measured on the demo
test split (2026-12-07, same pre-trained front-end, same 390 steps, errors relative to the normalized-sum baseline,
< 1 beats it): Lb training: stereo loss Lb 0.40, loudness 0.09, spectral 1.14, panning 0.22, dynamics 1.82; La
training: 0.40 (so also on Lb), 0.16, 0.62, 0.24, 1.01. With Lb, frames of its mixes lost their high band (the
low-frequency ratio error 33 against the baseline's 3, flatness 12.9 dB against 7.8).

What was shrunk, and why (everything else as the ISMIR experiment: La with A-weighting + low-pass, AMSGrad, the
lr-0 warm-up epoch, clipping at 0.2, L2 1e-7, the front-end from the pre-training):

* front-end width ``N_FEATURES_ENCODER`` 128 -> 32 (kernel 64, max-pool 64 kept): the full-rate convolutions, most
  of a step, cost ~4x less; the same front-end as ``ours_demo_pretrained`` (``PRETRAIN_FRONT_END`` copies it),
  which is pre-trained with Lb (see there: with an L1 pre-training the demo mixes lacked the highs).
* TCN: 2 repeats of 4 blocks instead of 4 of 6, widths 64/32/32 instead of 256/128/64, SE expansion 4: the latent
  path runs at 1/64 of the sample rate and still sees 61 pooled frames (~90 ms) of context plus the BLSTM's whole
  segment; the guard bands shrink accordingly (4,030 samples, 2 loss guard frames instead of 30).
* segments of 1 s (44,096 samples) instead of 10 s (batch 4 kept): 36 STFT frames of the loss after the guards;
* 30 minibatches per epoch instead of 1,600 and 1 + 13 epochs instead of 1 + 200: 390 steps after the warm-up, about as long on 2
  CPU cores as ``wun_demo_La`` (equal training time, as the paper compares them);
* validation on the first 10 s of each validation song instead of up to 4 min;
* reverb augmentation of the input stems with the demo's impulse responses (``--ir-dir``, default
  ``demo_data/irs/reverb``), for variety on a 6-song dataset (the ISMIR runs had none).
"""

STEMS = ["vocals", "bass", "drums", "other"]
LR = 1e-3

config = {
    "NET_TYPE": "CAFX_TDCN_MIX",
    "INPUTS": [f"{stem}_normalized" for stem in STEMS],
    "OUTPUTS": ["mixture"],
    "LOSS": "La",
    "PRETRAIN_FRONT_END": True,  # conv_1/conv_2 from ours_demo_pretrained (scripts/train_fxnorm_automix.sh)
    "N_FEATURES_ENCODER": 32,
    "N_FEATURES_SEPARATION_MODULE": 64,
    "N_FEATURES_OUT": 32,
    "N_FEATURES_TB": 32,
    "N_TB_PER_REPEAT": 4,
    "N_REPEATS": 2,
    "SE_AMP_RATIO": 4,
    "TRAINING_SEQ_LENGTH": 44096,  # 1 s, a multiple of MAX_POOLING
    "BATCH_SIZE": 4,
    "NUM_MINIBATCHES_PER_EPOCH": 30,
    "INITIAL_LEARNING_RATE": LR,
    "LEARNING_RATES": [(9, LR), (4, LR / 3.0)],  # after the 1-epoch warm-up at lr 0: 14 epochs
    "L2_REGULARIZATION": 1e-7,
    "MAX_VALIDATION_SEQ_LENGTH_TD": 441000,  # 10 s
    "AUGMENTATION": [{"effect": "reverb", "probability": 0.25, "rms_normalize": True, "wet": (0.1, 0.5),
                      "dry": (0.5, 1.0)}],
}
