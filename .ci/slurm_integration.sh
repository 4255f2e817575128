#!/usr/bin/env bash
# SLURM integration test of the sweep pipeline on a private single-node SLURM cluster.
#
#   bash .ci/slurm_integration.sh [PYTEST_ARGS...]
#
# Brings a cluster up with .ci/slurm/up.sh (in a fresh state dir), runs the `slurm`-marked
# tests (tests/sweep/test_slurm.py):
#   (a) the Snakemake workflow with `--workflow-profile workflow/profiles/slurm` (executor slurm),
#   (b) a sweep on a dask-jobqueue SLURMCluster,
# each compared bitwise with a local run, and stops the cluster again with .ci/slurm/down.sh
# (which stops only the daemons up.sh started, by their PIDs) -- also on failure or Ctrl-C.
#
# Environment:
#   PYTHON                 interpreter with qtmsweep[test,slurm] installed [python3 on PATH, or .venv]
#   SLURM_CI_CTLD_PORT / SLURM_CI_SLURMD_PORT   ports for the private cluster [6817/6818]
#   QTMSWEEP_SLURM_STATE   reuse this state dir instead of a fresh mktemp one
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ -z "${PYTHON:-}" ]; then
    if [ -x "$root/.venv/bin/python" ]; then PYTHON="$root/.venv/bin/python"; else PYTHON=$(command -v python3); fi
fi
"$PYTHON" -c "import qtmsweep, dask_jobqueue, snakemake_executor_plugin_slurm" \
    || { echo "slurm_integration: $PYTHON lacks qtmsweep[slurm]" >&2; exit 1; }
# the jobs (snakemake, dask workers) must find this interpreter's tools
export PATH="$(dirname "$PYTHON"):$PATH"

state=${QTMSWEEP_SLURM_STATE:-$(mktemp -d /tmp/qtmsweep-slurm.XXXXXX)}
cleanup() {
    rc=$?
    bash "$root/.ci/slurm/down.sh" "$state" || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

eval "$(bash "$root/.ci/slurm/up.sh" "$state")"
export SLURM_CONF
echo "slurm_integration: SLURM up (SLURM_CONF=$SLURM_CONF)" >&2
sinfo >&2

"$PYTHON" -m pytest -m slurm -p no:cacheprovider -v "$root/tests/sweep/test_slurm.py" "$@"
