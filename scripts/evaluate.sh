#!/usr/bin/env bash
# Evaluate the demo models (or any results folders) against the normalized-sum baseline on a test split:
# wet stems, and dry stems with pre-reverb, each into its own report.
#
# usage: scripts/evaluate.sh [OUTPUT_DIR]
# Environment (defaults: the demo):
#   AUTOMIX_DATA_DIR     folder holding test/ (wet, with mixture)       (default <repo>/demo_data/wet)
#   AUTOMIX_DRY_DIR      folder holding test/ with dry stems, or "none"  (default <repo>/demo_data/dry)
#   AUTOMIX_IR_DIR       reverb-send IRs                                 (default <repo>/demo_data/irs/reverb)
#   AUTOMIX_PRE_IR_DIR   pre-reverb IRs for dry stems                    (default <repo>/demo_data/irs/pre_reverb)
#   AUTOMIX_FEATURES     features file               (default <repo>/training/features/features_demo.npz)
#   AUTOMIX_SYSTEMS      "NAME=RESULTS_DIR ..."      (default: the demo models that exist in training/results)
#   AUTOMIX_EVAL_ARGS    extra arguments, e.g. "--mode release --overwrite"
# Runnable from any directory; a rerun skips the songs already evaluated.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
OUT="${1:-$REPO_ROOT/training/evaluation}"
DATA_DIR="${AUTOMIX_DATA_DIR:-$REPO_ROOT/demo_data/wet}"
DRY_DIR="${AUTOMIX_DRY_DIR:-$REPO_ROOT/demo_data/dry}"
IR_DIR="${AUTOMIX_IR_DIR:-$REPO_ROOT/demo_data/irs/reverb}"
PRE_IR_DIR="${AUTOMIX_PRE_IR_DIR:-$REPO_ROOT/demo_data/irs/pre_reverb}"
FEATURES="${AUTOMIX_FEATURES:-$REPO_ROOT/training/features/features_demo.npz}"
SYSTEMS=()
if [ -n "${AUTOMIX_SYSTEMS:-}" ]; then
    for item in $AUTOMIX_SYSTEMS; do SYSTEMS+=(--system "$item"); done
else
    for name in ours_demo_La wun_demo_La; do
        if [ -d "$REPO_ROOT/training/results/$name" ]; then
            SYSTEMS+=(--system "$name=$REPO_ROOT/training/results/$name")
        fi
    done
fi
# shellcheck disable=SC2206
EXTRA=(${AUTOMIX_EVAL_ARGS:-})

echo "== evaluation on wet stems: $DATA_DIR/test -> $OUT/wet"
"$PYTHON" -m automix.evaluate --input-folder "$DATA_DIR/test" --output-folder "$OUT/wet" \
    --features "$FEATURES" --impulse-responses "$IR_DIR" "${SYSTEMS[@]}" "${EXTRA[@]}"
if [ "$DRY_DIR" != "none" ] && [ -d "$DRY_DIR/test" ]; then
    echo "== evaluation on dry stems with pre-reverb: $DRY_DIR/test -> $OUT/dry"
    "$PYTHON" -m automix.evaluate --input-folder "$DRY_DIR/test" --reference-folder "$DATA_DIR/test" \
        --output-folder "$OUT/dry" --dry --pre-impulse-responses "$PRE_IR_DIR" --features "$FEATURES" \
        --impulse-responses "$IR_DIR" "${SYSTEMS[@]}" "${EXTRA[@]}"
fi
echo "== reports: $OUT/wet/report.html${DRY_DIR:+ and $OUT/dry/report.html}"
