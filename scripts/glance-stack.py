"""A throwaway Glance (image service) for the tests, `make test-interop` and `make run`.

    python3 scripts/glance-stack.py start STACK_DIR
    python3 scripts/glance-stack.py stop STACK_DIR

start needs the stack of scripts/stack.sh running in STACK_DIR (it reads STACK_DIR/env): it
creates a database `volmgr_glance_<random>` on the stack's PostgreSQL (a name of its own, so
that an external server's databases are never touched; stop drops it), writes
STACK_DIR/glance/glance-api.conf (a file store in STACK_DIR/glance/images, no authentication:
Glance's unauthenticated pipeline gives every request an administrator's context), runs
glance-manage db_sync, serves glance-api on a free loopback port and writes
STACK_DIR/glance/env:

    VOLMGR_GLANCE_URL   http://127.0.0.1:PORT (what [glance] api_servers names)
    VOLMGR_GLANCE_PID   the server's pid (stop signals it)
    VOLMGR_GLANCE_DIR   the file store (an image's bytes are the file named by its id)

Glance runs without Keystone even when the shim uses it: volmgr's Glance client sends the
caller's token, which the unauthenticated pipeline ignores, so one server serves both.
VOLMGR_GLANCE_KEEP=1 leaves the files of a failed start for inspection.
"""
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

PY = "/usr/bin/python3"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT = 60
# Glance's policy rules that stay role:admin with the deprecated defaults.
OPEN_RULES = ("publicize_image", "communitize_image", "delete_image_location",
              "get_image_location", "set_image_location", "tasks_api_access")


def _keystone_stack():
    """scripts/keystone-stack.py as a module: its environment, port and database helpers
    serve this stack too."""
    spec = importlib.util.spec_from_file_location(
        "keystone_stack", os.path.join(REPO, "scripts", "keystone-stack.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ks = _keystone_stack()


def log(msg):
    print("glance: %s" % msg, file=sys.stderr, flush=True)


def write_conf(gdir, db_url, port):
    conf = os.path.join(gdir, "glance-api.conf")
    with open(conf, "w") as f:
        f.write("""[DEFAULT]
bind_host = 127.0.0.1
bind_port = %(port)d
workers = 0
log_file = %(gdir)s/glance-api.log
use_stderr = false
enabled_import_methods = []

[database]
connection = %(db)s

[paste_deploy]
flavor =

[glance_store]
stores = file
default_store = file
filesystem_store_datadir = %(gdir)s/images

[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
policy_file = %(gdir)s/policy.yaml
""" % {"gdir": gdir, "db": db_url, "port": port})
    # The unauthenticated context carries no role, and only the rules that ask for the admin
    # role even under the deprecated defaults need opening up: Cinder publishes images.
    with open(os.path.join(gdir, "policy.yaml"), "w") as f:
        f.write("".join('"%s": ""\n' % rule for rule in OPEN_RULES))
    return conf


def serve(conf, port, logpath):
    """Starts glance-api in a session of its own; returns its pid once it answers."""
    with open(logpath, "ab") as logf:
        p = subprocess.Popen(["glance-api", "--config-file", conf], stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=logf, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError("glance-api exited (log: %s)" % logpath)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/v2/images" % port, timeout=2):
                return p.pid
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    os.kill(p.pid, signal.SIGKILL)
    raise RuntimeError("glance-api did not answer within %ds" % START_TIMEOUT)


def start(stack_dir):
    t0 = time.monotonic()
    stack = ks.read_env(os.path.join(stack_dir, "env"))
    gdir = os.path.join(stack_dir, "glance")
    stop(stack_dir)
    os.makedirs(os.path.join(gdir, "images"))
    port = ks.free_port()
    dbname = "volmgr_glance_" + secrets.token_hex(4)
    with open(os.path.join(gdir, "dbname"), "w") as f:
        f.write(dbname + "\n")
    ks.database(stack["VOLMGR_PG_ADMIN_URL"], "CREATE DATABASE " + dbname)
    conf = write_conf(gdir, ks.keystone_db_url(stack["VOLMGR_PG_ADMIN_URL"], dbname), port)
    r = subprocess.run(["glance-manage", "--config-file", conf, "db_sync"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("glance-manage db_sync failed:\n%s" % r.stdout[-3000:])
    pid = serve(conf, port, os.path.join(gdir, "server.log"))
    with open(os.path.join(gdir, "pid"), "w") as f:
        f.write("%d\n" % pid)
    with open(os.path.join(gdir, "env.tmp"), "w") as f:
        f.write("export VOLMGR_GLANCE_URL='http://127.0.0.1:%d'\nexport VOLMGR_GLANCE_PID=%d\n"
                "export VOLMGR_GLANCE_DIR='%s'\n" % (port, pid, os.path.join(gdir, "images")))
    os.rename(os.path.join(gdir, "env.tmp"), os.path.join(gdir, "env"))
    log("up in %.0fs at http://127.0.0.1:%d: env in %s/env" % (time.monotonic() - t0, port,
                                                               gdir))


def stop(stack_dir):
    """Stops the server (its process group, with anything it forked), drops its database
    (when the stack's PostgreSQL still answers) and removes STACK_DIR/glance."""
    gdir = os.path.join(stack_dir, "glance")
    try:
        with open(os.path.join(gdir, "pid")) as f:
            ks.stop_pid(int(f.read().strip()), b"glance-api", os.killpg)
    except (OSError, ValueError):
        pass
    ks.drop_database(stack_dir, os.path.join(gdir, "dbname"), "volmgr_glance_", log)
    shutil.rmtree(gdir, ignore_errors=True)


def main():
    return ks.service_main(start, stop, "VOLMGR_GLANCE_KEEP", log)


if __name__ == "__main__":
    sys.exit(main())
