"""A throwaway Keystone for the tests and `make run VOLMGR_AUTH=keystone`.

    python3 scripts/keystone-stack.py start STACK_DIR
    python3 scripts/keystone-stack.py stop STACK_DIR

start needs the stack of scripts/stack.sh running in STACK_DIR (it reads STACK_DIR/env): it
creates a database `volmgr_keystone_<random>` on the stack's PostgreSQL (a name of its own, so
that an external server's databases are never touched; stop drops it) (Keystone on SQLite fails under
concurrent requests with "database is locked"), writes STACK_DIR/keystone/keystone.conf with
fernet and credential keys beside it, runs keystone-manage db_sync, fernet_setup,
credential_setup and bootstrap, serves Keystone with scripts/keystone_wsgi.py on a free loopback
port, creates the users below and writes STACK_DIR/keystone/env:

    VOLMGR_KEYSTONE_URL   http://127.0.0.1:PORT/v3
    VOLMGR_KEYSTONE_PID   the server's pid (stop signals it)
    VOLMGR_KEYSTONE_CONF  the configuration file (a test may start a second server on it)
    VOLMGR_KEYSTONE_PASSWORD  every user's password

Users (domain Default):
    admin  project admin    role admin    (keystone-manage bootstrap)
    demo   project demo     role member
    alt    project alt      role member   (another project's user)
    nova   project service  role service  (the compute service)
    cinder project service  role service  (the shim's own user, which validates tokens)
    plain  project service  role member   (a user of the service project without the role)
The passwords are fixed: this Keystone listens on loopback only and lives as long as its stack.
VOLMGR_KEYSTONE_KEEP=1 leaves the files of a failed start for inspection.
The catalog also gets an `image` service whose endpoint is the version document that
scripts/keystone_wsgi.py serves (openstackclient's `volume create` needs one).
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PASSWORD = "volmgr-keystone"
PY = "/usr/bin/python3"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT = 60
USERS = (
    # name, project, role
    ("demo", "demo", "member"),
    ("alt", "alt", "member"),
    ("nova", "service", "service"),
    ("cinder", "service", "service"),
    ("plain", "service", "member"),
)


def log(msg):
    print("keystone: %s" % msg, file=sys.stderr, flush=True)


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].split("=", 1)
                env[k] = v.strip("'\"")
    return env


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def keystone_db_url(admin_url, dbname):
    """The stack's admin URL with database dbname, in SQLAlchemy's spelling."""
    p = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(("postgresql+psycopg2", p.netloc, "/" + dbname, p.query, ""))


def database(admin_url, statement):
    """Runs CREATE or DROP DATABASE (outside a transaction) through the admin URL."""
    import psycopg2

    conn = psycopg2.connect(admin_url, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def write_conf(kdir, db_url, expiration=3600):
    conf = os.path.join(kdir, "keystone.conf")
    with open(conf, "w") as f:
        f.write("""[DEFAULT]
log_file = %(kdir)s/keystone.log
use_stderr = false

[database]
connection = %(db)s

[token]
provider = fernet
expiration = %(exp)d

[fernet_tokens]
key_repository = %(kdir)s/fernet-keys

[fernet_receipts]
key_repository = %(kdir)s/fernet-keys

[credential]
key_repository = %(kdir)s/credential-keys
""" % {"kdir": kdir, "db": db_url, "exp": expiration})
    return conf


def manage(conf, *args):
    cmd = ["keystone-manage", "--config-file", conf] + list(args)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd[:4]), r.stdout[-3000:]))


def serve(conf, port, logpath):
    """Starts scripts/keystone_wsgi.py in a session of its own; returns its pid."""
    with open(logpath, "ab") as logf:
        p = subprocess.Popen([PY, os.path.join(REPO, "scripts", "keystone_wsgi.py"), conf,
                              str(port)], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                             start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError("the Keystone server exited (log: %s)" % logpath)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/v3" % port, timeout=2):
                return p.pid
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    os.kill(p.pid, signal.SIGKILL)
    raise RuntimeError("the Keystone server did not answer within %ds" % START_TIMEOUT)


class Api:
    """Just enough of Keystone's v3 API to create projects, users and role assignments."""

    def __init__(self, url):
        self.url = url
        body = password_auth("admin", "admin")
        req = urllib.request.Request(url + "/auth/tokens", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.token = r.headers["X-Subject-Token"]

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, json.dumps(body).encode()
                                     if body is not None else None,
                                     {"Content-Type": "application/json",
                                      "X-Auth-Token": self.token}, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
        return json.loads(data) if data else None

    def find_or_create(self, kind, name, body):
        found = self.call("GET", "/%ss?name=%s" % (kind, name))["%ss" % kind]
        if found:
            return found[0]["id"]
        return self.call("POST", "/%ss" % kind, {kind: body})[kind]["id"]


def password_auth(user, project):
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}


def register_image_stand_in(api, url):
    base = url[:-len("/v3")] + "/image-stand-in/"
    sid = api.find_or_create("service", "glance", {"name": "glance", "type": "image"})
    for interface in ("public", "internal"):
        api.call("POST", "/endpoints", {"endpoint": {
            "service_id": sid, "interface": interface, "url": base, "region_id": "RegionOne"}})


