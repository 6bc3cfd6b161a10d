#!/bin/bash
# scripts/run.sh: what `make run` does (after deps and the build).
#
#   - starts the stack in .stack (scripts/stack.sh; external RabbitMQ /
#     PostgreSQL are used instead when VOLMGR_TRANSPORT_URL / VOLMGR_DB_URL
#     are set);
#   - starts tests/fixtures/compute_stub.py on a free port unless
#     VOLMGR_COMPUTE_URL is set;
#   - writes .stack/volmgr.conf (from deploy/volmgr.conf.sample when present),
#     runs bin/volctl db-sync, starts bin/volume-manager and bin/api-shim, each
#     with its Prometheus metrics on a free loopback port ([DEFAULT] /
#     [api] metrics_listen);
#   - prints the URLs and waits.  Ctrl-C / SIGTERM stops everything it
#     started, by pid; if any child dies, everything is stopped and it exits 1.
#
# Knobs: VOLMGR_API_PORT (default 8776), VOLMGR_LOG_LEVEL (default info),
#        VOLMGR_RUN_DIR (default .stack), VOLMGR_AUTH (noauth, the default, or
#        keystone: a throwaway Keystone is started on the stack's PostgreSQL with
#        scripts/keystone-stack.py, the shim validates tokens with it, volmgr is
#        registered in its catalog, and the openstack command works; the compute
#        stand-in then does not complete online extends, since it speaks noauth),
#        VOLMGR_BACKENDS (1, the default, or 2: a second bin/volume-manager serves
#        <host>2@filestore, "node2" for the default host node1, with its own
#        configuration .stack/volmgr2.conf and volume directory .stack/volumes2, so
#        that volumes can be migrated between the two).
#        A throwaway Glance (scripts/glance-stack.py) is started on the stack's
#        PostgreSQL, and [glance] api_servers points at it, unless
#        VOLMGR_GLANCE_URL names an image service already.
#        Daemon logs: .stack/logs/*.log.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
PY=/usr/bin/python3
RUN_DIR=${VOLMGR_RUN_DIR:-$REPO/.stack}
API_PORT=${VOLMGR_API_PORT:-8776}
API_URL=http://127.0.0.1:$API_PORT
AUTH=${VOLMGR_AUTH:-noauth}
CONF=$RUN_DIR/volmgr.conf
LOGS=$RUN_DIR/logs
VOLUMES=$RUN_DIR/volumes
BACKENDS=${VOLMGR_BACKENDS:-1}
CONF2=$RUN_DIR/volmgr2.conf
VOLUMES2=$RUN_DIR/volumes2
STOP_TIMEOUT=15     # manager drain_timeout is 10 s by default

# The README tour's first steps; keep in sync with README.md.
tour() {
    if [ "$AUTH" = keystone ]; then
        cat <<EOF
  . $RUN_DIR/keystone/openrc.demo     # or openrc.admin
  openstack volume create --size 1 vol1
  openstack volume list
EOF
        return
    fi
    cat <<EOF
  curl -s -X POST $API_URL/v3/demo/volumes \\
       -H 'X-Auth-Token: admin:demo' -H 'Content-Type: application/json' \\
       -d '{"volume": {"size": 1, "name": "vol1"}}'
  curl -s $API_URL/v3/demo/volumes/detail -H 'X-Auth-Token: admin:demo'
EOF
}

log() { echo "run: $*" >&2; }

# The services volumes can be created on and migrated to, as "<host>@<backend>".
backends() {
    local conf list=''
    for conf in "$CONF" ${MGR2_PID:+"$CONF2"}; do
        list+="${list:+, }$(conf_value "$conf" host)@$(conf_value "$conf" backend)"
    done
    echo "$list"
}

conf_value() {   # FILE KEY: the first value of KEY in FILE
    sed -n "s/^$2 *= *//p" "$1" | head -n 1
}

