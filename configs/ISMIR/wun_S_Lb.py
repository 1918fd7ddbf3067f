"""Wave-U-Net baseline trained with the stereo loss Lb, "wun_S_Lb"."""

STEMS = ["vocals", "bass", "drums", "other"]
LR = 1e-3  # the release writes every later rate as a fraction of its INITIAL_LEARNING_RATE

config = {
    "NET_TYPE": "WAVEUNET",
    "INPUTS": [f"{stem}_normalized" for stem in STEMS],
    "OUTPUTS": ["mixture"],
    "LOSS": "Lb",
    "N_FEATURES_ENCODER": 24,
    "KERNEL_SIZE_ENCODER": 5,
    "LEVELS": 5,
    "STRIDES": 1,
    "FEATURE_GROWTH": "double",
    "CONV_TYPE": "gn",
    "RES": "fixed",
    "DEPTH": 1,
    "TRAINING_SEQ_LENGTH": 440960,  # the network's output is 68 samples shorter
    "BATCH_SIZE": 1,
    "INITIAL_LEARNING_RATE": LR,
    # (epochs, lr) after the 1-epoch warm-up at lr 0 (WARMUP_EPOCHS): 201 epochs in all (NUM_EPOCHS)
    "LEARNING_RATES": [
        (100, LR),
        (50, LR / 3.0),
        (25, LR / 10.0),
        (10, LR / 30.0),
        (10, LR / 100.0),
        (5, LR / 1000.0),
    ],
    "L2_REGULARIZATION": 1e-7,
    "BATCHED_TEST": True,
}
