#!/bin/bash
# shellcheck disable=SC1090  # it sources DIR/state and DIR/rabbitmq/env.sh
# scripts/stack.sh start|stop|status [DIR]
#
# A throwaway RabbitMQ and PostgreSQL for development and tests, on free
# loopback ports, all state under DIR (default: .stack in the repo root).
#
# start   Starts RabbitMQ (unless VOLMGR_TRANSPORT_URL is set) and PostgreSQL
#         (unless VOLMGR_DB_URL is set) and writes DIR/env:
#             export VOLMGR_TRANSPORT_URL=amqp://volmgr:volmgr@127.0.0.1:P/
#             export VOLMGR_DB_URL=postgresql://volmgr@127.0.0.1:P/volmgr
#             export VOLMGR_PG_ADMIN_URL=postgresql://volmgr@127.0.0.1:P/postgres
#             export VOLMGR_RABBIT_PID=... VOLMGR_EPMD_PID=... VOLMGR_PG_PID=...
#         External URLs are passed through unchanged (their pid lines are
#         empty); with an external VOLMGR_DB_URL, VOLMGR_PG_ADMIN_URL defaults
#         to the same URL with database "postgres".
#         If DIR already holds a stack (live or not), start STOPS IT FIRST and
#         starts a fresh one: every start gives empty brokers and databases.
# stop    Stops exactly the processes start recorded in DIR/state (by pid,
#         checking each pid still runs the program we started), then removes
#         the data start created (DIR/env, DIR/state, DIR/rabbitmq, DIR/pg).
#         Other things in DIR (volumes, configs, nested stacks) are left alone.
# status  Prints what runs; exit 0 when every component start started is alive.
# broker-stop | broker-start | db-stop | db-start
#         Fault injection for tests: stops (rabbitmqctl stop; PostgreSQL with
#         pg_ctl -m immediate, a crash) or starts again the broker or the
#         database of a stack that start started, on the same ports and data,
#         and records the new pids in DIR/state and DIR/env so that stop still
#         stops them by pid.
# broker-block | broker-unblock
#         Fault injection for tests: raises RabbitMQ's memory alarm (a memory
#         high watermark of 0), which makes the broker stop reading from every
#         connection that publishes, or clears it (the default watermark).
# broker-reject | broker-accept
#         Fault injection for tests: sets (or clears) a policy that makes the
#         notification queues (names starting "notifications") hold nothing and
#         refuse every publish (max-length 0, overflow reject-publish): a publisher
#         with confirms gets a basic.nack for each message.
#
# start-ha
#         Starts, instead of one broker and one database, a RabbitMQ cluster of three
#         nodes (rabbit1@localhost .. rabbit3@localhost, one epmd, one Erlang cookie;
#         nodes 2 and 3 join node 1) and a PostgreSQL primary with a synchronous
#         streaming standby (pg_basebackup -R; fsync and synchronous_commit on), and
#         writes DIR/env with the multi-host URLs (docs/operations.md):
#             VOLMGR_TRANSPORT_URL=amqp://volmgr:volmgr@127.0.0.1:P1,volmgr:volmgr@127.0.0.1:P2,...
#             VOLMGR_DB_URL=postgresql://volmgr@127.0.0.1:P1,127.0.0.1:P2/volmgr?target_session_attrs=read-write
#             VOLMGR_PG_ADMIN_URL (the same hosts, database postgres)
#             VOLMGR_RABBIT_NODES, VOLMGR_RABBIT_PORTS (the nodes' names and AMQP ports
#             in order), VOLMGR_PG_PORTS (primary's, standby's)
#         External URLs are not used: start-ha always starts its own servers.
# node-stop N | node-start N
#         Fault injection on a start-ha stack: stops RabbitMQ node N (rabbitmqctl stop,
#         its VM goes away) or starts it again on the same data (it rejoins the cluster).
# primary-stop | standby-promote
#         Fault injection on a start-ha stack: crashes the primary (pg_ctl stop -m
#         immediate), or promotes the standby (pg_ctl promote) and waits until it
#         leaves recovery.
# rabbitmqctl N ARGS...
#         Runs rabbitmqctl ARGS against node N of a start-ha stack (with its
#         cookie and epmd), bounded by 60 s.
#
# VOLMGR_STACK_DURABLE=1 starts PostgreSQL with fsync and synchronous_commit on
# (production durability, for make bench); by default both are off.
#
# Every wait is bounded: STACK_TIMEOUT (default 90 s) for start, 30 s per
# component for stop.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CMD=${1:-}
DIR=${2:-$REPO/.stack}
shift $(($# < 2 ? $# : 2))
ARGS=("$@")
STACK_TIMEOUT=${STACK_TIMEOUT:-90}

COMMANDS='start|start-ha|stop|status|broker-stop|broker-start|db-stop|db-start|broker-block|broker-unblock|broker-reject|broker-accept|node-stop|node-start|primary-stop|standby-promote|rabbitmqctl'
if ! [[ $CMD =~ ^($COMMANDS)$ ]]; then
    echo "usage: $0 ${COMMANDS//|/ | } [DIR [ARGS...]]" >&2
    exit 2
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
STATE=$DIR/state
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

log() { echo "stack: $*" >&2; }
die() { log "error: $*"; exit 1; }

RABBIT_LIB=/usr/lib/rabbitmq/bin
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)

# --- helpers ---------------------------------------------------------------

# alive PID PATTERN: PID exists and its command line contains PATTERN
# (guards against killing a recycled pid).
alive() {
    local pid=$1 pat=$2
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -Eq -- "$pat"
}

# wait_gone PID PATTERN SECONDS
wait_gone() {
    local pid=$1 pat=$2 deadline=$((SECONDS + $3))
    while alive "$pid" "$pat"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# stop_pid PID PATTERN SIGNAL SECONDS: signal, bounded wait, then SIGKILL.
stop_pid() {
    local pid=$1 pat=$2 sig=$3 secs=$4
    alive "$pid" "$pat" || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$pat" "$secs"; then
        log "pid $pid ($pat) ignored SIG$sig for ${secs}s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" "$pat" 5 || log "pid $pid survived SIGKILL"
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_ports N: N distinct free TCP ports in 20000-32000 (kept below the
# ephemeral range; RabbitMQ's CLI uses 35672-35682).
free_ports() {
    "$PY" - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1]); socks = []; ports = []
cands = list(range(20000, 32000)); random.shuffle(cands)
for p in cands:
    if len(ports) == n:
        break
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("0.0.0.0", p))
    except OSError:
        s.close(); continue
    socks.append(s); ports.append(p)
print(" ".join(map(str, ports)))
EOF
}

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# RABBIT_SH_PID is the rabbitmq-server wrapper script we start (sh, which
# runs erl -> beam.smp as its child and turns SIGTERM into a clean stop);
# RABBIT_PID is that beam.smp.
RABBIT_SH_PAT='rabbitmq-server|/erl|stack.sh'

# RDIR is the directory of the RabbitMQ node the rabbit functions work on: DIR/rabbitmq
# for start's single node, DIR/rabbitmq/nN for node N of start-ha (with_node).
RDIR=$DIR/rabbitmq
rabbit_env_file() { echo "$RDIR/env.sh"; }

# with_node N CMD...: runs CMD (a rabbit function) on node N of a start-ha stack: RDIR,
# RABBIT_SH_PID and RABBIT_PID are that node's for it, and its pids are kept afterwards.
with_node() {
    local n=$1; shift
    local sh_var=NODE_SH_PID_$n pid_var=NODE_PID_$n
    local RDIR=$DIR/rabbitmq/n$n RABBIT_SH_PID=${!sh_var:-} RABBIT_PID=${!pid_var:-}
    "$@"
    printf -v "$sh_var" %s "$RABBIT_SH_PID"
    printf -v "$pid_var" %s "$RABBIT_PID"
}

# with_standby CMD...: runs CMD (a PostgreSQL function) on the standby of a start-ha
# stack: PG_PID, PG_DATA and PG_PORT are the standby's for it, and kept afterwards.
with_standby() {
    local PG_PID=${PG2_PID:-} PG_DATA=${PG2_DATA:-} PG_PORT=${PG2_PORT:-}
    "$@"
    PG2_PID=$PG_PID PG2_DATA=$PG_DATA PG2_PORT=$PG_PORT
}

# rabbitmqctl with the node's environment, bounded.
rmqctl() {
    local secs=$1; shift
    ( . "$(rabbit_env_file)"; timeout -k 5 "$secs" "$RABBIT_LIB/rabbitmqctl" "$@" )
}

admin_url_for() {
    "$PY" - "$1" <<'EOF'
import sys, urllib.parse as u
url = sys.argv[1]
p = u.urlsplit(url)
if p.scheme not in ("postgres", "postgresql"):
    print(url)
else:
    print(u.urlunsplit((p.scheme, p.netloc, "/postgres", p.query, p.fragment)))
EOF
}

# --- stop ------------------------------------------------------------------

# Stops the RabbitMQ node of the state sourced from DIR/state (the caller's).
stop_rabbit() {
    if [ -n "${RABBIT_SH_PID:-}" ]; then
        if [ -z "${RABBIT_PID:-}" ]; then   # start was interrupted before it looked
            RABBIT_PID=$(pgrep -P "$RABBIT_SH_PID" beam.smp 2>/dev/null | head -n 1 || true)
        fi
        if alive "${RABBIT_PID:-}" beam; then
            rmqctl 30 stop >/dev/null 2>&1 || log "rabbitmqctl stop failed; signalling"
            wait_gone "$RABBIT_PID" beam 20 || true
            stop_pid "$RABBIT_PID" beam TERM 10
        fi
        stop_pid "$RABBIT_SH_PID" "$RABBIT_SH_PAT" TERM 10
    fi
    RABBIT_SH_PID='' RABBIT_PID=''
}

# stop_pg MODE: stops the PostgreSQL of the sourced state (pg_ctl -m MODE; fast or immediate).
stop_pg() {
    if [ -z "${PG_PID:-}" ] && [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")   # start was interrupted
    fi
    if [ -n "${PG_PID:-}" ]; then
        if alive "$PG_PID" postgres; then
            as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m "$1" -w -t 30 stop >/dev/null 2>&1 \
                || log "pg_ctl stop failed; signalling"
            # SIGINT is PostgreSQL's fast shutdown, SIGQUIT its immediate one.
            stop_pid "$PG_PID" postgres "$([ "$1" = immediate ] && echo QUIT || echo INT)" 10
        fi
    fi
    PG_PID=''
}

do_stop() {
    if [ ! -f "$STATE" ]; then
        rm -f "$DIR/env"
        return 0
    fi
    # shellcheck disable=SC1090
    . "$STATE"
    stop_rabbit
    # The nodes of a cluster stop in parallel (each bounded); DIR/state goes anyway.
    local n pids=()
    for n in ${HA_NODES:-}; do with_node "$n" stop_rabbit & pids+=($!); done
    for n in "${pids[@]}"; do wait "$n" || true; done
    stop_pid "${EPMD_PID:-}" epmd TERM 5
    stop_pg fast
    with_standby stop_pg fast
    rm -rf "$DIR/rabbitmq" "$DIR/pg" "$DIR/env" "$STATE"
    if [ -n "${PG_ROOT:-}" ] && [ "$PG_ROOT" != "$DIR/pg" ]; then
        rm -rf "$PG_ROOT"
    fi
    rmdir "$DIR" 2>/dev/null || true
}

# --- start -----------------------------------------------------------------

start_rabbit() {   # AMQP_PORT DIST_PORT EPMD_PORT
    start_epmd "$3"
    configure_rabbit "$1" "$2" "$3" "volmgr-$1@localhost"
    launch_rabbit
}

# start_epmd PORT: our own epmd on its own port, in the foreground so we know its pid
# (EPMD_PID); every node of the stack registers with it.
start_epmd() {
    local epmd=$1 r=$DIR/rabbitmq
    [ -x "$RABBIT_LIB/rabbitmq-server" ] || die "rabbitmq-server not installed (make deps)"
    mkdir -p "$r/log" "$r/home"
    chmod 700 "$r/home"
    # One Erlang cookie for every node and every rabbitmqctl of the stack: Erlang reads
    # $HOME/.erlang.cookie, and every node's env.sh names this HOME.
    if [ ! -f "$r/home/.erlang.cookie" ]; then
        (umask 077; "$PY" -c 'import secrets; print(secrets.token_hex(16).upper(), end="")' \
            > "$r/home/.erlang.cookie")
        chmod 400 "$r/home/.erlang.cookie"
    fi
    ( exec setsid epmd -port "$epmd" -address 127.0.0.1 \
        </dev/null >"$r/log/epmd.log" 2>&1 ) &
    EPMD_PID=$!
    local deadline=$((SECONDS + 10))
    until port_open "$epmd"; do
        kill -0 "$EPMD_PID" 2>/dev/null || die "epmd exited: $(cat "$r/log/epmd.log")"
        [ $SECONDS -lt $deadline ] || die "epmd not listening on $epmd after 10s"
        sleep 0.05
    done
}

# configure_rabbit AMQP_PORT DIST_PORT EPMD_PORT NODENAME: the configuration and the
# environment (RDIR/env.sh) of the node in RDIR.
configure_rabbit() {
    local amqp=$1 dist=$2 epmd=$3 node=$4 r=$RDIR
    mkdir -p "$r/mnesia" "$r/log"
    cat > "$r/rabbitmq.conf" <<EOF
loopback_users = none
listeners.tcp.default = 127.0.0.1:$amqp
default_vhost = /
default_user = volmgr
default_pass = volmgr
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
disk_free_limit.absolute = 5MB
log.console = false
log.file.level = info
EOF
    echo '[].' > "$r/enabled_plugins"
    : > "$r/rabbitmq-env.conf"
    cat > "$(rabbit_env_file)" <<EOF
export HOME='$DIR/rabbitmq/home'
export RABBITMQ_NODENAME='$node'
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$amqp
export RABBITMQ_DIST_PORT=$dist
export ERL_EPMD_PORT=$epmd
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_CONF_ENV_FILE='$r/rabbitmq-env.conf'
export RABBITMQ_CONFIG_FILE='$r/rabbitmq.conf'
export RABBITMQ_ADVANCED_CONFIG_FILE='$r/advanced.config'
export RABBITMQ_ENABLED_PLUGINS_FILE='$r/enabled_plugins'
export RABBITMQ_MNESIA_BASE='$r/mnesia'
export RABBITMQ_LOG_BASE='$r/log'
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
EOF
}

# Starts the node configured under RDIR in the background (RABBIT_SH_PID).
launch_rabbit() {
    local r=$RDIR
    ( . "$(rabbit_env_file)"; cd "$r"; exec setsid "$RABBIT_LIB/rabbitmq-server" \
        </dev/null >>"$r/log/startup.log" 2>&1 ) &
    RABBIT_SH_PID=$!
}

wait_rabbit() {   # AMQP_PORT DEADLINE
    local amqp=$1 deadline=$2 r=$RDIR
    # Listeners open after the boot steps that create the default user.
    until port_open "$amqp"; do
        if ! kill -0 "$RABBIT_SH_PID" 2>/dev/null; then
            tail -n 30 "$r/log/startup.log" >&2 || true
            die "RabbitMQ exited during startup (logs: $r/log)"
        fi
        [ $SECONDS -lt "$deadline" ] || die "RabbitMQ not listening on $amqp by the deadline (logs: $r/log)"
        sleep 0.1
    done
    RABBIT_PID=$(pgrep -P "$RABBIT_SH_PID" beam.smp | head -n 1 || true)
    [ -n "$RABBIT_PID" ] || die "no beam.smp under rabbitmq-server pid $RABBIT_SH_PID"
    local left=$((deadline - SECONDS)); [ $left -ge 5 ] || left=5
    rmqctl "$left" await_startup --timeout "$left" >/dev/null \
        || die "rabbitmqctl await_startup failed (logs: $r/log)"
}

start_pg() {   # PORT
    local port=$1 root=$DIR/pg
    [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || die "PostgreSQL server not installed (make deps)"
    mkdir -p "$root"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$root"
        # DIR may sit below a directory the postgres user cannot enter.
        if ! runuser -u postgres -- test -w "$root" 2>/dev/null; then
            rmdir "$root"
            root=$(mktemp -d /tmp/volmgr-pg.XXXXXX)
            chown postgres:postgres "$root"
        fi
    fi
    PG_ROOT=$root
    PG_DATA=$root/data
    PG_PORT=$port
    as_pg "$PGBIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C \
        --no-sync >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; die "initdb failed"; }
    cat >> "$PG_DATA/postgresql.conf" <<EOF

# volmgr throwaway stack
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
EOF
    # Tests trade durability for speed; VOLMGR_STACK_DURABLE=1 (make bench) keeps
    # PostgreSQL's production settings, so that every commit waits for its WAL fsync.
    # It also records each transaction's commit time (track_commit_timestamp), from which
    # make bench reads publish -> commit latency.
    local sync=off
    [ "${VOLMGR_STACK_DURABLE:-0}" != 1 ] || sync=on
    printf 'fsync = %s\nsynchronous_commit = %s\nfull_page_writes = %s\n' \
        "$sync" "$sync" "$sync" >> "$PG_DATA/postgresql.conf"
    printf 'track_commit_timestamp = %s\n' "$sync" >> "$PG_DATA/postgresql.conf"
    launch_pg
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE volmgr LOGIN SUPERUSER" \
        -c "CREATE DATABASE volmgr OWNER volmgr" >/dev/null \
        || die "creating role/database failed"
}

# Starts the PostgreSQL cluster in PG_DATA and waits for it (PG_PID).
launch_pg() {
    local t=$((STACK_TIMEOUT > 10 ? STACK_TIMEOUT : 10))
    # setsid: the postmaster must not share our terminal's process group, so
    # a Ctrl-C reaches the scripts (which then stop it in order), not it.
    local runas=(); [ "$(id -u)" -ne 0 ] || runas=(runuser -u postgres --)
    ( cd /; exec setsid -w "${runas[@]}" "$PGBIN/pg_ctl" -D "$PG_DATA" \
        -l "$PG_DATA.log" -w -t "$t" start ) </dev/null >"$PG_DATA.pg_ctl.log" 2>&1 \
        || { tail -n 30 "$PG_DATA.log" >&2 || true; die "PostgreSQL failed to start"; }
    PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")
}

# What DIR/state keeps for stop, status and the fault commands: the pids of start's broker,
# epmd and database, and those of start-ha's nodes (N = 1..3) and standby (PG2_*).
STATE_VARS="RABBIT_SH_PID RABBIT_PID EPMD_PID PG_PID PG_ROOT PG_DATA PG_PORT HA_NODES
    NODE_SH_PID_1 NODE_PID_1 NODE_SH_PID_2 NODE_PID_2 NODE_SH_PID_3 NODE_PID_3
    PG2_PID PG2_DATA PG2_PORT"

write_state() {
    local v
    for v in $STATE_VARS; do printf '%s=%q\n' "$v" "${!v:-}"; done > "$STATE.tmp"
    mv "$STATE.tmp" "$STATE"
}

# write_env NAME=VALUE...: DIR/env (replaced at once), one export line each, single-quoted.
write_env() {
    local kv
    for kv in "$@"; do printf "export %s='%s'\n" "${kv%%=*}" "${kv#*=}"; done > "$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
}

# begin_start: what every start does first: stops a previous stack in DIR, and makes any
# failure or signal from here on stop whatever was started so far.
begin_start() {
    if [ -f "$STATE" ]; then
        log "stopping the previous stack in $DIR first"
        ( do_stop )
        mkdir -p "$DIR"
    fi
    rm -f "$DIR/env"
    RABBIT_SH_PID='' RABBIT_PID='' EPMD_PID='' PG_PID='' PG_ROOT='' PG_DATA='' PG_PORT=''
    trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
    # shellcheck disable=SC2154
    trap 'rc=$?; if [ $rc -ne 0 ]; then write_state; log "start failed; cleaning up"; ( do_stop ) || true; fi' EXIT
}

do_start() {
    local t0=$SECONDS
    begin_start
    local amqp dist epmd pgport
    read -r amqp dist epmd pgport <<<"$(free_ports 4)"
    [ -n "$pgport" ] || die "could not find free ports"

    local transport=${VOLMGR_TRANSPORT_URL:-} db=${VOLMGR_DB_URL:-} admin=${VOLMGR_PG_ADMIN_URL:-}
    if [ -z "$transport" ]; then
        start_rabbit "$amqp" "$dist" "$epmd"     # boots in the background
        write_state
        transport="amqp://volmgr:volmgr@127.0.0.1:$amqp/"
    fi
    if [ -z "$db" ]; then
        start_pg "$pgport"                       # meanwhile RabbitMQ boots
        write_state
        db="postgresql://volmgr@127.0.0.1:$pgport/volmgr"
        admin=${admin:-postgresql://volmgr@127.0.0.1:$pgport/postgres}
    fi
    [ -n "$admin" ] || admin=$(admin_url_for "$db")
    if [ -n "$RABBIT_SH_PID" ]; then
        wait_rabbit "$amqp" $((t0 + STACK_TIMEOUT))
    fi
    write_state
    write_env VOLMGR_STACK_DIR="$DIR" VOLMGR_TRANSPORT_URL="$transport" VOLMGR_DB_URL="$db" \
        VOLMGR_PG_ADMIN_URL="$admin" VOLMGR_RABBIT_PID="$RABBIT_PID" VOLMGR_EPMD_PID="$EPMD_PID" \
        VOLMGR_PG_PID="$PG_PID"
    trap - EXIT
    log "up in $((SECONDS - t0))s: env in $DIR/env"
}

# --- start-ha: three RabbitMQ nodes, a primary and a synchronous standby ----

HA_STANDBY_NAME=volmgr_standby

# join_rabbit: the node of with_node joins rabbit1's cluster (RabbitMQ's documented steps:
# the application stops, the node joins, the application starts again).
join_rabbit() {
    local out=$RDIR/log/join.log
    if ! { rmqctl 60 stop_app && rmqctl 60 join_cluster rabbit1@localhost \
               && rmqctl 60 start_app; } >"$out" 2>&1; then
        cat "$out" >&2
        die "$(. "$(rabbit_env_file)"; echo "$RABBITMQ_NODENAME") failed to join rabbit1@localhost"
    fi
}

# psql_at PORT ARGS...: psql as postgres on the stack's server at PORT.
psql_at() {
    local port=$1; shift
    "$PGBIN/psql" -X -q -tA -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

# start_standby PORT: a streaming standby of the primary (PG_PORT), from pg_basebackup -R.
start_standby() {
    PG2_DATA=$PG_ROOT/standby PG2_PORT=$1
    as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres -D "$PG2_DATA" -R \
        -X stream -c fast --no-sync >"$PG_ROOT/basebackup.log" 2>&1 \
        || { cat "$PG_ROOT/basebackup.log" >&2; die "pg_basebackup failed"; }
    # The copy holds the primary's settings: the standby's own go last (the last line wins).
    # It must never wait for a standby of its own: once promoted it would hang every commit.
    # cluster_name is the application_name it streams under, which the primary names.
    cat >> "$PG2_DATA/postgresql.auto.conf" <<EOF
port = $PG2_PORT
cluster_name = '$HA_STANDBY_NAME'
synchronous_standby_names = ''
EOF
    with_standby launch_pg
}

# wait_sync_standby DEADLINE: until the primary reports the standby as synchronous.
wait_sync_standby() {
    local st
    until st=$(psql_at "$PG_PORT" -c "SELECT sync_state FROM pg_stat_replication
                 WHERE application_name = '$HA_STANDBY_NAME'") && [ "$st" = sync ]; do
        [ $SECONDS -lt "$1" ] || die "the standby is not synchronous by the deadline (state '$st')"
        sleep 0.1
    done
}

# promote_pg: promotes the PostgreSQL of PG_DATA (a standby) and waits until it leaves
# recovery, that is, accepts writes.
promote_pg() {
    as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -w -t 60 promote >/dev/null || die "pg_ctl promote failed"
    local deadline=$((SECONDS + 60))
    until [ "$(psql_at "$PG_PORT" -c 'SELECT pg_is_in_recovery()')" = f ]; do
        [ $SECONDS -lt $deadline ] || die "still in recovery 60s after pg_ctl promote"
        sleep 0.1
    done
}

do_start_ha() {
    local t0=$SECONDS n
    begin_start
    local a1 a2 a3 d1 d2 d3 epmd pg1 pg2
    read -r a1 a2 a3 d1 d2 d3 epmd pg1 pg2 <<<"$(free_ports 9)"
    [ -n "$pg2" ] || die "could not find free ports"
    local amqp=("" "$a1" "$a2" "$a3") dist=("" "$d1" "$d2" "$d3")
    start_epmd "$epmd"
    HA_NODES="1 2 3"
    for n in $HA_NODES; do   # the three boot in parallel, in the background
        with_node "$n" configure_rabbit "${amqp[n]}" "${dist[n]}" "$epmd" "rabbit$n@localhost"
        with_node "$n" launch_rabbit
    done
    write_state
    # Meanwhile the databases: a failover must not lose an acknowledged commit.
    VOLMGR_STACK_DURABLE=1 start_pg "$pg1"
    write_state
    start_standby "$pg2"
    write_state
    psql_at "$pg1" -c "ALTER SYSTEM SET synchronous_standby_names = '$HA_STANDBY_NAME'" \
        -c "SELECT pg_reload_conf()" >/dev/null || die "naming the synchronous standby failed"
    for n in $HA_NODES; do
        with_node "$n" wait_rabbit "${amqp[n]}" $((t0 + STACK_TIMEOUT))
    done
    write_state
    # The two joins run in parallel, each bounded by rmqctl's timeouts.
    local pids=()
    for n in 2 3; do with_node "$n" join_rabbit & pids+=($!); done
    for n in "${pids[@]}"; do wait "$n" || die "the cluster did not form"; done
    wait_sync_standby $((t0 + STACK_TIMEOUT))
    local hosts pg="postgresql://volmgr@127.0.0.1:$pg1,127.0.0.1:$pg2"
    hosts=$(printf 'volmgr:volmgr@127.0.0.1:%s,' "$a1" "$a2" "$a3")
    write_env VOLMGR_STACK_DIR="$DIR" VOLMGR_TRANSPORT_URL="amqp://${hosts%,}/" \
        VOLMGR_DB_URL="$pg/volmgr?target_session_attrs=read-write" \
        VOLMGR_PG_ADMIN_URL="$pg/postgres?target_session_attrs=read-write" \
        VOLMGR_RABBIT_NODES="rabbit1@localhost rabbit2@localhost rabbit3@localhost" \
        VOLMGR_RABBIT_PORTS="$a1 $a2 $a3" VOLMGR_PG_PORTS="$pg1 $pg2" VOLMGR_EPMD_PID="$EPMD_PID"
    trap - EXIT
    log "cluster and standby up in $((SECONDS - t0))s: env in $DIR/env"
}

# do_ha_fault COMMAND: node-stop, node-start, primary-stop, standby-promote, rabbitmqctl
# (see the header) on a start-ha stack.
do_ha_fault() {
    [ -f "$STATE" ] && [ -f "$DIR/env" ] || die "no stack in $DIR"
    . "$STATE"
    [ -n "${HA_NODES:-}" ] || die "the stack in $DIR was not started by start-ha"
    local n=${ARGS[0]:-}
    case "$1" in node-*|rabbitmqctl)
        [[ " $HA_NODES " == *" $n "* ]] || die "no RabbitMQ node '$n' (one of: $HA_NODES)" ;;
    esac
    case "$1" in
    node-stop)    with_node "$n" stop_rabbit ;;
    node-start)   local v=NODE_PID_$n
                  alive "${!v:-}" beam && die "node $n runs already"
                  with_node "$n" launch_rabbit
                  with_node "$n" wait_rabbit \
                      "$(. "$DIR/rabbitmq/n$n/env.sh"; echo "$RABBITMQ_NODE_PORT")" \
                      $((SECONDS + STACK_TIMEOUT)) ;;
    primary-stop) stop_pg immediate ;;
    standby-promote) with_standby promote_pg ;;
    rabbitmqctl)  with_node "$n" rmqctl 60 "${ARGS[@]:1}"; return ;;
    esac
    write_state
}

