"""FxNorm-Automix trained with the stereo loss La (spectral convergence + log-magnitude L1), "ours_S_La"."""

STEMS = ["vocals", "bass", "drums", "other"]
LR = 1e-3  # the release writes every later rate as a fraction of its INITIAL_LEARNING_RATE

config = {
    "NET_TYPE": "CAFX_TDCN_MIX",
    "INPUTS": [f"{stem}_normalized" for stem in STEMS],
    "OUTPUTS": ["mixture"],
    "LOSS": "La",
    "PRETRAIN_FRONT_END": True,
    "TRAINING_SEQ_LENGTH": 440960,
    "BATCH_SIZE": 4,
    "INITIAL_LEARNING_RATE": LR,
    # (epochs, lr) after the 1-epoch warm-up at lr 0 (WARMUP_EPOCHS): 201 epochs in all (NUM_EPOCHS)
    "LEARNING_RATES": [
        (150, LR),
        (50, LR / 3.0),
    ],
    "L2_REGULARIZATION": 1e-7,
}
