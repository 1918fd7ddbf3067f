"""FxNorm-Automix trained with the stereo loss Lb on effect-normalized MUSDB18 stems (ISMIR 2022, "ours_S_Lb")."""

STEMS = ["vocals", "bass", "drums", "other"]
LR = 1e-3  # the release writes every later rate as a fraction of its INITIAL_LEARNING_RATE

config = {
    "NET_TYPE": "CAFX_TDCN_MIX",
    "INPUTS": [f"{stem}_normalized" for stem in STEMS],
    "OUTPUTS": ["mixture"],
    "LOSS": "Lb",
    "PRETRAIN_FRONT_END": True,  # conv_1/conv_2 from the ours_S_pretrained checkpoint
    "TRAINING_SEQ_LENGTH": 440960,  # 10 s, a multiple of MAX_POOLING
    "BATCH_SIZE": 4,
    "INITIAL_LEARNING_RATE": LR,
    # (epochs, lr) after the 1-epoch warm-up at lr 0 (WARMUP_EPOCHS): 311 epochs in all (NUM_EPOCHS)
    "LEARNING_RATES": [
        (150, LR),
        (50, LR / 3.0),
        (50, LR / 10.0),
        (25, LR / 30.0),
        (25, LR / 100.0),
        (10, LR / 1000.0),
    ],
    "L2_REGULARIZATION": 1e-7,
}
