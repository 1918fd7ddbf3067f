#!/usr/bin/env bash
# The main job on the embedded default: build the demo multitrack dataset, then effect-normalize it.
#   AUTOMIX_DEMO_DIR   output folder (default <repo>/demo_data)
#   AUTOMIX_DEMO_ARGS  extra arguments for the generator, e.g. "--train 2 --seconds 10"
# Set AUTOMIX_USE_CURRENT_ENV=1 to use the current Python environment instead of <repo>/.venv.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
DEMO_DIR="${AUTOMIX_DEMO_DIR:-$REPO_ROOT/demo_data}"

echo "== 1/2 demo dataset -> $DEMO_DIR"
if [ -f "$DEMO_DIR/demo_info.json" ]; then
    echo "already there (delete $DEMO_DIR to rebuild)"
else
    # shellcheck disable=SC2086
    "$PYTHON" -m automix.demo --out "$DEMO_DIR" ${AUTOMIX_DEMO_ARGS:-}
fi

echo "== 2/2 effect normalization (features from train, then train and val normalized with reverb)"
AUTOMIX_DATA_DIR="$DEMO_DIR/wet" AUTOMIX_IR_DIR="$DEMO_DIR/irs/reverb" \
    bash "$REPO_ROOT/scripts/data_normalization.sh"

echo "== done: dry stems in $DEMO_DIR/dry, wet songs in $DEMO_DIR/wet (normalized stems *_normalized.wav beside them)"