MGR_PID='' MGR2_PID='' SHIM_PID='' STUB_PID=''
stack_started=0
keystone_started=0
glance_started=0
cleaning=0

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A port nothing listens on now, for the metrics listeners (make run's daemons only).
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

stop_child() {   # PID NAME
    local pid=$1 name=$2 deadline
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            log "$name (pid $pid) still running after ${STOP_TIMEOUT}s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1   # polling, bounded by the deadline above
    done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    [ "$cleaning" = 1 ] && return
    cleaning=1
    trap '' INT TERM
    log "stopping"
    # api-shim first (no new requests), then the manager, then the stub.
    stop_child "$SHIM_PID" api-shim
    stop_child "$MGR_PID" volume-manager
    stop_child "$MGR2_PID" volume-manager-2
    stop_child "$STUB_PID" compute_stub
    if [ "$keystone_started" = 1 ]; then
        "$PY" "$REPO/scripts/keystone-stack.py" stop "$RUN_DIR" || log "keystone stop failed"
    fi
    if [ "$glance_started" = 1 ]; then
        "$PY" "$REPO/scripts/glance-stack.py" stop "$RUN_DIR" || log "glance stop failed"
    fi
    if [ "$stack_started" = 1 ]; then
        "$REPO/scripts/stack.sh" stop "$RUN_DIR" || log "stack stop failed"
    fi
    log "stopped"
}

die() { log "error: $*"; exit 1; }

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tail_log() { [ -f "$1" ] && { echo "---- last lines of $1"; tail -n 20 "$1"; } >&2; return 0; }

# --- preflight -----------------------------------------------------------------
for b in bin/volctl bin/volume-manager bin/api-shim; do
    [ -x "$b" ] || die "$b is missing: run 'make' first"
done
if port_open "$API_PORT"; then
    die "port $API_PORT is in use (set VOLMGR_API_PORT to use another)"
fi
case $AUTH in noauth|keystone) ;; *) die "VOLMGR_AUTH must be noauth or keystone" ;; esac
case $BACKENDS in 1|2) ;; *) die "VOLMGR_BACKENDS must be 1 or 2" ;; esac

# --- stack ---------------------------------------------------------------------
mkdir -p "$RUN_DIR"
external_db=${VOLMGR_DB_URL:+1}
stack_started=1
"$REPO/scripts/stack.sh" start "$RUN_DIR" || die "stack failed to start"
set -a
# shellcheck disable=SC1091
. "$RUN_DIR/env"
set +a
mkdir -p "$LOGS"
# The volume files belong with the (fresh) database: start them fresh too.
if [ -z "$external_db" ]; then
    rm -rf "$VOLUMES" "$VOLUMES2"
fi
mkdir -p "$VOLUMES"
stub_dirs=(--filestore-dir "$VOLUMES")
if [ "$BACKENDS" = 2 ]; then
    mkdir -p "$VOLUMES2"
    stub_dirs+=(--filestore-dir "$VOLUMES2")
fi

# --- keystone ------------------------------------------------------------------
if [ "$AUTH" = keystone ]; then
    keystone_started=1
    "$PY" "$REPO/scripts/keystone-stack.py" start "$RUN_DIR" || die "keystone failed to start"
    set -a
    # shellcheck disable=SC1091
    . "$RUN_DIR/keystone/env"
    set +a
    for u in admin demo; do
        cat > "$RUN_DIR/keystone/openrc.$u" <<EOF
export OS_AUTH_URL=$VOLMGR_KEYSTONE_URL OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$u OS_PASSWORD=$VOLMGR_KEYSTONE_PASSWORD OS_PROJECT_NAME=$u
export OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_VOLUME_API_VERSION=3
EOF
    done
fi

# --- glance --------------------------------------------------------------------
if [ -z "${VOLMGR_GLANCE_URL:-}" ]; then
    glance_started=1
    "$PY" "$REPO/scripts/glance-stack.py" start "$RUN_DIR" || die "glance failed to start"
    set -a
    # shellcheck disable=SC1091
    . "$RUN_DIR/glance/env"
    set +a
fi

