# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for slurm/dev-cluster/{up,down,node,smoke-test}.
# Sourced, not executed.

STATE_DIR="${CYPLAM_DEV_CLUSTER_DIR:-/var/lib/cyplam-dev-cluster}"
CLUSTER_NAME="cyplam-dev"
PARTITION="debug"
NODE_NAME="$(hostname -s)"
# Marker on the first line of every file `up` writes; a file without it was not ours.
MARKER="# Managed by cyplam slurm/dev-cluster/up"
# Private MariaDB instance for slurmdbd (TCP on loopback only).
DB_PORT="${CYPLAM_DEV_CLUSTER_DB_PORT:-3307}"
DB_USER="slurm"

RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"
STARTED_DIR="$STATE_DIR/started"
MYSQL_DIR="$STATE_DIR/mysql"
MYSQL_CNF="$MYSQL_DIR/my.cnf"
MYSQL_SOCK="$MYSQL_DIR/mysqld.sock"
MYSQL_PID="$MYSQL_DIR/mariadbd.pid"
MUNGE_PID="/run/munge/munged.pid"

# Multi-node mode (`up --nodes N`, N >= 2): nodes n1..nN, each a network namespace
# (cyplam-nI, /run/netns) and a UTS namespace (hostname nI, bound at $UTS_DIR/nI), joined by
# veth pairs to the bridge $BRIDGE, which holds the controller's address $NET.1; node I is
# $NET.(10+I). No route leads out of a node: its traffic reaches the bridge's /24 only.
NODES_FILE="$STATE_DIR/nodes"
NET="${CYPLAM_DEV_CLUSTER_NET:-10.213.0}"
BRIDGE="cyplam-br0"
CTLD_ADDR="$NET.1"
UTS_DIR="/run/cyplam-dev-cluster/uts"
HOSTS_BEGIN="# cyplam dev cluster nodes: begin (slurm/dev-cluster/up; removed by down)"
HOSTS_END="# cyplam dev cluster nodes: end"

# Slurm versions (`up --slurm V`): 22.05 is Debian 12's packages, installed on this machine;
# 24.11 is Debian 13's, in a root that `up` builds once with debootstrap, cached outside the
# checkout ($SLURM_ROOTS/slurm-24.11/root). A version's daemons and commands run in a mount
# namespace (pinned at $NS_DIR/slurm-V) where that root's /usr, ld.so.cache and /etc/slurm stand
# in for this machine's; every other path (checkouts, /tmp, $HOME, $STATE_DIR, munge's socket)
# is the same inside and out. So cyplam's binaries run from this machine as from a login node,
# and inside a job from the same paths, against either version. One version runs at a time (the
# same ports and nodes); $STATE_DIR/slurm-version says which. $CLIENT_BIN holds a command for
# each Slurm client that runs the version up: put it first on PATH (scripts/test does).
SLURM_VERSIONS="22.05 24.11"
SLURM_VERSION_FILE="$STATE_DIR/slurm-version"
NS_DIR="/run/cyplam-dev-cluster/ns"
SLURM_ROOTS="${CYPLAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cyplam}"
CLIENT_BIN="$STATE_DIR/bin"
DAEMON_BIN="$STATE_DIR/sbin"
CLIENTS=(sbatch squeue sacct scontrol sinfo scancel srun sacctmgr salloc sattach sstat sprio sshare sreport sdiag)

# recorded_slurm: the Slurm version the last `up` was asked for (22.05 if none).
recorded_slurm() {
    local v
    v="$(tr -dc '0-9.' 2>/dev/null <"$SLURM_VERSION_FILE" || true)"
    echo "${v:-22.05}"
}
slurm_root() { echo "$SLURM_ROOTS/slurm-$1/root"; }
slurm_ns() { echo "$NS_DIR/slurm-$1"; }
# The file in a version's root that says "you are inside that version's namespace".
inside_marker() { echo "/usr/share/cyplam-dev-cluster-slurm-$1"; }