def create_users(url):
    api = Api(url)
    register_image_stand_in(api, url)
    for user, project, role in USERS:
        pid = api.find_or_create("project", project, {"name": project, "domain_id": "default"})
        uid = api.find_or_create("user", user, {"name": user, "domain_id": "default",
                                                "password": PASSWORD})
        rid = api.find_or_create("role", role, {"name": role})
        api.call("PUT", "/projects/%s/users/%s/roles/%s" % (pid, uid, rid))


def start(stack_dir):
    t0 = time.monotonic()
    stack = read_env(os.path.join(stack_dir, "env"))
    kdir = os.path.join(stack_dir, "keystone")
    stop(stack_dir)
    os.makedirs(kdir)
    port = free_port()
    url = "http://127.0.0.1:%d/v3" % port
    dbname = "volmgr_keystone_" + secrets.token_hex(4)
    with open(os.path.join(kdir, "dbname"), "w") as f:
        f.write(dbname + "\n")
    database(stack["VOLMGR_PG_ADMIN_URL"], "CREATE DATABASE " + dbname)
    conf = write_conf(kdir, keystone_db_url(stack["VOLMGR_PG_ADMIN_URL"], dbname))
    user = "root" if os.getuid() == 0 else str(os.getuid())
    manage(conf, "db_sync")
    manage(conf, "fernet_setup", "--keystone-user", user, "--keystone-group", user)
    manage(conf, "credential_setup", "--keystone-user", user, "--keystone-group", user)
    manage(conf, "bootstrap", "--bootstrap-password", PASSWORD,
           "--bootstrap-admin-url", url, "--bootstrap-public-url", url,
           "--bootstrap-internal-url", url, "--bootstrap-region-id", "RegionOne")
    pid = serve(conf, port, os.path.join(kdir, "server.log"))
    with open(os.path.join(kdir, "pid"), "w") as f:
        f.write("%d\n" % pid)
    create_users(url)
    with open(os.path.join(kdir, "env.tmp"), "w") as f:
        f.write("export VOLMGR_KEYSTONE_URL='%s'\nexport VOLMGR_KEYSTONE_PID=%d\n"
                "export VOLMGR_KEYSTONE_CONF='%s'\nexport VOLMGR_KEYSTONE_PASSWORD='%s'\n"
                % (url, pid, conf, PASSWORD))
    os.rename(os.path.join(kdir, "env.tmp"), os.path.join(kdir, "env"))
    log("up in %.0fs at %s: env in %s/env" % (time.monotonic() - t0, url, kdir))


def stop_pid(pid, marker=b"keystone_wsgi.py", kill=os.kill):
    """SIGTERM, then SIGKILL after 10 s, each sent with kill (os.killpg for a server's
    whole process group); only to a process whose command line holds marker, so that a
    recycled pid is never signalled."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if marker not in f.read():
                return
        kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)
    try:
        kill(pid, signal.SIGKILL)
    except OSError:
        pass


def stop(stack_dir):
    """Stops the server, drops its database (when the stack's PostgreSQL still answers) and
    removes STACK_DIR/keystone."""
    kdir = os.path.join(stack_dir, "keystone")
    try:
        with open(os.path.join(kdir, "pid")) as f:
            stop_pid(int(f.read().strip()))
    except (OSError, ValueError):
        pass
    drop_database(stack_dir, os.path.join(kdir, "dbname"), "volmgr_keystone_")
    shutil.rmtree(kdir, ignore_errors=True)


def drop_database(stack_dir, dbfile, prefix, log_fn=log):
    """Drops the service's database named in dbfile from the PostgreSQL of the stack in
    stack_dir, when the file exists and the name starts with prefix: the prefix guards an
    external server's other databases against a corrupted file. A failure is logged with
    log_fn (the calling service's prefix), never raised, because a stack that is already
    gone took the database with it."""
    try:
        if os.path.exists(dbfile):
            with open(dbfile) as f:
                dbname = f.read().strip()
            admin = read_env(os.path.join(stack_dir, "env"))["VOLMGR_PG_ADMIN_URL"]
            if dbname.startswith(prefix):
                database(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
    except Exception as e:  # noqa: BLE001 - a stack already gone took the database with it
        log_fn("database not dropped: %s" % e)


def service_main(start_fn, stop_fn, keep_var, log_fn=log):
    """The command line of a service stack script (`start|stop STACK_DIR`): runs start_fn or
    stop_fn on the absolute stack directory and returns the exit status. A failed start is
    undone with stop_fn unless the environment variable keep_var is 1, which leaves its files
    for inspection; log_fn reports the failure under the calling service's prefix."""
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        print("usage: %s start|stop STACK_DIR" % sys.argv[0], file=sys.stderr)
        return 2
    stack_dir = os.path.abspath(sys.argv[2])
    if sys.argv[1] == "stop":
        stop_fn(stack_dir)
        return 0
    try:
        start_fn(stack_dir)
    except Exception as e:  # noqa: BLE001 - any failure of start leaves nothing running
        log_fn("start failed: %s" % e)
        if os.environ.get(keep_var) != "1":
            stop_fn(stack_dir)
        return 1
    return 0


def main():
    return service_main(start, stop, "VOLMGR_KEYSTONE_KEEP")


if __name__ == "__main__":
    sys.exit(main())
