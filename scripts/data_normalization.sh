#!/usr/bin/env bash
# Two-pass effect normalization of a MUSDB-style dataset (spec §1.2):
#   1. dataset-average features from the train split, without reverb (no stems written);
#   2. train and val normalized with those features, with the reverb send (IRs), as <stem>_<suffix>.wav.
#
# usage: scripts/data_normalization.sh [DATA_DIR [IR_DIR [FEATURES_FILE]]]
# Arguments win over environment variables, which win over the demo defaults:
#   AUTOMIX_DATA_DIR      folder holding train/ and val/   (default <repo>/demo_data/wet)
#   AUTOMIX_IR_DIR        reverb IRs, <name>/impulse_response.wav (default <repo>/demo_data/irs/reverb)
#   AUTOMIX_FEATURES      features file                    (default <repo>/training/features/features_demo.npz)
#   AUTOMIX_SUFFIX        output suffix                    (default normalized)
#   AUTOMIX_NORM_ARGS     extra arguments, e.g. "--mode release --workers 4 --seed 1 --overwrite"
#   AUTOMIX_RECOMPUTE_FEATURES=1  recompute the features even if they are up to date (pass 1 is otherwise skipped
#                         when the file was made from the same train songs in the same mode: automix features check)
#   AUTOMIX_PYTHON        python interpreter (default: $PYTHON if exported, else <repo>/.venv/bin/python, else python3)
# Runnable from any directory. A rerun resumes: songs already normalized are skipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/find_python.sh"  # REPO_ROOT, PY, PYTHONPATH

DATA_DIR="${1:-${AUTOMIX_DATA_DIR:-$REPO_ROOT/demo_data/wet}}"
IR_DIR="${2:-${AUTOMIX_IR_DIR:-$REPO_ROOT/demo_data/irs/reverb}}"
FEATURES="${3:-${AUTOMIX_FEATURES:-$REPO_ROOT/training/features/features_demo.npz}}"
SUFFIX="${AUTOMIX_SUFFIX:-normalized}"
# shellcheck disable=SC2206
EXTRA=(${AUTOMIX_NORM_ARGS:-})

for needed in "$DATA_DIR/train" "$DATA_DIR/val" "$IR_DIR"; do
    if [ ! -d "$needed" ]; then
        echo "data_normalization.sh: folder not found: $needed" >&2
        echo "  (the demo dataset is made by: $PY -m automix.demo --out $REPO_ROOT/demo_data)" >&2
        exit 2
    fi
done

# 0: up to date, 1: missing or made from other songs / in another mode (recompute), other: bad arguments (stop)
status=0
"$PY" -m automix.features_cli check "$FEATURES" --input-folder "$DATA_DIR/train" "${EXTRA[@]}" || status=$?
if [ "$status" -gt 1 ]; then
    exit "$status"
fi
if [ "$status" -eq 0 ] && [ "${AUTOMIX_RECOMPUTE_FEATURES:-0}" != "1" ]; then
    echo "== pass 1/2: features in $FEATURES are up to date (AUTOMIX_RECOMPUTE_FEATURES=1 to recompute)"
else
    echo "== pass 1/2: features from $DATA_DIR/train (no reverb) -> $FEATURES"
    "$PY" -m automix.data_normalization --input-folder "$DATA_DIR/train" --output-suffix "$SUFFIX" \
        --features-save "$FEATURES" --no-normalize "${EXTRA[@]}"
fi

for split in train val; do
    echo "== pass 2/2: normalize $DATA_DIR/$split with reverb from $IR_DIR"
    "$PY" -m automix.data_normalization --input-folder "$DATA_DIR/$split" --output-suffix "$SUFFIX" \
        --features-load "$FEATURES" --impulse-responses "$IR_DIR" "${EXTRA[@]}"
done
echo "== done: <song>/<stem>_$SUFFIX.wav and <song>/normalization_$SUFFIX.json in $DATA_DIR/{train,val}"
