#!/usr/bin/env bash
# Optional benchmark env with QmeQ (the field's reference Pauli solver) next to qtmsweep.
#
#   benchmarks/envs/qmeq.sh [QMEQ_SOURCE] [VENV]
#
# QMEQ_SOURCE  a git URL or path of QmeQ's repository (default https://github.com/gedaskir/qmeq),
#              checked out at $QMEQ_REF (default: the tag 1.1, i.e. QmeQ v1.1);
#              or a directory holding an already checked-out QmeQ source tree (used as it is).
# VENV         the venv to create (default: .venv-qmeq at the repository root, git-ignored).
# PYTHON       the interpreter to create it with (default python3; qtmsweep needs >= 3.11).
#
# It creates the venv, installs the pins of qmeq-requirements.txt (numpy 1.26, scipy 1.11,
# Cython 0.29, setuptools < 70, wheel), builds QmeQ from source against them
# (pip --no-build-isolation, so the pinned Cython and numpy are the ones used), then installs
# qtmsweep editable with its test extras, constrained to the same pins. Then, for example:
#
#   OMP_NUM_THREADS=1 .venv-qmeq/bin/python benchmarks/peers.py
#
# (QmeQ's kernels use OpenMP: without OMP_NUM_THREADS=1 they stall on a busy core.)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
src=${1:-${QMEQ_SOURCE:-https://github.com/gedaskir/qmeq}}
ref=${QMEQ_REF:-1.1}
venv=${2:-${QMEQ_VENV:-$root/.venv-qmeq}}
python=${PYTHON:-python3}
req=$here/qmeq-requirements.txt

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

qsrc=$work/qmeq
if [ -d "$src" ] && [ -f "$src/setup.py" ]; then
    echo "QmeQ source: $src (a copy of it as it is)"
    cp -a "$src" "$qsrc"
else
    echo "QmeQ source: $src at $ref"
    git clone --quiet "$src" "$qsrc"
    git -C "$qsrc" -c advice.detachedHead=false checkout --quiet "$ref"
fi
# QmeQ 1.1's pyproject.toml has a [project] table without a name, which setuptools >= 61 refuses;
# it holds nothing else that a --no-build-isolation build uses (requires-python >= 3.6 and the
# build requirements, installed here from the pins), so the build goes through setup.py alone.
rm -f "$qsrc/pyproject.toml"

"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip)
"${pip[@]}" install -r "$req"
# --no-build-isolation: build with the pinned numpy/Cython/setuptools just installed
"${pip[@]}" install --no-build-isolation --no-deps "$qsrc"
"${pip[@]}" install -c "$req" -e "$root[test]"
# the numpy C API QmeQ was compiled against must still be the one installed
"$venv/bin/python" - <<'PY'
import numpy, scipy, qmeq, qtmsweep
print(f"numpy {numpy.__version__}, scipy {scipy.__version__}, qmeq {qmeq.__version__}, qtmsweep {qtmsweep.__file__}")
PY
echo "done: OMP_NUM_THREADS=1 $venv/bin/python benchmarks/peers.py"
