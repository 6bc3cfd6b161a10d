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
# VOLMGR_STACK_DURABLE=1 starts PostgreSQL with fsync and synchronous_commit on
# (production durability, for make bench); by default both are off.
#
# Every wait is bounded: STACK_TIMEOUT (default 90 s) for start, 30 s per
# component for stop.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CMD=${1:-}
DIR=${2:-$REPO/.stack}
STACK_TIMEOUT=${STACK_TIMEOUT:-90}

case "$CMD" in start|stop|status|broker-stop|broker-start|db-stop|db-start|broker-block|broker-unblock|broker-reject|broker-accept) ;; *)
    echo "usage: $0 start|stop|status|broker-stop|broker-start|db-stop|db-start|broker-block|broker-unblock|broker-reject|broker-accept [DIR]" >&2
    exit 2 ;;
esac

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

rabbit_env_file() { echo "$DIR/rabbitmq/env.sh"; }

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
    stop_pid "${EPMD_PID:-}" epmd TERM 5
    stop_pg fast
    rm -rf "$DIR/rabbitmq" "$DIR/pg" "$DIR/env" "$STATE"
    if [ -n "${PG_ROOT:-}" ] && [ "$PG_ROOT" != "$DIR/pg" ]; then
        rm -rf "$PG_ROOT"
    fi
    rmdir "$DIR" 2>/dev/null || true
}

# --- start -----------------------------------------------------------------

start_rabbit() {   # AMQP_PORT DIST_PORT EPMD_PORT
    local amqp=$1 dist=$2 epmd=$3 r=$DIR/rabbitmq
    [ -x "$RABBIT_LIB/rabbitmq-server" ] || die "rabbitmq-server not installed (make deps)"
    mkdir -p "$r/mnesia" "$r/log" "$r/home"
    chmod 700 "$r/home"
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
export HOME='$r/home'
export RABBITMQ_NODENAME='volmgr-$amqp@localhost'
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
    # Our own epmd on its own port, in the foreground so we know its pid.
    ( . "$(rabbit_env_file)"; exec setsid epmd -port "$epmd" -address 127.0.0.1 \
        </dev/null >"$r/log/epmd.log" 2>&1 ) &
    EPMD_PID=$!
    local deadline=$((SECONDS + 10))
    until port_open "$epmd"; do
        kill -0 "$EPMD_PID" 2>/dev/null || die "epmd exited: $(cat "$r/log/epmd.log")"
        [ $SECONDS -lt $deadline ] || die "epmd not listening on $epmd after 10s"
        sleep 0.05
    done
    launch_rabbit
}

# Starts the node configured under DIR/rabbitmq in the background (RABBIT_SH_PID).
launch_rabbit() {
    local r=$DIR/rabbitmq
    ( . "$(rabbit_env_file)"; cd "$r"; exec setsid "$RABBIT_LIB/rabbitmq-server" \
        </dev/null >>"$r/log/startup.log" 2>&1 ) &
    RABBIT_SH_PID=$!
}

wait_rabbit() {   # AMQP_PORT DEADLINE
    local amqp=$1 deadline=$2 r=$DIR/rabbitmq
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
    local sync=off
    [ "${VOLMGR_STACK_DURABLE:-0}" != 1 ] || sync=on
    printf 'fsync = %s\nsynchronous_commit = %s\nfull_page_writes = %s\n' \
        "$sync" "$sync" "$sync" >> "$PG_DATA/postgresql.conf"
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
        -l "$PG_ROOT/postgres.log" -w -t "$t" start ) </dev/null >"$PG_ROOT/pg_ctl.log" 2>&1 \
        || { tail -n 30 "$PG_ROOT/postgres.log" >&2 || true; die "PostgreSQL failed to start"; }
    PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")
}

write_state() {
    cat > "$STATE.tmp" <<EOF
RABBIT_SH_PID=${RABBIT_SH_PID:-}
RABBIT_PID=${RABBIT_PID:-}
EPMD_PID=${EPMD_PID:-}
PG_PID=${PG_PID:-}
PG_ROOT=${PG_ROOT:-}
PG_DATA=${PG_DATA:-}
EOF
    mv "$STATE.tmp" "$STATE"
}

do_start() {
    local t0=$SECONDS
    if [ -f "$STATE" ]; then
        log "stopping the previous stack in $DIR first"
        ( do_stop )
        mkdir -p "$DIR"
    fi
    rm -f "$DIR/env"
    RABBIT_SH_PID='' RABBIT_PID='' EPMD_PID='' PG_PID='' PG_ROOT='' PG_DATA=''
    local amqp dist epmd pgport
    read -r amqp dist epmd pgport <<<"$(free_ports 4)"
    [ -n "$pgport" ] || die "could not find free ports"

    # On any failure or signal, stop whatever was started so far.
    trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
    # shellcheck disable=SC2154
    trap 'rc=$?; if [ $rc -ne 0 ]; then write_state; log "start failed; cleaning up"; ( do_stop ) || true; fi' EXIT

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
    cat > "$DIR/env.tmp" <<EOF
export VOLMGR_STACK_DIR='$DIR'
export VOLMGR_TRANSPORT_URL='$transport'
export VOLMGR_DB_URL='$db'
export VOLMGR_PG_ADMIN_URL='$admin'
export VOLMGR_RABBIT_PID=$RABBIT_PID
export VOLMGR_EPMD_PID=$EPMD_PID
export VOLMGR_PG_PID=$PG_PID
EOF
    mv "$DIR/env.tmp" "$DIR/env"
    trap - EXIT
    log "up in $((SECONDS - t0))s: env in $DIR/env"
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

do_status() {
    local ok=0
    if [ ! -f "$STATE" ]; then echo "no stack in $DIR"; return 1; fi
    # shellcheck disable=SC1090
    . "$STATE"
    [ -f "$DIR/env" ] && cat "$DIR/env"
    if [ -n "${RABBIT_PID:-}" ]; then
        if alive "$RABBIT_PID" beam; then echo "rabbitmq: running (pid $RABBIT_PID)"
        else echo "rabbitmq: NOT running (pid $RABBIT_PID)"; ok=1; fi
    fi
    if [ -z "${PG_PID:-}" ] && [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")   # start was interrupted
    fi
    if [ -n "${PG_PID:-}" ]; then
        if alive "$PG_PID" postgres; then echo "postgresql: running (pid $PG_PID)"
        else echo "postgresql: NOT running (pid $PG_PID)"; ok=1; fi
    fi
    return $ok
}

case "$CMD" in
    start)  do_start ;;
    stop)   do_stop ;;
    status) do_status ;;
    *)      do_fault "$CMD" ;;
esac