# --- compute stand-in ----------------------------------------------------------
if [ -z "${VOLMGR_COMPUTE_URL:-}" ]; then
    stub_log=$LOGS/compute_stub.log
    : > "$stub_log"
    # Auto-complete makes the stand-in behave as Nova would in the NFS case: it grows the
    # volume's file and calls os-extend_volume_completion, so the tour shows the whole loop.
    "$PY" tests/fixtures/compute_stub.py --port 0 --pidfile "$RUN_DIR/compute_stub.pid" \
        --auto-complete --volume-api "$API_URL/v3" --admin-token admin:admin \
        "${stub_dirs[@]}" </dev/null >"$stub_log" 2>&1 &
    STUB_PID=$!
    deadline=$((SECONDS + 15))
    until grep -q '^ready port=' "$stub_log"; do
        kill -0 "$STUB_PID" 2>/dev/null || { tail_log "$stub_log"; die "compute_stub exited"; }
        [ $SECONDS -lt $deadline ] || die "compute_stub not ready after 15s"
        sleep 0.1
    done
    stub_port=$(sed -n 's/^ready port=\([0-9]*\).*/\1/p' "$stub_log" | head -n 1)
    export VOLMGR_COMPUTE_URL=http://127.0.0.1:$stub_port
    echo "$stub_port" > "$RUN_DIR/compute.port"
fi

# --- config --------------------------------------------------------------------
MGR_METRICS=127.0.0.1:$(free_port)
SHIM_METRICS=127.0.0.1:$(free_port)
MGR2_METRICS=127.0.0.1:$(free_port)
"$PY" - "$REPO/deploy/volmgr.conf.sample" "$CONF" <<EOF || die "writing $CONF failed"
import configparser, os, sys
sample, out = sys.argv[1], sys.argv[2]
cp = configparser.ConfigParser(interpolation=None, strict=False,
                               inline_comment_prefixes=("#", ";"))
cp.optionxform = str
src = "generated"
if os.path.exists(sample):
    cp.read(sample)
    src = "from " + os.path.relpath(sample)
def put(section, key, value):
    if section != "DEFAULT" and not cp.has_section(section):
        cp.add_section(section)
    cp[section][key] = value
put("DEFAULT", "transport_url", os.environ["VOLMGR_TRANSPORT_URL"])
put("DEFAULT", "log_level", "${VOLMGR_LOG_LEVEL:-info}")
if not cp["DEFAULT"].get("host"):
    put("DEFAULT", "host", "node1")
if not cp["DEFAULT"].get("backend"):
    put("DEFAULT", "backend", "filestore")
put("database", "connection", os.environ["VOLMGR_DB_URL"])
put("filestore", "filestore_dir", "$VOLUMES")
put("nova", "endpoint", os.environ["VOLMGR_COMPUTE_URL"])
put("glance", "api_servers", os.environ["VOLMGR_GLANCE_URL"])
put("api", "listen", "127.0.0.1")
put("api", "port", "$API_PORT")
put("api", "auth_strategy", "$AUTH")
put("api", "admin_users", "admin")
put("DEFAULT", "metrics_listen", "$MGR_METRICS")
put("api", "metrics_listen", "$SHIM_METRICS")
if "$AUTH" == "keystone":
    for k, v in (("www_authenticate_uri", os.environ["VOLMGR_KEYSTONE_URL"]),
                 ("auth_url", os.environ["VOLMGR_KEYSTONE_URL"]), ("auth_type", "password"),
                 ("username", "cinder"), ("password", os.environ["VOLMGR_KEYSTONE_PASSWORD"]),
                 ("project_name", "service")):
        put("keystone_authtoken", k, v)
with open(out + ".tmp", "w") as f:
    f.write("# written by scripts/run.sh (%s); logs go to stderr\n" % src)
    cp.write(f)
os.replace(out + ".tmp", out)
EOF

# The second backend's file: the first's with its own host and volume directory.
if [ "$BACKENDS" = 2 ]; then
    MGR2_METRICS=$MGR2_METRICS "$PY" - "$CONF" "$CONF2" "$VOLUMES2" <<'EOF' \
        || die "writing $CONF2 failed"
import configparser, os, re, sys
conf, out, volumes = sys.argv[1:]
cp = configparser.ConfigParser(interpolation=None, strict=False)
cp.optionxform = str
cp.read(conf)
cp["DEFAULT"]["host"] = re.sub(r"1$", "", cp["DEFAULT"]["host"]) + "2"
cp["filestore"]["filestore_dir"] = volumes
cp["DEFAULT"]["metrics_listen"] = os.environ["MGR2_METRICS"]
with open(out + ".tmp", "w") as f:
    f.write("# written by scripts/run.sh: the second backend\n")
    cp.write(f)
