#!/usr/bin/env bash
# Sourced by the scripts that run without installing anything: sets REPO_ROOT, PY (the interpreter) and PYTHONPATH.
#   AUTOMIX_PYTHON  python interpreter (default: $PYTHON if exported, else <repo>/.venv/bin/python, else python3)
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${AUTOMIX_PYTHON:-}" ]; then
    PY="$AUTOMIX_PYTHON"
elif [ -n "${PYTHON:-}" ]; then
    PY="$PYTHON"
elif [ -x "$REPO_ROOT/.venv/bin/python" ]; then
    PY="$REPO_ROOT/.venv/bin/python"
else
    PY="$(command -v python3 || command -v python)"
fi
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
