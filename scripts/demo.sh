#!/usr/bin/env bash
# The whole system on the demo: dataset -> features + effect normalization -> front-end pre-training ->
# FxNorm-Automix (from the pre-trained front-end) and Wave-U-Net training -> evaluation of both against the
# normalized-sum baseline on the test split (wet, and dry with pre-reverb) -> one test song mixed.
#   AUTOMIX_DEMO_DIR      demo data folder (default <repo>/demo_data)
#   AUTOMIX_DEMO_ARGS     extra arguments for the generator, e.g. "--train 2 --seconds 10"
#   AUTOMIX_DEMO_MINUTES  scales the three trainings (default 9): the minibatches per epoch are the demo configs'
#                         times MINUTES/15 (at least 2); 15 = the configs as written (~15 min of training on 2 idle
#                         cores); the default 9 (~11.5 min of training) keeps the whole demo within 15 minutes
#   AUTOMIX_RESULTS       training folder (default <repo>/training)
# Set AUTOMIX_USE_CURRENT_ENV=1 to use the current Python environment instead of <repo>/.venv.
# A rerun resumes: finished stages are skipped, an interrupted training continues from its checkpoint.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
DEMO_DIR="${AUTOMIX_DEMO_DIR:-$REPO_ROOT/demo_data}"
TRAINING="${AUTOMIX_RESULTS:-$REPO_ROOT/training}"
FEATURES="$TRAINING/features/features_demo.npz"
MINUTES="${AUTOMIX_DEMO_MINUTES:-9}"
export AUTOMIX_PYTHON="$PYTHON"
START=$SECONDS
stage_start=$SECONDS
exec 3>&1  # the terminal (or wherever the demo's own lines go): the status line below writes here

# status_line LOG: every 2 s until this script ends, one line on fd 3: the seconds since it started and, for a
# training, a bar of its epochs from LOG ("epoch N/M: ... valid stereo_loss_mean X" lines of the trainer)
status_line() {
    local log="$1" start=$SECONDS parent=$$ line n m bar
    while kill -0 "$parent" 2>/dev/null; do
        line="$(grep -aoE 'epoch [0-9]+/[0-9]+:.*valid stereo_loss_mean [0-9.e+-]+' "$log" 2>/dev/null | tail -n 1)" \
            || line=""
        bar=""
        if [ -n "$line" ]; then
            n="${line#epoch }"; n="${n%%/*}"; m="${line#epoch */}"; m="${m%%:*}"
            bar="$(printf '%*s' "$((20 * n / m))" '' | tr ' ' '#')$(printf '%*s' "$((20 - 20 * n / m))" '' | tr ' ' '.')"
            bar="[$bar] epoch $n/$m, validation loss ${line##* }, "
        fi
        printf '\r\033[K   %s%d s' "$bar" "$((SECONDS - start))" >&3
        sleep 2
    done
}

# with_status LOG CMD...: CMD in the foreground (its own redirections apply to it only); on a terminal, meanwhile,
# the status line of LOG, cleared when CMD ends. Returns CMD's exit status.
with_status() {
    local log="$1" watcher="" rc=0
    shift
    if [ -t 3 ]; then
        status_line "$log" 3>&3 > /dev/null 2>&1 &
        watcher=$!
    fi
    "$@" || rc=$?
    if [ -n "$watcher" ]; then
        kill "$watcher" 2>/dev/null || true
        wait "$watcher" 2>/dev/null || true
        printf '\r\033[K' >&3
    fi
    return "$rc"
}
# done_stage NAME: one line with the stage's wall time
done_stage() {
    echo "   ($1: $((SECONDS - stage_start)) s)"
    stage_start=$SECONDS
}

echo "== 1/6 demo dataset -> $DEMO_DIR"
if [ -f "$DEMO_DIR/demo_info.json" ]; then
    echo "   already there (delete $DEMO_DIR to rebuild)"
else
    # shellcheck disable=SC2086
    mkdir -p "$TRAINING/logs"
    "$PYTHON" -m automix.demo --out "$DEMO_DIR" ${AUTOMIX_DEMO_ARGS:-} > "$TRAINING/logs/demo_data.log" 2>&1 \
        || { tail -n 20 "$TRAINING/logs/demo_data.log" >&2; exit 1; }
    { grep -E "songs in|files in" "$TRAINING/logs/demo_data.log" || true; } | sed 's/^/   /'
fi
done_stage "dataset"

echo "== 2/6 features + effect normalization of train and val -> $FEATURES"
mkdir -p "$(dirname "$FEATURES")"
with_status "$TRAINING/features/normalization.log" \
    env AUTOMIX_DATA_DIR="$DEMO_DIR/wet" AUTOMIX_IR_DIR="$DEMO_DIR/irs/reverb" AUTOMIX_FEATURES="$FEATURES" \
    bash "$REPO_ROOT/scripts/data_normalization.sh" > "$TRAINING/features/normalization.log" 2>&1 \
    || { tail -n 20 "$TRAINING/features/normalization.log" >&2; exit 1; }
echo "   log: $TRAINING/features/normalization.log"
done_stage "normalization"

