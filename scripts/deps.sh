#!/bin/bash
# Install the Debian packages volmgr needs to build, test and run, and any named as
# arguments (make bench adds wrk). Fast no-op when everything is installed.  As non-root with something
# missing, prints the apt-get command to run and exits 1.
set -euo pipefail

PACKAGES=(
    build-essential pkg-config
    librabbitmq-dev libmsgpack-dev libpq-dev libcriterion-dev
    libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev uuid-dev libinih-dev
    rabbitmq-server postgresql postgresql-contrib
    python3 python3-psycopg2 python3-pika python3-msgpack python3-cinderclient python3-yaml
    python3-keystone python3-openstackclient glance-api python3-prometheus-client
    python3-oslo.messaging
    curl
    "$@"
)
# Targets that need more (make test-interop, make fuzz) name it here, space-separated.
read -r -a extra <<<"${VOLMGR_DEPS_EXTRA:-}"
PACKAGES+=("${extra[@]}")

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps: missing Debian packages: ${missing[*]}"

install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; install them with:" >&2
    echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive ${install_cmd[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Packages such as rabbitmq-server and postgresql try to start their service
# on install; with no init system running that only prints noise, and we start
# our own throwaway instances anyway (scripts/stack.sh).  policy-rc.d 101 tells
# invoke-rc.d not to start anything; leave an existing one alone.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

if ! "${install_cmd[@]}"; then
    echo "deps: install failed; running apt-get update and retrying" >&2
    apt-get update
    "${install_cmd[@]}"
fi
echo "deps: installed ${missing[*]}"