# select_slurm V: the settings of Slurm version V: SLURM_V; SLURM_ETC and the two .conf files
# (as this machine sees them; inside V's namespace, SLURM_ETC is /etc/slurm); SLURM_EXEC, the prefix that runs one of its programs (empty for
# 22.05); the controller's state and the nodes' spool (one per version: their formats differ);
# the accounting database's name.
select_slurm() {
    SLURM_V=$1
    if [[ "$SLURM_V" == 22.05 ]]; then
        SLURM_ETC="/etc/slurm"
        SLURM_EXEC=()
        CTLD_STATE="$STATE_DIR/slurmctld"
        SLURMD_SPOOL_BASE="$STATE_DIR/slurmd"
        DB_NAME="slurm_acct_db"
    else
        SLURM_ETC="$STATE_DIR/slurm-$SLURM_V/etc"
        SLURM_EXEC=(nsenter "--mount=$(slurm_ns "$SLURM_V")" --)
        CTLD_STATE="$STATE_DIR/slurm-$SLURM_V/slurmctld"
        SLURMD_SPOOL_BASE="$STATE_DIR/slurm-$SLURM_V/slurmd"
        DB_NAME="slurm_acct_db_${SLURM_V//./_}"
    fi
    SLURM_CONF_FILE="$SLURM_ETC/slurm.conf"
    SLURMDBD_CONF="$SLURM_ETC/slurmdbd.conf"
}
select_slurm "$(recorded_slurm)"
# This machine's scripts call the clients through $CLIENT_BIN when it exists.
[[ -d "$CLIENT_BIN" ]] && PATH="$CLIENT_BIN:$PATH"

# Daemon name -> executable name as shown in /proc/PID/comm.
daemon_comm() {
    case "$1" in
        munged) echo munged ;;
        mariadb) echo mariadbd ;;
        slurmdbd) echo slurmdbd ;;
        slurmctld) echo slurmctld ;;
        slurmd | slurmd-*) echo slurmd ;;
        *) return 1 ;;
    esac
}

# Daemon name -> its pid file.
daemon_pidfile() {
    case "$1" in
        munged) echo "$MUNGE_PID" ;;
        mariadb) echo "$MYSQL_PID" ;;
        slurmdbd) echo "$RUN_DIR/slurmdbd.pid" ;;
        slurmctld) echo "$RUN_DIR/slurmctld.pid" ;;
        slurmd) echo "$RUN_DIR/slurmd.pid" ;;
        slurmd-*) echo "$RUN_DIR/$1.pid" ;; # slurmd-nI: node nI's (SlurmdPidFile=.../slurmd-%n.pid)
        *) return 1 ;;
    esac
}

