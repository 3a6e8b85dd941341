# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for slurm/dev-cluster/{up,down,smoke-test}.
# Sourced, not executed.

STATE_DIR="${CYPLAM_DEV_CLUSTER_DIR:-/var/lib/cyplam-dev-cluster}"
CLUSTER_NAME="cyplam-dev"
PARTITION="debug"
NODE_NAME="$(hostname -s)"
SLURM_ETC="/etc/slurm"
SLURM_CONF_FILE="$SLURM_ETC/slurm.conf"
SLURMDBD_CONF="$SLURM_ETC/slurmdbd.conf"
# Marker on the first line of every file `up` writes; a file without it was not ours.
MARKER="# Managed by cyplam slurm/dev-cluster/up"
# Private MariaDB instance for slurmdbd (TCP on loopback only).
DB_PORT="${CYPLAM_DEV_CLUSTER_DB_PORT:-3307}"
DB_NAME="slurm_acct_db"
DB_USER="slurm"

RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"
STARTED_DIR="$STATE_DIR/started"
MYSQL_DIR="$STATE_DIR/mysql"
MYSQL_CNF="$MYSQL_DIR/my.cnf"
MYSQL_SOCK="$MYSQL_DIR/mysqld.sock"
MYSQL_PID="$MYSQL_DIR/mariadbd.pid"
MUNGE_PID="/run/munge/munged.pid"

# Daemon name -> executable name as shown in /proc/PID/comm.
daemon_comm() {
    case "$1" in
        munged) echo munged ;;
        mariadb) echo mariadbd ;;
        slurmdbd) echo slurmdbd ;;
        slurmctld) echo slurmctld ;;
        slurmd) echo slurmd ;;
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
