#!/usr/bin/env bash
# Runs the CPU benchmarks beside NumPy (installs NumPy with pip if it is missing).
set -euo pipefail
build=${1:-build}
python3 -c "import numpy" 2>/dev/null || python3 -m pip install -q numpy
python3 "$(dirname "$0")/compare/cpu_vs_numpy.py" "$build"
