#!/usr/bin/env bash
# Start a private single-node SLURM cluster (munged + slurmctld + slurmd) for CI.
#
#   eval "$(bash .ci/slurm/up.sh STATE_DIR)"     # exports SLURM_CONF
#   ...                                          # sbatch / squeue / dask-jobqueue / snakemake
#   bash .ci/slurm/down.sh STATE_DIR
#
# Only the `export SLURM_CONF=...` line goes to stdout; every other message goes
# to stderr, so the `eval` above is safe. All SLURM state, spool, pid and log
# files live under STATE_DIR. Runs as root (CI), needs no stdin and no systemd.
#
# Re-running with the same STATE_DIR while the daemons are still up is a no-op
# apart from re-checking that the node is idle. On failure it prints the
# relevant log tails to stderr, stops whatever it started (via down.sh) and
# exits non-zero.
#
# Optional environment:
#   SLURM_CI_TIMEOUT       seconds to wait for the node to become idle   [60]
#   SLURM_CI_CTLD_PORT     slurmctld TCP port                            [6817]
#   SLURM_CI_SLURMD_PORT   slurmd TCP port                               [6818]
set -euo pipefail

# Keep the real stdout on fd 3 for the single `export` line; everything else
# (including apt-get and daemon chatter) goes to stderr.
exec 3>&1 1>&2

log() { printf '[slurm-up] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ $# -eq 1 ] || die "usage: $0 STATE_DIR"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
STATE_DIR=$(cd "$1" && pwd)          # absolute: slurm.conf paths must be absolute
CONF="$STATE_DIR/slurm.conf"
TIMEOUT=${SLURM_CI_TIMEOUT:-60}
CTLD_PORT=${SLURM_CI_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_CI_SLURMD_PORT:-6818}
T0=$(date +%s)

# ---------------------------------------------------------------- packages ---
pkgs_installed() {
    local p st
    for p in slurm-wlm munge; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$st" in *" ok installed") ;; *) return 1 ;; esac   # also "hold ok installed"
    done
}
if ! pkgs_installed; then
    [ "$(id -u)" -eq 0 ] || die "slurm-wlm/munge not installed and not root"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y --no-install-recommends slurm-wlm munge </dev/null; }
    log "installing slurm-wlm and munge"
    # A fresh image may have no package lists yet: update once, then retry.
    if ! apt_install; then
        log "apt-get install failed; running apt-get update once and retrying"
        apt-get update </dev/null
        apt_install
    fi
    pkgs_installed || die "slurm-wlm/munge still not installed"
    # The package scripts cannot start services here (no systemd); we start
    # the daemons ourselves below.
fi
for c in munged mungekey munge unmunge slurmctld slurmd sinfo scontrol runuser; do
    command -v "$c" >/dev/null || die "missing command: $c"
done

