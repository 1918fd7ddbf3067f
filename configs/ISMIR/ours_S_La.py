"""FxNorm-Automix trained with the stereo loss La (spectral convergence + log-magnitude L1), "ours_S_La"."""

STEMS = ["vocals", "bass", "drums", "other"]

config = {
    "NET_TYPE": "CAFX_TDCN_MIX",
    "INPUTS": [f"{stem}_normalized" for stem in STEMS],
    "OUTPUTS": ["mixture"],
    "LOSS": "La",
    "PRETRAIN_FRONT_END": True,
    "TRAINING_SEQ_LENGTH": 440960,
    "BATCH_SIZE": 4,
    "NUM_EPOCHS": 201,
    "L2_REGULARIZATION": 1e-7,
}
