#!/usr/bin/env bash
# Sourced by pretrain_fxnorm_automix.sh, train_fxnorm_automix.sh and train_wun.sh: runs one training in the
# foreground and tees its output into <results>/logs/<name>.log.
#   run_training DEFAULT_CONFIG [CONFIG [DATA_DIR [IR_DIR [RESULTS_FOLDER]]]] [-- EXTRA TRAINER ARGUMENTS]
# (relative paths are taken from the caller's folder)
# Arguments win over environment variables, which win over the demo defaults:
#   AUTOMIX_CONFIG        experiment config                  (default: the script's demo config)
#   AUTOMIX_DATA_DIR      folder holding train/ and val/      (default <repo>/demo_data/wet)
#   AUTOMIX_IR_DIR        impulse responses for augmentation  (default <repo>/demo_data/irs/reverb)
#   AUTOMIX_RESULTS       results folder: the run goes to RESULTS/results/<config name>/ (default <repo>/training)
#   AUTOMIX_GPUS=N        N >= 1: torchrun --nproc-per-node N on CUDA; unset or 0: one process (CUDA if available)
#   AUTOMIX_RESUME=1      continue the run in its results folder (--resume)
#   AUTOMIX_TRAIN_ARGS    extra trainer arguments, e.g. "--workers 2 --set NUM_MINIBATCHES_PER_EPOCH=8"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"

# parse_training_args DEFAULT_CONFIG ARGS...: sets CONFIG, DATA_DIR, IR_DIR, RESULTS, NAME and EXTRA (an array)
parse_training_args() {
    local default_config="$1"; shift
    local positional=()
    EXTRA=()
    while [ $# -gt 0 ]; do
        if [ "$1" = "--" ]; then shift; EXTRA=("$@"); break; fi
        positional+=("$1"); shift
    done
    CONFIG="${positional[0]:-${AUTOMIX_CONFIG:-$REPO_ROOT/$default_config}}"
    DATA_DIR="${positional[1]:-${AUTOMIX_DATA_DIR:-$REPO_ROOT/demo_data/wet}}"
    IR_DIR="${positional[2]:-${AUTOMIX_IR_DIR:-$REPO_ROOT/demo_data/irs/reverb}}"
    RESULTS="${positional[3]:-${AUTOMIX_RESULTS:-$REPO_ROOT/training}}"
    NAME="$(basename "$CONFIG" .py)"
}

# say TEXT: print TEXT and append it to the run's log
say() {
    mkdir -p "$RESULTS/logs"
    echo "$*" | tee -a "$RESULTS/logs/$NAME.log"
}

# launch_training: runs the trainer with the parsed settings, in the foreground, output teed into the log
launch_training() {
    local gpus="${AUTOMIX_GPUS:-0}"
    # shellcheck disable=SC2206
    local args=("$CONFIG" --results-folder "$RESULTS" --folder-suffix "$NAME" --data-dir "$DATA_DIR"
                --ir-dir "$IR_DIR" ${AUTOMIX_TRAIN_ARGS:-} "${EXTRA[@]}")
    if [ "${AUTOMIX_RESUME:-0}" = "1" ]; then args+=(--resume); fi
    local launcher=("$PYTHON" -m automix.train)
    if [ "$gpus" -ge 1 ] 2>/dev/null; then
        launcher=("$PYTHON" -m torch.distributed.run --standalone --nproc-per-node "$gpus" -m automix.train)
        args+=(--device cuda)
    fi
    local log="$RESULTS/logs/$NAME.log"
    say "== training $NAME: $CONFIG, data $DATA_DIR, IRs $IR_DIR -> $RESULTS/results/$NAME (log $log)"
    "${launcher[@]}" "${args[@]}" 2>&1 | tee -a "$log"
}

run_training() {
    parse_training_args "$@"
    launch_training
}
