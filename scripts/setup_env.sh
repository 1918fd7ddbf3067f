#!/usr/bin/env bash
# Sourced by the other scripts: sets REPO_ROOT and PYTHON, creating and filling a virtual environment once.
#   AUTOMIX_USE_CURRENT_ENV=1  use the current python environment instead of <repo>/.venv (still installs into it)
#   AUTOMIX_VENV=DIR           virtual environment folder (default <repo>/.venv)
#   AUTOMIX_BASE_PYTHON=PATH   interpreter to create the venv with (default python3)
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
if [ "${AUTOMIX_USE_CURRENT_ENV:-0}" = "1" ]; then
    PYTHON="$(command -v python3 || command -v python)"
else
    VENV="${AUTOMIX_VENV:-$REPO_ROOT/.venv}"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "[automix] creating virtual environment in $VENV"
        "${AUTOMIX_BASE_PYTHON:-python3}" -m venv "$VENV" || return 1 2>/dev/null || exit 1
    fi
    PYTHON="$VENV/bin/python"
fi
export PYTHON
# Install only when the requirements changed since the last install (idempotent and fast on reruns).
STAMP_DIR="$("$PYTHON" -c 'import sys; print(sys.prefix)')"
STAMP="$STAMP_DIR/.automix-install-stamp"
WANT="$(cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-nodeps.txt" "$REPO_ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ] || ! "$PYTHON" -c 'import automix' 2>/dev/null; then
    echo "[automix] installing requirements into $STAMP_DIR (a few minutes the first time)"
    # -qq: pip's errors only (its warnings about a machine's own index settings are not ours to show)
    "$PYTHON" -m pip install -qq -r "$REPO_ROOT/requirements.txt" \
    && "$PYTHON" -m pip install -qq --no-deps -r "$REPO_ROOT/requirements-nodeps.txt" \
    && "$PYTHON" -m pip install -qq --no-deps -e "$REPO_ROOT" \
    && echo "$WANT" > "$STAMP" || { echo "[automix] installation failed" >&2; return 1 2>/dev/null || exit 1; }
fi