os.replace(out + ".tmp", out)
EOF
fi

# --- database schema -----------------------------------------------------------
bin/volctl --config-file "$CONF" db-sync >"$LOGS/db-sync.log" 2>&1 \
    || { tail_log "$LOGS/db-sync.log"; die "volctl db-sync failed"; }

# --- catalog -------------------------------------------------------------------
# The volumev3 service and endpoints, so that clients find volmgr in Keystone's catalog.
if [ "$AUTH" = keystone ]; then
    ( . "$RUN_DIR/keystone/openrc.admin"
      bin/volctl --config-file "$CONF" catalog --apply --url "$API_URL" ) \
        >"$LOGS/catalog.log" 2>&1 || { tail_log "$LOGS/catalog.log"; die "volctl catalog failed"; }
fi

# --- daemons -------------------------------------------------------------------
bin/volume-manager --config-file "$CONF" </dev/null >"$LOGS/volume-manager.log" 2>&1 &
MGR_PID=$!
if [ "$BACKENDS" = 2 ]; then
    bin/volume-manager --config-file "$CONF2" </dev/null >"$LOGS/volume-manager-2.log" 2>&1 &
    MGR2_PID=$!
fi
bin/api-shim --config-file "$CONF" </dev/null >"$LOGS/api-shim.log" 2>&1 &
SHIM_PID=$!

deadline=$((SECONDS + 30))
until port_open "$API_PORT"; do
    for n in MGR_PID:volume-manager MGR2_PID:volume-manager-2 SHIM_PID:api-shim; do
        v=${n%%:*}; name=${n#*:}
        if [ -n "${!v}" ] && ! kill -0 "${!v}" 2>/dev/null; then
            tail_log "$LOGS/$name.log"; die "$name exited during startup"
        fi
    done
    [ $SECONDS -lt $deadline ] || die "api-shim not listening on $API_PORT after 30s"
    sleep 0.1
done

cat <<EOF

  volmgr is running (Ctrl-C stops everything)

    API (Block Storage v3)  $API_URL/v3  (auth: $AUTH${VOLMGR_KEYSTONE_URL:+, Keystone $VOLMGR_KEYSTONE_URL})
    compute stand-in        $VOLMGR_COMPUTE_URL
    image service (Glance)  $VOLMGR_GLANCE_URL
    database                $VOLMGR_DB_URL
    message bus             $VOLMGR_TRANSPORT_URL
    backends                $(backends)
    metrics (Prometheus)    manager http://$MGR_METRICS/metrics${MGR2_PID:+, manager-2 http://$MGR2_METRICS/metrics}, api-shim http://$SHIM_METRICS/metrics
    health checks           $API_URL/healthcheck, http://$MGR_METRICS/healthcheck (bin/volctl --config-file $CONF health)
    notifications           queue notifications.info on the message bus (exchange of [DEFAULT] control_exchange)
    config                  $CONF${MGR2_PID:+ (second backend: $CONF2)}
    logs                    $LOGS/{volume-manager${MGR2_PID:+,volume-manager-2},api-shim,compute_stub}.log
    pids                    manager $MGR_PID${MGR2_PID:+, manager-2 $MGR2_PID}, api-shim $SHIM_PID${STUB_PID:+, compute_stub $STUB_PID}

  Try:
$(tour)

EOF

# --- wait ----------------------------------------------------------------------
pids=("$MGR_PID" "$SHIM_PID")
[ -n "$MGR2_PID" ] && pids+=("$MGR2_PID")
[ -n "$STUB_PID" ] && pids+=("$STUB_PID")
wait -n "${pids[@]}"
rc=$?
for n in MGR_PID:volume-manager MGR2_PID:volume-manager-2 SHIM_PID:api-shim STUB_PID:compute_stub; do
    v=${n%%:*}; name=${n#*:}
    if [ -n "${!v}" ] && ! kill -0 "${!v}" 2>/dev/null; then
        log "$name (pid ${!v}) exited (status $rc)"
        tail_log "$LOGS/$name.log"
    fi
done
exit 1
