"""FxNorm-Automix trained with the stereo loss Lb on effect-normalized MUSDB18 stems (ISMIR 2022, "ours_S_Lb")."""

STEMS = ["vocals", "bass", "drums", "other"]

config = {
    "NET_TYPE": "CAFX_TDCN_MIX",
    "INPUTS": [f"{stem}_normalized" for stem in STEMS],
    "OUTPUTS": ["mixture"],
    "LOSS": "Lb",
    "PRETRAIN_FRONT_END": True,  # conv_1/conv_2 from the ours_S_pretrained checkpoint
    "TRAINING_SEQ_LENGTH": 440960,  # 10 s, a multiple of MAX_POOLING
    "BATCH_SIZE": 4,
    "NUM_EPOCHS": 311,
    "L2_REGULARIZATION": 1e-7,
}
