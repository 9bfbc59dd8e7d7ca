#!/usr/bin/env bash
# Set up skybench on a fresh Debian machine: system packages (as root), then the project's
# virtualenv in .venv with the bench installed in it. Idempotent: re-running refreshes both.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ "$(id -u)" -eq 0 ]; then
    scripts/install-system-deps.sh >/tmp/skybench-system-deps.log 2>&1 || {
        cat /tmp/skybench-system-deps.log >&2
        echo "setup.sh: installing the system packages failed (log above)" >&2
        exit 1
    }
else
    echo "setup.sh: not root: skipping system packages (run scripts/install-system-deps.sh as root)" >&2
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: skybench needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
echo "setup.sh: ready: $(.venv/bin/skybench --version 2>/dev/null || .venv/bin/python -c 'import bench; print("skybench", bench.__version__)')"
