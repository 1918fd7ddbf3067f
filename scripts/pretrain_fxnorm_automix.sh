#!/usr/bin/env bash
# Front-end pre-training of FxNorm-Automix (default: the demo config configs/demo/ours_demo_pretrained.py).
# usage: scripts/pretrain_fxnorm_automix.sh [CONFIG [DATA_DIR [IR_DIR [RESULTS_FOLDER]]]] [-- TRAINER ARGS]
# Environment variables and defaults: see scripts/train_common.sh. Runnable from any directory.
source "$(dirname "${BASH_SOURCE[0]}")/train_common.sh"
run_training configs/demo/ours_demo_pretrained.py "$@"
