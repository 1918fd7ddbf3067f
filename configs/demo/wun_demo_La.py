"""Demo-sized Wave-U-Net baseline trained with the stereo loss La: ``ISMIR/wun_S_Lb.py`` shrunk to train in a few
minutes on 2 CPU cores, on the demo dataset (``scripts/demo.sh``: 6 training songs of 20 s).

The loss is La, as for ``ours_demo_La`` (see there why La suits a few hundred steps), so that the demo compares the
two networks with the same loss and training time. Measured on the demo test split (2026-12-07, 396 steps, errors
relative to the normalized-sum baseline, < 1 beats it): Lb training: stereo loss Lb 0.52, loudness 0.19, spectral
1.45, panning 0.54, dynamics 1.51; La training: 0.47, 0.08, 0.98, 0.27, 1.08.

What was shrunk, and why (everything else as the ISMIR experiment: AMSGrad, warm-up, clipping, L2, stride-1
"fixed" resampling, group norm):

* 8 channels at the first level instead of 24 and 4 levels instead of 5 (8, 16, 32, 64): at stride 1 every level
  runs at the full sample rate and a layer costs ~channels², so the release's network needs a minute per 10-s step
  on 2 cores; this one is ~50x cheaper. Output 52 samples shorter than the input (68 for 5 levels).
* segments of 2 s (88,200 samples) instead of 10 s (batch 1 kept): the validation windows are the training
  segments, and must exceed the two guard bands (32,548 samples: the release's formula for the Wave-U-Net);
* 44 minibatches per epoch instead of 1,600 and 1 + 9 epochs instead of 1 + 200: 396 steps after the warm-up, about as long on 2
  CPU cores as ``ours_demo_La`` (equal training time);
* validation on the first 5 s of each validation song instead of up to 4 min (the 2-s windows with 0.74-s guards
  compute each output sample ~4 times);
* reverb augmentation of the input stems with the demo's impulse responses, as the other demo configs.
"""

STEMS = ["vocals", "bass", "drums", "other"]
LR = 1e-3

config = {
    "NET_TYPE": "WAVEUNET",
    "INPUTS": [f"{stem}_normalized" for stem in STEMS],
    "OUTPUTS": ["mixture"],
    "LOSS": "La",
    "N_FEATURES_ENCODER": 8,
    "KERNEL_SIZE_ENCODER": 5,
    "LEVELS": 4,
    "STRIDES": 1,
    "FEATURE_GROWTH": "double",
    "CONV_TYPE": "gn",
    "RES": "fixed",
    "DEPTH": 1,
    "TRAINING_SEQ_LENGTH": 88200,  # 2 s; the network's output is 52 samples shorter
    "BATCH_SIZE": 1,
    "NUM_MINIBATCHES_PER_EPOCH": 44,
    "INITIAL_LEARNING_RATE": LR,
    "LEARNING_RATES": [(6, LR), (3, LR / 3.0)],  # after the 1-epoch warm-up at lr 0: 10 epochs
    "L2_REGULARIZATION": 1e-7,
    "MAX_VALIDATION_SEQ_LENGTH_TD": 220500,  # 5 s
    "AUGMENTATION": [{"effect": "reverb", "probability": 0.25, "rms_normalize": True, "wet": (0.1, 0.5),
                      "dry": (0.5, 1.0)}],
}