# Rewrites the pid lines of DIR/env after a component was restarted.
write_env_pids() {
    sed -e "s/^export VOLMGR_RABBIT_PID=.*/export VOLMGR_RABBIT_PID=${RABBIT_PID:-}/" \
        -e "s/^export VOLMGR_PG_PID=.*/export VOLMGR_PG_PID=${PG_PID:-}/" \
        "$DIR/env" > "$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
}

# do_fault broker-stop|broker-start|db-stop|db-start: see the header.
do_fault() {
    [ -f "$STATE" ] && [ -f "$DIR/env" ] || die "no stack in $DIR"
    . "$STATE"
    case "$1" in
    broker-stop)  [ -n "${EPMD_PID:-}" ] || die "the broker is not this stack's"
                  stop_rabbit ;;
    broker-start) [ -n "${EPMD_PID:-}" ] || die "the broker is not this stack's"
                  alive "${RABBIT_PID:-}" beam && die "the broker runs already"
                  launch_rabbit
                  wait_rabbit "$(. "$(rabbit_env_file)"; echo "$RABBITMQ_NODE_PORT")" \
                      $((SECONDS + STACK_TIMEOUT)) ;;
    broker-block|broker-unblock)
                  [ -n "${EPMD_PID:-}" ] || die "the broker is not this stack's"
                  rmqctl 30 set_vm_memory_high_watermark \
                      "$([ "$1" = broker-block ] && echo 0 || echo 0.4)" >/dev/null ;;
    broker-reject) [ -n "${EPMD_PID:-}" ] || die "the broker is not this stack's"
                  rmqctl 30 set_policy --apply-to queues volmgr-test-reject '^notifications' \
                      '{"max-length": 0, "overflow": "reject-publish"}' >/dev/null ;;
    broker-accept) [ -n "${EPMD_PID:-}" ] || die "the broker is not this stack's"
                  rmqctl 30 clear_policy volmgr-test-reject >/dev/null ;;
    db-stop)      [ -n "${PG_DATA:-}" ] || die "the database is not this stack's"
                  stop_pg immediate ;;
    db-start)     [ -n "${PG_DATA:-}" ] || die "the database is not this stack's"
                  alive "${PG_PID:-}" postgres && die "the database runs already"
                  launch_pg ;;
    esac
    write_state
    write_env_pids
}

