"""Front-end pre-training of FxNorm-Automix: auto-encode each normalized stem, "ours_S_pretrained"."""

STEMS = ["vocals", "bass", "drums", "other"]
LR = 1e-3  # the release writes every later rate as a fraction of its INITIAL_LEARNING_RATE

config = {
    "NET_TYPE": "CAFX_TDCN",
    "PRETRAIN": True,
    "INPUTS": [f"{stem}_normalized" for stem in STEMS],
    "OUTPUTS": [f"{stem}_normalized" for stem in STEMS],  # targets are the inputs themselves
    "LOSS": "td_l1",
    "TRAINING_SEQ_LENGTH": 132288,  # 3 s, a multiple of MAX_POOLING
    "BATCH_SIZE": 20,
    "INITIAL_LEARNING_RATE": LR,
    # (epochs, lr) after the 1-epoch warm-up at lr 0 (WARMUP_EPOCHS): 106 epochs in all (NUM_EPOCHS)
    "LEARNING_RATES": [
        (40, LR),
        (20, LR / 3.0),
        (20, LR / 10.0),
        (10, LR / 30.0),
        (10, LR / 100.0),
        (5, LR / 1000.0),
    ],
    "L2_REGULARIZATION": 1e-6,
    "BATCHED_TEST": False,
}
