#!/bin/bash
# scripts/test-containers.sh: the runner behind `make test-containers` (docs/containers.md).
#
# 1. Configures podman for this machine in build/containers/ without touching the system's
#    files: containers.conf (runc, cgroupfs, no default ulimits, events to a file) and
#    storage.conf (overlay storage under build/containers/storage), named by CONTAINERS_CONF
#    and CONTAINERS_STORAGE_CONF for every podman started here and below.
# 2. Makes the base image localhost/volmgr-base:bookworm with `debootstrap --variant=minbase
#    bookworm` and `podman import`, unless it is in the storage; the debootstrapped tree is
#    cached as build/containers/base-bookworm.tar, so that only the first run bootstraps.
# 3. Builds volmgr's image (deploy/Containerfile, localhost/volmgr:latest, the tag that
#    deploy/compose.yaml uses) and the test broker's (tests/containers/rabbitmq.Containerfile)
#    in parallel on that base. The storage keeps their layers, so a later run rebuilds only
#    what changed.
# 4. Runs RabbitMQ in a container on ports of its own (--network host).
# 5. Runs tests/containers/ (the smoke test, through the integration harness) with
#    scripts/run-tests.sh's containers suite, on a throwaway PostgreSQL and the broker's
#    container, with VOLMGR_BIN_DIR pointing at links to tests/containers/in-container.sh, so
#    that the harness runs volume-manager, api-shim and volctl from volmgr's image.
# A trap removes every container of the run (they carry its label), also on failure or
# interruption. Ends with run-tests.sh's "N passed, N failed"; exits 1 when anything failed.
#
# Knobs: VOLMGR_CONTAINER_DIR (default build/containers), VOLMGR_DEBIAN_MIRROR (default
# http://deb.debian.org/debian); VOLMGR_CONTAINER_TIMEOUT (s for the tests, default 600) is
# run-tests.sh's.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
PY=/usr/bin/python3
WORK=${VOLMGR_CONTAINER_DIR:-$REPO/build/containers}
MIRROR=${VOLMGR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=localhost/volmgr-base:bookworm
BASE_TAR=$WORK/base-bookworm.tar
IMAGE=localhost/volmgr:latest
BROKER_IMAGE=localhost/volmgr-test-rabbitmq:latest
LOGDIR=$WORK/logs
LABEL=io.volmgr.test-run=$$-$(date +%s)
T0=$SECONDS

log() { printf 'test-containers: [%3ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
fail() { log "error: $*"; echo "0 passed, 1 failed"; exit 1; }

mkdir -p "$WORK/storage" "$WORK/run" "$LOGDIR" || exit 1
WORK=$(cd "$WORK" && pwd)
printf '%s\n' \
    '# Written by scripts/test-containers.sh. crun fails on these machines and the kernel' \
    '# refuses the default ulimits; cgroups are written directly (no systemd).' \
    '[containers]' 'default_ulimits = []' '' \
    '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' \
    "events_logfile_path = \"$WORK/run/events.log\"" >"$WORK/containers.conf"
printf '%s\n' \
    '# Written by scripts/test-containers.sh: the images and containers of make test-containers,' \
    '# kept between runs.' \
    '[storage]' 'driver = "overlay"' "graphroot = \"$WORK/storage\"" \
    "runroot = \"$WORK/run\"" >"$WORK/storage.conf"
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local ids
    ids=$(podman ps --all --quiet --filter "label=$LABEL" 2>/dev/null)
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086  # one id per word
        podman rm --force --time 10 $ids >/dev/null || log "could not remove containers $ids"
    fi
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# --- the base image -------------------------------------------------------------------------
if ! podman image exists "$BASE_IMAGE"; then
    if [ ! -s "$BASE_TAR" ]; then
        log "debootstrap --variant=minbase bookworm (first run only)"
        root=$WORK/rootfs
        rm -rf "$root"
        debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$LOGDIR/debootstrap.log" 2>&1 \
            || fail "debootstrap failed (log: $LOGDIR/debootstrap.log)"
        # The package cache and lists are dead weight: every Containerfile runs apt-get update.
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        if ! tar -C "$root" -cf "$BASE_TAR.tmp" . || ! mv "$BASE_TAR.tmp" "$BASE_TAR"; then
            fail "cannot write $BASE_TAR"
        fi
        rm -rf "$root"
    fi
    log "podman import $BASE_TAR"
    podman import "$BASE_TAR" "$BASE_IMAGE" >"$LOGDIR/import.log" 2>&1 \
        || fail "podman import failed (log: $LOGDIR/import.log)"
fi

# --- the images -----------------------------------------------------------------------------
# build LOGNAME CONTAINERFILE TAG: one image on the base, its output to LOGDIR/LOGNAME.log.
build() {
    podman build --network host --build-arg "BASE=$BASE_IMAGE" --file "$2" --tag "$3" . \
        >"$LOGDIR/$1.log" 2>&1
}
log "building $IMAGE and $BROKER_IMAGE"
build broker-image tests/containers/rabbitmq.Containerfile "$BROKER_IMAGE" &
broker_build=$!
volmgr_rc=0
build volmgr-image deploy/Containerfile "$IMAGE" || volmgr_rc=$?
wait "$broker_build" || fail "building $BROKER_IMAGE failed (log: $LOGDIR/broker-image.log)"
[ "$volmgr_rc" = 0 ] || fail "building $IMAGE failed (log: $LOGDIR/volmgr-image.log)"
log "images built"

# --- the broker, in a container -------------------------------------------------------------
# The ports are free when they are chosen and taken by the broker seconds later; a process that
# takes one meanwhile makes the broker exit at start. That gets one more try, on fresh ports.
# start_broker N: 0 when the broker listens, 1 when its container exited (its log kept).
start_broker() {
    read -r amqp dist epmd <<<"$("$PY" -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
    [ -n "${epmd:-}" ] || fail "no free ports"
    broker=volmgr-ct-rabbitmq-$$-$1
    podman run --detach --name "$broker" --label "$LABEL" --network host \
        --env "RABBITMQ_NODE_PORT=$amqp" --env "RABBITMQ_DIST_PORT=$dist" \
        --env "ERL_EPMD_PORT=$epmd" --env "RABBITMQ_NODENAME=volmgr-ct-$amqp@localhost" \
        "$BROKER_IMAGE" >/dev/null || fail "cannot start the broker's container"
    # The listener opens after the boot steps that create the volmgr user.
    local deadline=$((SECONDS + 90))
    until (exec 3<>"/dev/tcp/127.0.0.1/$amqp") 2>/dev/null; do
        if [ "$(podman inspect --format '{{.State.Running}}' "$broker")" != true ]; then
            podman logs "$broker" >"$LOGDIR/rabbitmq-$1.log" 2>&1
            podman rm --force "$broker" >/dev/null 2>&1 || true
            return 1
        fi
        [ $SECONDS -lt $deadline ] || fail "the broker did not listen on $amqp within 90 s"
        sleep 0.2
    done
}
if ! start_broker 1; then
    log "the broker's container exited at start (log: $LOGDIR/rabbitmq-1.log); again on other ports"
    start_broker 2 || fail "the broker's container exited (log: $LOGDIR/rabbitmq-2.log)"
fi
log "RabbitMQ listens on 127.0.0.1:$amqp in container $broker"

# --- the tests, on a throwaway PostgreSQL -----------------------------------------------------
# scripts/run-tests.sh starts the stack (only PostgreSQL: the broker is VOLMGR_TRANSPORT_URL),
# runs tests/containers and stops the stack; the harness finds the programs in VOLMGR_BIN_DIR.
bin=$WORK/bin
mkdir -p "$bin"
for prog in volume-manager api-shim volctl; do
    ln -sfn "$REPO/tests/containers/in-container.sh" "$bin/$prog"
done
log "tests/containers against the broker's container"
VOLMGR_SUITES=containers VOLMGR_TEST_STACK_DIR=$WORK/stack VOLMGR_BIN_DIR=$bin \
    VOLMGR_TRANSPORT_URL=amqp://volmgr:volmgr@127.0.0.1:$amqp/ \
    VOLMGR_CONTAINER_IMAGE=$IMAGE VOLMGR_CONTAINER_LABEL=$LABEL scripts/run-tests.sh
rc=$?
log "done in $((SECONDS - T0)) s"
exit $rc