# status_line NAME PID PATTERN: says whether PID runs; false when it does not.
status_line() {
    if alive "$2" "$3"; then echo "$1: running (pid $2)"
    else echo "$1: NOT running (pid $2)"; return 1; fi
}

do_status() {
    local ok=0 n v
    if [ ! -f "$STATE" ]; then echo "no stack in $DIR"; return 1; fi
    # shellcheck disable=SC1090
    . "$STATE"
    [ -f "$DIR/env" ] && cat "$DIR/env"
    [ -z "${RABBIT_PID:-}" ] || status_line rabbitmq "$RABBIT_PID" beam || ok=1
    for n in ${HA_NODES:-}; do
        v=NODE_PID_$n
        [ -z "${!v:-}" ] || status_line "rabbitmq node $n" "${!v}" beam || ok=1
    done
    if [ -z "${PG_PID:-}" ] && [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")   # start was interrupted
    fi
    [ -z "${PG_PID:-}" ] || status_line postgresql "$PG_PID" postgres || ok=1
    [ -z "${PG2_PID:-}" ] || status_line "postgresql standby" "$PG2_PID" postgres || ok=1
    return $ok
}

case "$CMD" in
    start)  do_start ;;
    start-ha) do_start_ha ;;
    stop)   do_stop ;;
    status) do_status ;;
    node-*|primary-stop|standby-promote|rabbitmqctl) do_ha_fault "$CMD" ;;
    *)      do_fault "$CMD" ;;
esac
