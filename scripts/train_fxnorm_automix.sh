#!/usr/bin/env bash
# FxNorm-Automix mixing network (default: the demo config configs/demo/ours_demo_La.py). The front-end starts from
# the pre-training run's last weights, RESULTS/results/<name>_pretrained/current_model_for_mixture.params with
# <name> the config's name without its last "_" part (ours_demo_La -> ours_demo_pretrained, ours_S_Lb ->
# ours_S_pretrained), when that file exists; AUTOMIX_PRETRAINED=FILE names another file, =none starts from scratch.
# usage: scripts/train_fxnorm_automix.sh [CONFIG [DATA_DIR [IR_DIR [RESULTS_FOLDER]]]] [-- TRAINER ARGS]
# Environment variables and defaults: see scripts/train_common.sh. Runnable from any directory.
source "$(dirname "${BASH_SOURCE[0]}")/train_common.sh"
parse_training_args configs/demo/ours_demo_La.py "$@"
pretrained="${AUTOMIX_PRETRAINED:-$RESULTS/results/${NAME%_*}_pretrained/current_model_for_mixture.params}"
if [ "$pretrained" != "none" ] && [ -f "$pretrained" ]; then
    say "== front-end from $pretrained"
    EXTRA+=(--weight-initialization "$pretrained")
elif [ "$pretrained" != "none" ]; then
    say "== no pre-trained front-end at $pretrained (run scripts/pretrain_fxnorm_automix.sh first): from scratch"
fi
launch_training
