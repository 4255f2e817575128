#!/usr/bin/env bash
# Stop the private SLURM cluster that .ci/slurm/up.sh started in STATE_DIR.
#
#   bash .ci/slurm/down.sh STATE_DIR
#
# Stops ONLY the daemons up.sh started, by the PIDs in their pid files under
# STATE_DIR (slurmd, then slurmctld, then munged -- munged only if up.sh
# started it). Never matches processes by name. Succeeds if they are already
# gone or STATE_DIR does not exist. Leaves STATE_DIR (logs, job output) alone.
#
# Optional environment:
#   SLURM_CI_STOP_TIMEOUT  seconds to wait for each daemon after SIGTERM [30]
set -euo pipefail

log() { printf '[slurm-down] %s\n' "$*" >&2; }

[ $# -eq 1 ] || { log "usage: $0 STATE_DIR"; exit 2; }
if [ ! -d "$1" ]; then
    log "$1 does not exist; nothing to stop"
    exit 0
fi
STATE_DIR=$(cd "$1" && pwd)
STOP_TIMEOUT=${SLURM_CI_STOP_TIMEOUT:-30}

# Print the PID in FILE if that process is alive and is still the program NAME
# (/proc/PID/comm guards against a stale pid file whose PID was reused).
live_pid() {   # FILE NAME
    local pid
    [ -s "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    printf '%s\n' "$pid"
}

# Best effort: cancel jobs still queued/running in THIS cluster (they belong to
# it alone) so slurmd's job steps and the jobs' processes do not outlive it.
# Bounded by `timeout`; skipped when the controller is not running.
if [ -f "$STATE_DIR/slurm.conf" ] && live_pid "$STATE_DIR/slurmctld.pid" slurmctld >/dev/null \
        && command -v squeue >/dev/null; then
    export SLURM_CONF="$STATE_DIR/slurm.conf"
    jobs=$(timeout 10 squeue -h -o '%i' 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        log "cancelling jobs still in the queue: $(echo $jobs)"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs || true
        for _ in $(seq 1 20); do
            [ -z "$(timeout 10 squeue -h -t RUNNING,COMPLETING -o '%i' 2>/dev/null || true)" ] && break
            sleep 0.5
        done
    fi
fi

rc=0
stop() {   # NAME PIDFILE
    local name=$1 file=$2 pid i
    if ! pid=$(live_pid "$file" "$name"); then
        log "$name: not running (pid file: $file)"
        [ "$name" = munged ] && rm -f "$file"   # our copy; munged removes its own
        return 0
    fi
    log "$name: SIGTERM to pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < STOP_TIMEOUT * 5; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: pid $pid still alive after ${STOP_TIMEOUT}s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for (( i = 0; i < 25; i++ )); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
    fi
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: pid $pid would not die"
        rc=1
    else
        log "$name: pid $pid stopped"
        [ "$name" = munged ] && rm -f "$file"
    fi
    return 0
}

# slurmd first (it talks to the controller on the way down), then the
# controller, then munge (both slurm daemons authenticate through it).
stop slurmd    "$STATE_DIR/slurmd.pid"
stop slurmctld "$STATE_DIR/slurmctld.pid"
stop munged    "$STATE_DIR/munged.pid"
exit "$rc"
