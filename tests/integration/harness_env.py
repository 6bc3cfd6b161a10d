"""The ground every part of the integration harness stands on: the repository's paths, the
names and sizes the tests share, the running stack's env file, and the one deadline loop that
every wait of the harness (and of the interop suite) is built on.

Nothing here starts a process or opens a connection.
"""

import os
import shlex
import socket
import sys
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# VOLMGR_BIN_DIR lets a run use binaries built elsewhere (default: the repo's bin/).
BIN = os.environ.get("VOLMGR_BIN_DIR") or os.path.join(REPO, "bin")
STUB = os.path.join(REPO, "tests", "fixtures", "compute_stub.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

GIB = 1024 ** 3
BACKEND = "filestore"
DLX = "volmgr.dlx"
DLQ = "volmgr.dead-letter"
HDR_REASON = "x-volmgr-reason"
HDR_ORIG_EXCHANGE = "x-volmgr-original-exchange"
HDR_ORIG_RK = "x-volmgr-original-routing-key"
EXTEND_NEW_SIZE = "extend_new_size"
EXTEND_RESERVATIONS = "extend_reservations"
DEFAULT_TYPE = "__DEFAULT__"
STARTUP_TIMEOUT = 30.0
LOG_TAIL_LINES = 60
POLL_INTERVAL = 0.1
DEFAULT = object()   # "use the default" marker for optional arguments that may be None


def poll_until(fn, timeout, interval=POLL_INTERVAL):
    """Calls fn until it returns something truthy or timeout seconds have passed, looking
    again every interval seconds. Returns (True, that value) or (False, fn's last value).
    Exceptions of fn propagate: a caller that tolerates some catches them inside fn."""
    deadline = time.monotonic() + timeout
    while True:
        last = fn()
        if last:
            return True, last
        if time.monotonic() > deadline:
            return False, last
        time.sleep(interval)


def stack_env_path():
    return os.environ.get("VOLMGR_STACK_ENV") or os.path.join(REPO, ".stack", "env")


def load_stack_env(path=None):
    """The variables of the stack's env file (default: stack_env_path()). A missing file is an
    error, never a skip: `make test` always starts the stack first."""
    path = path or stack_env_path()
    if not os.path.isfile(path):
        raise RuntimeError(
            "integration tests need a running stack: env file %s not found "
            "(start one with `scripts/stack.sh start DIR` and set VOLMGR_STACK_ENV=DIR/env)"
            % path)
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export "):]
            key, sep, value = line.partition("=")
            if not sep:
                continue
            words = shlex.split(value) if value else []
            env[key.strip()] = words[0] if words else ""
    for key in ("VOLMGR_TRANSPORT_URL", "VOLMGR_DB_URL", "VOLMGR_PG_ADMIN_URL"):
        if not env.get(key):
            raise RuntimeError("stack env file %s does not define %s" % (path, key))
    return env


def load_service_env(service, need):
    """The variables of the env file of a throwaway service that scripts/run-tests.sh starts
    once per run with scripts/<service>-stack.py: the file VOLMGR_<SERVICE>_ENV names, by
    default <stack dir>/<service>/env. Missing is an error, never a skip, because make test
    always starts the service before the integration suites; need opens its message."""
    path = os.environ.get("VOLMGR_%s_ENV" % service.upper()) or os.path.join(
        os.path.dirname(stack_env_path()), service, "env")
    if not os.path.isfile(path):
        raise RuntimeError("%s: %s not found (scripts/%s-stack.py start STACK_DIR)"
                           % (need, path, service))
    env = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip()[len("export "):].partition("=")
            env[key] = value.strip("'")
    return env


def with_database(url, dbname):
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + dbname, p.query, p.fragment))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_text(path):
    """The whole of a (log) file as text, undecodable bytes replaced."""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def tail(path, lines=LOG_TAIL_LINES):
    try:
        text = read_text(path).splitlines()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    return "\n".join(text[-lines:])
