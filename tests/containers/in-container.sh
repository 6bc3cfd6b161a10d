#!/bin/bash
# tests/containers/in-container.sh [ARGS...]: runs the volmgr program this script is called as
# (a link named volume-manager, api-shim or volctl in the directory that
# scripts/test-containers.sh gives the harness as VOLMGR_BIN_DIR) inside volmgr's image, in the
# foreground, so that the harness starts, signals and waits for it as it does bin/'s programs.
#
# podman passes the harness's signals on to the program (--sig-proxy, its default) and exits
# with the program's status. The directory of the --config-file argument (the test class's
# directory: configuration, filestore, logs) is mounted at the same path, and every VOLMGR_*
# variable of the environment is passed, so the program sees what bin/'s would. It runs as
# root, not as the image's volmgr user, because the harness (root) made that directory 0700
# and reads and writes the same files as the program.
#
# Every container is named volmgr-ct-<program>-<pid> and carries the run's label
# (VOLMGR_CONTAINER_LABEL), by which scripts/test-containers.sh removes whatever is left.
set -euo pipefail

prog=$(basename "$0")
: "${VOLMGR_CONTAINER_IMAGE:?must name the volmgr image}"
: "${VOLMGR_CONTAINER_LABEL:?must name the label of the run}"

mounts=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --config-file) conf=${args[i + 1]:-} ;;
        --config-file=*) conf=${args[i]#--config-file=} ;;
        *) continue ;;
    esac
    dir=$(cd "$(dirname "$conf")" && pwd)
    mounts+=(--volume "$dir:$dir")
done

exec podman run --rm --name "volmgr-ct-$prog-$$" --label "$VOLMGR_CONTAINER_LABEL" \
    --network host --user 0:0 --env 'VOLMGR_*' "${mounts[@]}" \
    "$VOLMGR_CONTAINER_IMAGE" "$prog" "$@"