# scaled NAME: minibatches per epoch of configs/demo/NAME.py scaled by the budget (the configs as written are ~15 min
# of training on 2 idle cores; the default budget, 9, keeps the whole demo within 15 minutes)
scaled() {
    "$PYTHON" -c "import sys; from automix.config import load_config
print(max(2, round(load_config(sys.argv[1])['NUM_MINIBATCHES_PER_EPOCH'] * float(sys.argv[2]) / 15)))" \
        "$REPO_ROOT/configs/demo/$1.py" "$MINUTES"
}

# train STEP SCRIPT NAME: run a training script, skip it when finished, resume it when interrupted
train() {
    local step="$1" script="$2" name="$3" run="$TRAINING/results/$3"
    local args=(--no-progress --set "NUM_MINIBATCHES_PER_EPOCH=$(scaled "$name")")
    echo "== $step training $name -> $run"
    local state
    state="$("$PYTHON" - "$run" <<'EOF'
import csv, json, sys
from pathlib import Path
run = Path(sys.argv[1])
if not run.is_dir() or not any(run.iterdir()):
    print("new")
elif (run / "config.json").is_file() and (run / "history.csv").is_file():
    epochs = json.loads((run / "config.json").read_text())["NUM_EPOCHS"]
    with open(run / "history.csv", newline="") as f:
        print("finished" if len(list(csv.DictReader(f))) >= epochs else "resume")
else:
    print("resume")
EOF
)"
    if [ "$state" = "finished" ]; then
        echo "   already trained (delete $run to retrain)"
        done_stage "$name"
        return
    fi
    local resume=0
    if [ "$state" = "resume" ]; then resume=1; echo "   resuming the interrupted run"; fi
    mkdir -p "$TRAINING/logs"
    with_status "$TRAINING/logs/$name.log" \
        env AUTOMIX_RESUME="$resume" AUTOMIX_DATA_DIR="$DEMO_DIR/wet" AUTOMIX_IR_DIR="$DEMO_DIR/irs/reverb" \
        AUTOMIX_RESULTS="$TRAINING" bash "$REPO_ROOT/scripts/$script" -- "${args[@]}" > /dev/null 2>&1 \
        || { tail -n 20 "$TRAINING/logs/$name.log" >&2; exit 1; }
    { grep -E "epoch [0-9]+/[0-9]+:|done:" "$TRAINING/logs/$name.log" || true; } | tail -n 1 | sed 's/^.*INFO [a-z._]*: /   /'
    done_stage "$name"
}
train "3/6" pretrain_fxnorm_automix.sh ours_demo_pretrained
train "4/6" train_fxnorm_automix.sh ours_demo_La
train "4/6" train_wun.sh wun_demo_La

mkdir -p "$TRAINING/logs"
echo "== 5/6 evaluation against the normalized-sum baseline (wet, and dry with pre-reverb) -> $TRAINING/evaluation"
with_status "$TRAINING/logs/evaluation.log" \
    env AUTOMIX_DATA_DIR="$DEMO_DIR/wet" AUTOMIX_DRY_DIR="$DEMO_DIR/dry" AUTOMIX_IR_DIR="$DEMO_DIR/irs/reverb" \
    AUTOMIX_PRE_IR_DIR="$DEMO_DIR/irs/pre_reverb" AUTOMIX_FEATURES="$FEATURES" \
    AUTOMIX_SYSTEMS="ours_demo_La=$TRAINING/results/ours_demo_La wun_demo_La=$TRAINING/results/wun_demo_La" \
    AUTOMIX_EVAL_ARGS="--quiet" bash "$REPO_ROOT/scripts/evaluate.sh" "$TRAINING/evaluation" \
    > "$TRAINING/logs/evaluation.log" 2>&1 || { tail -n 20 "$TRAINING/logs/evaluation.log" >&2; exit 1; }
echo "   log: $TRAINING/logs/evaluation.log"
done_stage "evaluation"

echo "== 6/6 one test song mixed by the demo FxNorm-Automix"
SONG="$(find "$DEMO_DIR/wet/test" -mindepth 1 -maxdepth 1 -type d | sort | head -n 1)"
MIX="$TRAINING/inference/$(basename "$SONG")_mixture.wav"
# --overwrite: the demo's own mix, made again from its model on a rerun
AUTOMIX_RESULTS="$TRAINING/results/ours_demo_La" AUTOMIX_FEATURES="$FEATURES" AUTOMIX_IR_DIR="$DEMO_DIR/irs/reverb" \
    AUTOMIX_MIX_ARGS="--quiet --overwrite" bash "$REPO_ROOT/scripts/inference.sh" "$SONG" "$MIX" \
    > "$TRAINING/logs/inference.log" 2>&1 \
    || { tail -n 20 "$TRAINING/logs/inference.log" >&2; exit 1; }
done_stage "inference"

echo "== done in $((SECONDS - START)) s"
echo "   mix of $(basename "$SONG"):   $MIX"
echo "   report (wet):  $TRAINING/evaluation/wet/report.html   (dry: $TRAINING/evaluation/dry/report.html)"
echo "   mixes per system: $TRAINING/evaluation/{wet,dry}/<song>/"
echo "   TensorBoard:   tensorboard --logdir $TRAINING/results"
"$PYTHON" "$REPO_ROOT/scripts/demo_table.py" "$TRAINING/evaluation/wet/summary.json" --title "demo test split, wet stems"
