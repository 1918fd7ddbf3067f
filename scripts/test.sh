#!/usr/bin/env bash
# Run the test suite (sets up <repo>/.venv on first use; AUTOMIX_USE_CURRENT_ENV=1 uses the current environment).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k audio`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
cd "$REPO_ROOT"
exec "$PYTHON" -m pytest tests -q "$@"