# Is the PID in FILE alive and still the program NAME? (/proc/PID/comm guards
# against a stale pid file whose PID was reused by an unrelated process.)
pid_alive() {   # FILE NAME
    local pid
    [ -s "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

# Start a daemon with NO inherited file descriptors. The caller runs us as
# `eval "$(up.sh DIR)"` (maybe with stderr piped to tee, or under a CI log
# pipe); a daemon that keeps any of those pipes open -- our stdout on fd 3, or
# e.g. a process-substitution fd 63 -- makes the caller wait for EOF forever.
# munged in particular does not close inherited fds when it daemonizes. So
# stdio goes to STATE_DIR/NAME.stdio (what it prints before detaching) and
# every fd above 2 is closed before exec.
launch() {   # NAME CMD...
    local name=$1; shift
    (
        for f in /proc/self/fd/*; do
            n=${f##*/}
            [ "$n" -gt 2 ] && exec {n}>&-
        done
        exec "$@"
    ) </dev/null >>"$STATE_DIR/$name.stdio" 2>&1
}

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

fail() {
    log "ERROR: $*"
    local f
    for f in "$STATE_DIR"/*.stdio "$STATE_DIR/slurmctld.log" "$STATE_DIR/slurmd.log" \
             /var/log/munge/munged.log; do
        [ -s "$f" ] || continue
        log "---- last 40 lines of $f ----"
        tail -n 40 "$f" >&2 || true
    done
    # Only ask the controller if it is ours (on a port clash it would not be).
    if pid_alive "$STATE_DIR/slurmctld.pid" slurmctld; then
        log "---- sinfo -N -l ----"
        SLURM_CONF=$CONF timeout 10 sinfo -N -l >&2 2>&1 || true
    fi
    log "stopping whatever was started (down.sh)"
    bash "$HERE/down.sh" "$STATE_DIR" || true
    exit 1
}

# ------------------------------------------------------------------- munge ---
# munged refuses to run as root ("PRNG seed dir is insecure"), so it runs as
# the munge user; its socket/pid dir /run/munge must exist and be owned by it
# (normally systemd's tmpfiles creates it; there is no systemd here).
if [ ! -s /etc/munge/munge.key ]; then
    log "creating munge key"
    install -d -o munge -g munge -m 0700 /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0600 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge

if munge_ok; then
    # A munged already answers on the default socket (ours from an earlier
    # run with this STATE_DIR, or someone else's): reuse it. Only record a PID
    # (and so only let down.sh stop it) if we started it.
    if pid_alive "$STATE_DIR/munged.pid" munged; then
        log "munged already running (pid $(cat "$STATE_DIR/munged.pid"), ours)"
    else
        rm -f "$STATE_DIR/munged.pid"
        log "munged already running (not started by us; down.sh will leave it alone)"
    fi
else
    rm -f "$STATE_DIR/munged.pid"
    # munged writes its own pid file; it must be in a dir the munge user can
    # write, which STATE_DIR (often a root-only mktemp dir) is not. So it
    # writes to /run/munge and we copy the PID into STATE_DIR for down.sh.
    MUNGE_PIDFILE=/run/munge/munged.pid
    rm -f "$MUNGE_PIDFILE"   # nothing answers on the socket, so it is stale
    log "starting munged"
    launch munged runuser -u munge -- munged --pid-file="$MUNGE_PIDFILE" \
        || fail "munged failed to start"
    for _ in $(seq 1 50); do
        [ -s "$MUNGE_PIDFILE" ] && munge_ok && break
        sleep 0.2
    done
    [ -s "$MUNGE_PIDFILE" ] || fail "munged wrote no pid file $MUNGE_PIDFILE"
    cp "$MUNGE_PIDFILE" "$STATE_DIR/munged.pid"
    munge_ok || fail "munged (pid $(cat "$STATE_DIR/munged.pid")) does not answer"
    log "munged up (pid $(cat "$STATE_DIR/munged.pid"))"
fi

# -------------------------------------------------------------- slurm.conf ---
HOST=$(hostname -s 2>/dev/null || uname -n)
HOST=${HOST%%.*}
if pid_alive "$STATE_DIR/slurmctld.pid" slurmctld && [ -f "$CONF" ]; then
    log "slurmctld already running from $STATE_DIR; keeping existing $CONF"
else
    # Node line straight from the hardware probe; `slurmd -C` also prints an
    # "UpTime=..." line that is not valid in slurm.conf, so keep only NodeName.
    NODE_LINE=$(slurmd -C | grep '^NodeName=' | head -n 1) \
        || die "slurmd -C printed no NodeName line"
    NODE=${NODE_LINE#NodeName=}
    NODE=${NODE%% *}
    mkdir -p "$STATE_DIR/state" "$STATE_DIR/spool"
    tmp=$(mktemp "$STATE_DIR/slurm.conf.XXXXXX")
    cat >"$tmp" <<EOF
# Generated by .ci/slurm/up.sh -- private single-node CI cluster.
ClusterName=ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without DefMemPerCPU a job that asks for no memory gets the whole node and
# jobs run one at a time.
DefMemPerCPU=1024
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
$NODE_LINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 0644 "$tmp"   # mktemp makes it 0600; non-root clients must read it
    mv "$tmp" "$CONF"
    log "wrote $CONF (node: $NODE_LINE)"
fi
export SLURM_CONF=$CONF
NODE=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' "$CONF" | head -n 1)

# ------------------------------------------------------------------ daemons ---
# Both daemonize and write the pid files named in slurm.conf; down.sh stops
# them by those PIDs.
wait_pidfile() {   # FILE NAME
    for _ in $(seq 1 75); do
        pid_alive "$1" "$2" && return 0
        sleep 0.2
    done
    return 1
}
# A port already taken (e.g. another cluster left running) makes the new
# daemon die right after it has written its pid file -- and worse, our clients
# would then silently talk to the OTHER cluster. So refuse up front.
port_busy() { timeout 2 bash -c "exec 9<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
if pid_alive "$STATE_DIR/slurmctld.pid" slurmctld; then
    log "slurmctld already running (pid $(cat "$STATE_DIR/slurmctld.pid"))"
else
    port_busy "$CTLD_PORT" && fail "port $CTLD_PORT already in use (another slurmctld? run down.sh on its STATE_DIR, or set SLURM_CI_CTLD_PORT)"
    log "starting slurmctld"
    rm -f "$STATE_DIR/slurmctld.pid"
    launch slurmctld slurmctld -f "$CONF" || fail "slurmctld failed to start"
    wait_pidfile "$STATE_DIR/slurmctld.pid" slurmctld \
        || fail "slurmctld did not stay up (no live pid in $STATE_DIR/slurmctld.pid)"
fi
# slurmd registers with the controller at start-up, so wait until the
# controller answers before starting it. The pid file is written before the
# port is bound, so also re-check that the daemon is still alive.
ok=0
for _ in $(seq 1 75); do
    if timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; then ok=1; break; fi
    pid_alive "$STATE_DIR/slurmctld.pid" slurmctld || break
    sleep 0.2
done
pid_alive "$STATE_DIR/slurmctld.pid" slurmctld || fail "slurmctld exited during start-up"
[ "$ok" -eq 1 ] || fail "slurmctld does not answer 'scontrol ping'"
log "slurmctld up (pid $(cat "$STATE_DIR/slurmctld.pid"))"
if pid_alive "$STATE_DIR/slurmd.pid" slurmd; then
    log "slurmd already running (pid $(cat "$STATE_DIR/slurmd.pid"))"
else
    port_busy "$SLURMD_PORT" && fail "port $SLURMD_PORT already in use (another slurmd? run down.sh on its STATE_DIR, or set SLURM_CI_SLURMD_PORT)"
    log "starting slurmd"
    rm -f "$STATE_DIR/slurmd.pid"
    launch slurmd slurmd -f "$CONF" || fail "slurmd failed to start"
    wait_pidfile "$STATE_DIR/slurmd.pid" slurmd \
        || fail "slurmd did not stay up (no live pid in $STATE_DIR/slurmd.pid)"
    log "slurmd up (pid $(cat "$STATE_DIR/slurmd.pid"))"
fi

# ------------------------------------------------------- wait for idle node ---
state=""
resumed=0
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
    state=$(timeout 10 sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1 || true)
    case "$state" in
        idle) break ;;
        # A node left DOWN/DRAINED in a reused state dir (e.g. after an unclean
        # stop) is put back into service once.
        down*|drain*|fail*)
            if [ "$resumed" -eq 0 ]; then
                log "node $NODE is '$state'; resuming it"
                timeout 10 scontrol update NodeName="$NODE" State=RESUME || true
                resumed=1
            fi ;;
    esac
    # On a re-run, jobs still running from earlier use leave the node busy
    # rather than idle; it is up and usable all the same.
    case "$state" in mixed|allocated) break ;; esac
    pid_alive "$STATE_DIR/slurmctld.pid" slurmctld || fail "slurmctld exited"
    pid_alive "$STATE_DIR/slurmd.pid" slurmd || fail "slurmd exited"
    [ "$(date +%s)" -lt "$deadline" ] || fail "node $NODE not idle after ${TIMEOUT}s (state: '${state:-none}')"
    sleep 0.5
done
log "node $NODE is $state after $(( $(date +%s) - T0 ))s; SLURM_CONF=$CONF"

printf 'export SLURM_CONF=%q\n' "$CONF" >&3
