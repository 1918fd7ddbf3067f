#!/usr/bin/env bash
# Wave-U-Net baseline (default: the demo config configs/demo/wun_demo_La.py).
# usage: scripts/train_wun.sh [CONFIG [DATA_DIR [IR_DIR [RESULTS_FOLDER]]]] [-- TRAINER ARGS]
# Environment variables and defaults: see scripts/train_common.sh. Runnable from any directory.
source "$(dirname "${BASH_SOURCE[0]}")/train_common.sh"
run_training configs/demo/wun_demo_La.py "$@"
