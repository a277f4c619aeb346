#!/usr/bin/env bash
# Run the test suite in the set-up environment (see Makefile `test`). Extra arguments go to pytest.
# The pytest executable is used rather than `python -m pytest`, which would put the source tree's
# `a2r_ros` (without generated interfaces) ahead of the installed one on sys.path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec pytest "$@"
