#!/usr/bin/env bash
# Mix one song's stems with a trained network (automix mix); defaults to the demo model and a demo test song.
#
# usage: scripts/inference.sh [SONG_DIR [OUTPUT [more automix-mix options...]]]
#   SONG_DIR holds vocals/bass/drums/other (.wav or .flac; any subset). Arguments win over environment variables,
#   which win over the demo defaults:
#   AUTOMIX_SONG          song folder        (default: the first song of <repo>/demo_data/wet/test)
#   AUTOMIX_OUTPUT        mix file           (default <repo>/training/inference/<song>_mixture.wav)
#   AUTOMIX_RESULTS       training results   (default <repo>/training/results/ours_demo_La)
#   AUTOMIX_FEATURES      features file      (default <repo>/training/features/features_demo.npz)
#   AUTOMIX_IR_DIR        reverb-send IRs    (default <repo>/demo_data/irs/reverb when it exists; "none": no reverb)
#   AUTOMIX_MIX_ARGS      extra options, e.g. "--mode release --device cpu --report mix.json"
#   AUTOMIX_PYTHON        python interpreter (default: $PYTHON if exported, else <repo>/.venv/bin/python, else python3)
# Runnable from any directory. Options after OUTPUT are passed on (e.g. --baseline-sum, --checkpoint current).
# An existing OUTPUT is not replaced: pass --overwrite after OUTPUT (or in AUTOMIX_MIX_ARGS) to make it again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/find_python.sh"  # REPO_ROOT, PY, PYTHONPATH

SONG="${1:-${AUTOMIX_SONG:-}}"
if [ -z "$SONG" ]; then
    TEST_SPLIT="$REPO_ROOT/demo_data/wet/test"
    SONG="$(find "$TEST_SPLIT" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort | head -n 1)"
    if [ -z "$SONG" ]; then
        echo "inference.sh: no song given and no demo test song in $TEST_SPLIT" >&2
        echo "  (make the demo data with: bash $REPO_ROOT/scripts/demo.sh, or give SONG_DIR)" >&2
        exit 2
    fi
fi
if [ ! -d "$SONG" ]; then
    echo "inference.sh: song folder not found: $SONG" >&2
    exit 2
fi
NAME="$(basename "$SONG")"
OUTPUT="${2:-${AUTOMIX_OUTPUT:-$REPO_ROOT/training/inference/${NAME}_mixture.wav}}"
shift $(( $# < 2 ? $# : 2 ))
RESULTS="${AUTOMIX_RESULTS:-$REPO_ROOT/training/results/ours_demo_La}"
FEATURES="${AUTOMIX_FEATURES:-$REPO_ROOT/training/features/features_demo.npz}"
IR_DIR="${AUTOMIX_IR_DIR:-$REPO_ROOT/demo_data/irs/reverb}"

ARGS=(--features "$FEATURES" --output "$OUTPUT")
for stem in vocals bass drums other; do
    for ext in wav flac; do
        if [ -f "$SONG/$stem.$ext" ]; then
            ARGS+=("--$stem" "$SONG/$stem.$ext")
            break
        fi
    done
done
if [ "$IR_DIR" != "none" ] && [ -d "$IR_DIR" ]; then
    ARGS+=(--impulse-responses "$IR_DIR")
fi
case " $* ${AUTOMIX_MIX_ARGS:-} " in
    *" --baseline-sum "*) ;;
    *)
        if [ ! -d "$RESULTS" ]; then
            echo "inference.sh: no trained model in $RESULTS: train the demo model first (bash scripts/train_fxnorm_automix.sh), set" >&2
            echo "  AUTOMIX_RESULTS=DIR, or pass --baseline-sum for the normalized sum" >&2
            exit 2
        fi
        ARGS+=(--results "$RESULTS") ;;
esac
# shellcheck disable=SC2206
EXTRA=(${AUTOMIX_MIX_ARGS:-})
echo "== mixing $SONG -> $OUTPUT"
exec "$PY" -m automix.inference "${ARGS[@]}" "${EXTRA[@]}" "$@"