# pid_is DAEMON PID: true when PID is alive and is that daemon's executable.
pid_is() {
    local comm want
    [[ "$2" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$2/comm" ]] || return 1
    # A zombie (killed, not yet reaped) is no daemon.
    ! is_zombie "$2" || return 1
    comm="$(cat "/proc/$2/comm" 2>/dev/null)" || return 1
    want="$(daemon_comm "$1")"
    # mariadbd may show up under its older name.
    [[ "$comm" == "$want" || ( "$1" == mariadb && "$comm" == mysqld ) ]]
}

# is_zombie PID: the process has exited and waits to be reaped (state Z in /proc/PID/stat).
is_zombie() {
    [[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" == Z ]]
}

# running_named NAME: some process named NAME runs (not a zombie): what `pgrep -x` would say,
# without the defunct ones a kill -9 leaves behind until they are reaped.
running_named() {
    local p
    for p in $(pgrep -x "$1"); do
        is_zombie "$p" || return 0
    done
    return 1
}

# daemon_pid DAEMON: prints the live pid from its pid file, fails otherwise.
daemon_pid() {
    local f pid
    f="$(daemon_pidfile "$1")"
    [[ -r "$f" ]] || return 1
    pid="$(tr -dc '0-9' <"$f")"
    pid_is "$1" "$pid" || return 1
    echo "$pid"
}

log() { printf '%s: %s\n' "${0##*/}" "$*"; }
die() { printf '%s: ERROR: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# stop_recorded DAEMON: SIGTERM (then SIGKILL after 30 s) the pid that `up`
# recorded for DAEMON, and drop the record. True when something was stopped.
stop_recorded() {
    local d=$1 rec pid
    rec="$STARTED_DIR/$d"
    [[ -f "$rec" ]] || return 1
    pid="$(tr -dc '0-9' <"$rec")"
    rm -f "$rec"
    stop_pid "$d" "$pid"
}

# stop_pid DAEMON PID: SIGTERM (then SIGKILL after 30 s) PID if it is DAEMON. True when
# something was stopped.
stop_pid() {
    local d=$1 pid=$2
    pid_is "$d" "$pid" || return 1
    log "stopping $d (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
        pid_is "$d" "$pid" || return 0
        sleep 0.5
    done
    log "$d (pid $pid) ignored SIGTERM for 30 s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
    return 0
}

# ---------------------------------------------------------------- nodes (multi-node mode)

# recorded_nodes: the node count the last `up` was asked for (1 if none).
recorded_nodes() {
    local n
    n="$(tr -dc '0-9' 2>/dev/null <"$NODES_FILE" || true)"
    echo "${n:-1}"
}

node_ns() { echo "cyplam-$1"; }      # node nI's network namespace
node_addr() { echo "$NET.$((10 + ${1#n}))"; }

# node_exists NODE: its network and UTS namespaces are there.
node_exists() {
    [[ -e "/run/netns/$(node_ns "$1")" ]] && mountpoint -q "$UTS_DIR/$1" 2>/dev/null
}

# on_node NODE COMMAND...: run COMMAND on node NODE (its network and hostname; same files).
on_node() {
    local n=$1
    shift
    nsenter --net="/run/netns/$(node_ns "$n")" --uts="$UTS_DIR/$n" -- "${SLURM_EXEC[@]}" "$@"
}

# existing_nodes: the nodes whose network namespace exists, whatever the mode.
existing_nodes() {
    local f
    for f in /run/netns/cyplam-n*; do
        [[ -e "$f" ]] && echo "${f##*/cyplam-}"
    done
    return 0
}

# node_pids NODE: every process running on NODE (in its network namespace).
node_pids() {
    [[ -e "/run/netns/$(node_ns "$1")" ]] || return 0
    ip netns pids "$(node_ns "$1")" 2>/dev/null || true
}

# kill_node_processes NODE: SIGKILL everything on NODE, as a power cut would (no SIGTERM
# first), until nothing is left. Prints how many processes it killed.
kill_node_processes() {
    local n=$1 pids killed=0
    for _ in $(seq 1 50); do
        pids="$(node_pids "$n")"
        [[ -n "$pids" ]] || break
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        killed=$((killed + $(wc -w <<<"$pids")))
        sleep 0.1
    done
    echo "$killed"
}

# remove_node NODE: kill what runs on it and delete its namespaces and link.
remove_node() {
    local n=$1
    kill_node_processes "$n" >/dev/null
    rm -f "$STARTED_DIR/slurmd-$n"
    if [[ -e "/run/netns/$(node_ns "$n")" ]]; then
        ip netns delete "$(node_ns "$n")" 2>/dev/null || true
    fi
    ip link delete "$(node_ns "$n")" 2>/dev/null || true
    if mountpoint -q "$UTS_DIR/$n" 2>/dev/null; then
        umount "$UTS_DIR/$n" 2>/dev/null || true
    fi
    rm -f "$UTS_DIR/$n"
}

# hosts_without_nodes: /etc/hosts without the block `up` adds.
hosts_without_nodes() {
    awk -v b="$HOSTS_BEGIN" -v e="$HOSTS_END" '$0 == b {skip = 1; next} $0 == e {skip = 0; next} !skip' /etc/hosts
}

# remove_all_nodes: every node namespace, the bridge and the /etc/hosts block gone.
remove_all_nodes() {
    local n new
    for n in $(existing_nodes); do remove_node "$n"; done
    for f in "$UTS_DIR"/*; do
        [[ -e "$f" ]] || continue
        remove_node "${f##*/}"
    done
    ip link delete "$BRIDGE" 2>/dev/null || true
    if grep -qxF "$HOSTS_BEGIN" /etc/hosts 2>/dev/null; then
        new="$(hosts_without_nodes)"
        # Rewritten in place (not renamed over): /etc/hosts may be a bind mount.
        printf '%s\n' "$new" >/etc/hosts
    fi
}
