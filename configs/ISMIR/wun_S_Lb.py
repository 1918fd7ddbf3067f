"""Wave-U-Net baseline trained with the stereo loss Lb, "wun_S_Lb"."""

STEMS = ["vocals", "bass", "drums", "other"]

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
    "NUM_EPOCHS": 201,
    "L2_REGULARIZATION": 1e-7,
    "BATCHED_TEST": True,
}
