"""Front-end pre-training of FxNorm-Automix: auto-encode each normalized stem, "ours_S_pretrained"."""

STEMS = ["vocals", "bass", "drums", "other"]

config = {
    "NET_TYPE": "CAFX_TDCN",
    "PRETRAIN": True,
    "INPUTS": [f"{stem}_normalized" for stem in STEMS],
    "OUTPUTS": [f"{stem}_normalized" for stem in STEMS],  # targets are the inputs themselves
    "LOSS": "td_l1",
    "TRAINING_SEQ_LENGTH": 132288,  # 3 s, a multiple of MAX_POOLING
    "BATCH_SIZE": 20,
    "NUM_EPOCHS": 106,
    "L2_REGULARIZATION": 1e-6,
    "BATCHED_TEST": False,
}
