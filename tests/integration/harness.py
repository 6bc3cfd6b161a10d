"""Integration-test harness for volmgr: one throwaway volmgr deployment per test class.

Every suite derives from StackTestCase. setUpClass builds, against the broker and the
PostgreSQL server of the running stack (scripts/stack.sh start; its env file is named by
VOLMGR_STACK_ENV, default <repo>/.stack/env):

  * a fresh database volmgr_t_<rand> (CREATE DATABASE through VOLMGR_PG_ADMIN_URL),
  * a temporary directory holding the filestore, the configuration file and the logs,
  * a control exchange "openstack_<rand>" and a host "node<rand>" of its own, so that classes
    never see each other's messages or rows,
  * then runs `volctl db-sync` and starts the compute stand-in, bin/volume-manager and
    bin/api-shim, and waits (polling under a deadline) until the shim answers, the manager's
    services row exists and its queues are declared.

tearDownClass stops those processes by pid, drops the database, deletes the exchange and the
queues, and removes the temporary directory. When a test fails, the tail of the manager and
shim logs is printed.

Run: /usr/bin/python3 -m unittest discover -s tests/integration -p 'test_*.py' -v
"""

import atexit
import contextlib
import http.client
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

import msgpack   # Debian python3-msgpack
import pika      # Debian python3-pika
import psycopg2  # Debian python3-psycopg2

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
DEFAULT = object()   # "use the default" marker for optional arguments that may be None


# ---------------------------------------------------------------------------------------
# the stack's environment
# ---------------------------------------------------------------------------------------

# Every process a class started, so that an interrupted run (Ctrl-C skips tearDownClass)
# still stops them at interpreter exit.
_LIVE_PROCS = []


@atexit.register
def _kill_leftovers():
    for proc in _LIVE_PROCS:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)


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


def with_database(url, dbname):
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + dbname, p.query, p.fragment))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=LOG_TAIL_LINES):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


# ---------------------------------------------------------------------------------------
# msgpack casts (the wire contract of proto/)
# ---------------------------------------------------------------------------------------

def volume_primitive(volume_id, **data):
    """A Cinder Volume 1.9 versioned-object primitive; the manager reads the row by data.id."""
    d = {"id": volume_id}
    d.update(data)
    return {
        "versioned_object.name": "Volume",
        "versioned_object.namespace": "cinder",
        "versioned_object.version": "1.9",
        "versioned_object.data": d,
    }


def context_dict(user_id="user1", project_id="proj1", is_admin=False, roles=None,
                 request_id=None):
    """Every key of cinder.context.RequestContext.to_dict() (cinder-behaviour.md §6.2)."""
    roles = list(roles or (["admin"] if is_admin else ["member"]))
    return {
        "user": user_id, "user_id": user_id,
        "project_id": project_id, "project": project_id,
        "system_scope": None, "domain": None, "domain_id": None,
        "user_domain": None, "project_domain": None,
        "is_admin": is_admin, "read_only": False, "show_deleted": False,
        "auth_token": None,
        "request_id": request_id or "req-" + str(uuid.uuid4()),
        "global_request_id": None, "resource_uuid": None,
        "roles": roles,
        "user_identity": "%s %s - - -" % (user_id, project_id),
        "is_admin_project": True, "project_name": None, "read_deleted": "no",
        "remote_address": "127.0.0.1",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000", time.gmtime()),
        "quota_class": None, "service_catalog": [],
        "message_resource_id": None, "message_resource_type": None, "message_action": None,
    }


def cast_message(method, args, version="3.0", unique_id=None, context=None):
    """The oslo.messaging inner message of a cast, as a dict (encode with pack())."""
    msg = {
        "method": method,
        "args": args,
        "version": version,
        "_unique_id": unique_id or uuid.uuid4().hex,
    }
    for key, value in (context or context_dict()).items():
        msg["_context_" + key] = value
    return msg


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def oslo_unwrap(body):
    """The inner message of oslo.messaging's JSON envelope."""
    outer = json.loads(body)
    if outer.get("oslo.version") != "2.0":
        raise ValueError("not an oslo 2.0 envelope: %r" % (outer,))
    return json.loads(outer["oslo.message"])


def extend_cast(volume_id, new_size, reservations, unique_id=None, context=None):
    return cast_message("extend_volume",
                        {"volume": volume_primitive(volume_id), "new_size": new_size,
                         "reservations": list(reservations)},
                        version="3.0", unique_id=unique_id, context=context)


def completion_cast(volume_id, new_size, reservations, error, unique_id=None, context=None):
    return cast_message("extend_volume_completion",
                        {"volume": volume_primitive(volume_id), "new_size": new_size,
                         "reservations": list(reservations), "error": error},
                        version="3.19", unique_id=unique_id, context=context)


# ---------------------------------------------------------------------------------------
# the base class
# ---------------------------------------------------------------------------------------

class StackTestCase(unittest.TestCase):
    """A volmgr deployment of its own for each test class. Subclasses tune it with the class
    attributes below."""

    extend_feedback_timeout = 600
    compute_feedback = True
    quota_gigabytes = 1000
    quota_volumes = 10
    heartbeat_timeout_threshold = 60
    max_message_bytes = 1048576
    processed_message_retention = 604800
    journal = False
    stub_auto_complete = False
    rpc_response_timeout = 30
    rpc_wire_format = "msgpack"
    log_level = "debug"

    # default identities (setUp gives every test a project of its own)
    PROJECT = "proj1"
    USER = "user1"

    # ---- class set-up / tear-down ----

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._procs = []          # (name, Popen, log path)
        cls._queues = []         # queues to delete at tear-down
        cls._db = None
        cls._dbname = None
        cls.tmp = None
        try:
            cls._build()
        except BaseException:
            cls._print_logs("set-up of %s failed" % cls.__name__)
            cls._destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._destroy()
        super().tearDownClass()

    @classmethod
    def _build(cls):
        cls.env = cls.stack_env()
        rand = secrets.token_hex(4)
        cls.rand = rand
        cls.transport_url = cls.env["VOLMGR_TRANSPORT_URL"]
        cls.admin_url = cls.env["VOLMGR_PG_ADMIN_URL"]
        cls._dbname = "volmgr_t_" + rand
        cls.exchange = "openstack_" + rand
        cls.host = "node" + rand
        cls.service_host = "%s@%s" % (cls.host, BACKEND)
        cls.volume_host = "%s@%s#%s" % (cls.host, BACKEND, BACKEND)
        cls.routing_key = "cinder-volume.%s.%s" % (cls.service_host, cls.host)
        cls.service_queues = ["cinder-volume", "cinder-volume." + cls.service_host,
                              cls.routing_key]

        cls.tmp = tempfile.mkdtemp(prefix="volmgr-it-%s-" % cls.__name__.lower())
        cls.filestore_dir = os.path.join(cls.tmp, "volumes")
        cls.log_dir = os.path.join(cls.tmp, "logs")
        os.makedirs(cls.filestore_dir)
        os.makedirs(cls.log_dir)

        conn = psycopg2.connect(cls.admin_url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute('CREATE DATABASE "%s"' % cls._dbname)
        finally:
            conn.close()
        cls.db_url = with_database(cls.env["VOLMGR_DB_URL"], cls._dbname)

        cls.shim_port = free_port()
        cls.stub_port = free_port()
        cls.api_root = "http://127.0.0.1:%d" % cls.shim_port
        cls.stub_root = "http://127.0.0.1:%d" % cls.stub_port
        cls.compute_url = cls.stub_root + "/v2.1"
        cls.config_file = os.path.join(cls.tmp, "volmgr.conf")
        with open(cls.config_file, "w") as f:
            f.write(cls._config_text())

        # The binaries let the environment override the file (docs/contracts.md): give them
        # this class's values, never the shared stack database.
        cls.proc_env = dict(os.environ)
        cls.proc_env.update({
            "VOLMGR_TRANSPORT_URL": cls.transport_url,
            "VOLMGR_DB_URL": cls.db_url,
            "VOLMGR_COMPUTE_URL": cls.compute_url,
        })

        rc, out = cls._run_volctl("db-sync")
        if rc != 0:
            raise RuntimeError("volctl db-sync failed (%d):\n%s" % (rc, out))
        cls._db = psycopg2.connect(cls.db_url)
        cls._db.autocommit = True

        stub_cmd = [PYTHON, STUB, "--port", str(cls.stub_port),
                    "--volume-api", cls.api_root + "/v3",
                    "--admin-token", "admin:admin",
                    "--filestore-dir", cls.filestore_dir]
        if cls.stub_auto_complete:
            stub_cmd.append("--auto-complete")
        cls._start("compute-stub", stub_cmd)
        cls._wait_until("compute stub answers", lambda: cls._stub_ready())

        cls._start("volume-manager",
                   [os.path.join(BIN, "volume-manager"), "--config-file", cls.config_file])
        cls._start("api-shim",
                   [os.path.join(BIN, "api-shim"), "--config-file", cls.config_file])
        cls._queues.extend(cls.service_queues)
        if cls.journal:
            cls._queues.append(cls.exchange + ".journal")

        cls._wait_until("api-shim answers GET /", cls._shim_ready)
        cls._wait_until("manager's services row (heartbeat)", cls._service_row_exists)
        cls._wait_until("manager's queues declared", cls._queues_exist)
        cls.manager_pid = cls._proc("volume-manager").pid

    @classmethod
    def stack_env(cls):
        """The servers this class runs against (a subclass may start its own)."""
        return load_stack_env()

    @classmethod
    def _config_text(cls):
        return "\n".join([
            "[DEFAULT]",
            "transport_url = %s" % cls.transport_url,
            "control_exchange = %s" % cls.exchange,
            "host = %s" % cls.host,
            "backend = %s" % BACKEND,
            "log_level = %s" % cls.log_level,
            "storage_availability_zone = nova",
            "default_volume_type = %s" % DEFAULT_TYPE,
            "quota_volumes = %d" % cls.quota_volumes,
            "quota_snapshots = 10",
            "quota_gigabytes = %d" % cls.quota_gigabytes,
            "per_volume_size_limit = -1",
            "reservation_expire = 86400",
            "message_ttl = 2592000",
            "",
            "[database]",
            "connection = %s" % cls.db_url,
            "",
            "[oslo_messaging_rabbit]",
            "amqp_durable_queues = true",
            "rabbit_quorum_queue = false",
            "rabbit_qos_prefetch_count = 16",
            "heartbeat_timeout_threshold = %d" % cls.heartbeat_timeout_threshold,
            "",
            "[filestore]",
            "filestore_dir = %s" % cls.filestore_dir,
            "filestore_compute_feedback = %s" % ("true" if cls.compute_feedback else "false"),
            "",
            "[nova]",
            "endpoint = %s" % cls.compute_url,
            "token = stub-token",
            "timeout = 5",
            "",
            "[manager]",
            "extend_feedback_timeout = %d" % cls.extend_feedback_timeout,
            "periodic_interval = 1",
            "report_interval = 1",
            "drain_timeout = 5",
            "max_message_bytes = %d" % cls.max_message_bytes,
            "processed_message_retention = %d" % cls.processed_message_retention,
            "",
            "[journal]",
            "enabled = %s" % ("true" if cls.journal else "false"),
            "max_age = 1h",
            "max_bytes = 50000000",
            "",
            "[api]",
            "listen = 127.0.0.1",
            "port = %d" % cls.shim_port,
            "auth_strategy = noauth",
            "admin_users = admin",
            "publish_timeout = 5",
            "rpc_response_timeout = %d" % cls.rpc_response_timeout,
            "rpc_wire_format = %s" % cls.rpc_wire_format,
            "workers = 8",
            "",
        ])

    @classmethod
    def _start(cls, name, argv):
        log_path = os.path.join(cls.log_dir, name + ".log")
        logf = open(log_path, "ab")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, cwd=cls.tmp, env=cls.proc_env,
                                    start_new_session=True)
        finally:
            logf.close()
        cls._procs.append((name, proc, log_path))
        _LIVE_PROCS.append(proc)
        return proc

    @classmethod
    def _proc(cls, name):
        """The process last started under name."""
        for n, p, _ in reversed(cls._procs):
            if n == name:
                return p
        raise KeyError(name)

    @classmethod
    def _wait_until(cls, what, fn, timeout=STARTUP_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            for name, proc, log_path in cls._procs:
                rc = proc.poll()
                if rc is not None:
                    raise RuntimeError("%s exited with %s while waiting for %s; log tail:\n%s"
                                       % (name, rc, what, tail(log_path)))
            try:
                if fn():
                    return
            except Exception as e:  # not ready yet: keep the reason for the message
                last = e
            if time.monotonic() > deadline:
                raise RuntimeError("timed out after %.0fs waiting for %s (last error: %r)"
                                   % (timeout, what, last))
            time.sleep(0.1)

    @classmethod
    def _stub_ready(cls):
        st, _, _ = cls._request(cls.stub_root, "GET", "/_fixture/events")
        return st == 200

    @classmethod
    def _shim_ready(cls):
        st, _, _ = cls._request(cls.api_root, "GET", "/", token=None)
        return st is not None and st > 0

    @classmethod
    def _service_row_exists(cls):
        rows = cls._sql("SELECT 1 FROM services WHERE (host = %s OR host = %s) "
                        "AND deleted IS NOT TRUE", (cls.service_host, cls.host))
        return bool(rows)

    @classmethod
    def _queues_exist(cls):
        for q in cls.service_queues:
            if cls.queue_count(q) is None:
                return False
        return True

    @classmethod
    def _stop_procs(cls):
        for name, proc, _ in reversed(cls._procs):
            if proc.poll() is not None:
                continue
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sys.stderr.write("harness: %s (pid %d) ignored SIGTERM for 10s; SIGKILL\n"
                                 % (name, proc.pid))
                proc.kill()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    sys.stderr.write("harness: %s (pid %d) survived SIGKILL\n"
                                     % (name, proc.pid))

    @classmethod
    def _destroy(cls):
        cls._stop_procs()
        if cls._db is not None:
            with contextlib.suppress(Exception):
                cls._db.close()
            cls._db = None
        if cls._dbname:
            try:
                conn = psycopg2.connect(cls.admin_url)
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % cls._dbname)
                conn.close()
            except Exception as e:
                sys.stderr.write("harness: dropping %s failed: %s\n" % (cls._dbname, e))
        if getattr(cls, "exchange", None):
            try:
                with cls.amqp() as ch:
                    for q in cls._queues:
                        ch.queue_delete(queue=q)
                    ch.exchange_delete(exchange=cls.exchange)
            except Exception as e:
                sys.stderr.write("harness: deleting exchange/queues failed: %s\n" % e)
        if cls.tmp and os.environ.get("VOLMGR_KEEP_TEST_DIRS") != "1":
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def _print_logs(cls, why):
        out = ["", "==== %s: log tails ====" % why]
        for name, proc, log_path in getattr(cls, "_procs", []):
            if name == "compute-stub":
                continue
            state = "running" if proc.poll() is None else "exited %s" % proc.returncode
            out.append("---- %s (pid %d, %s): %s ----" % (name, proc.pid, state, log_path))
            out.append(tail(log_path))
        sys.stderr.write("\n".join(out) + "\n")

    # ---- per-test hooks ----

    def setUp(self):
        super().setUp()
        # Every test works in a project of its own, so that quota figures never mix.
        self.PROJECT = "proj" + secrets.token_hex(4)
        self.addCleanup(self._report_on_failure)
        self.stub_reset()

    def _report_on_failure(self):
        outcome = getattr(self, "_outcome", None)
        failed = False
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errors = getattr(outcome, "errors", None)
            if errors:  # Python < 3.11
                failed = any(exc is not None for _, exc in errors)
            elif result is not None:
                mine = [t for t, _ in result.failures + result.errors if t is self]
                failed = bool(mine) or not getattr(outcome, "success", True)
        if failed:
            self._print_logs("%s failed" % self.id())

    # ---- HTTP ----

    @staticmethod
    def _request(root, method, path, body=None, token=None, roles=None, version=None,
                 headers=None, timeout=15):
        p = urllib.parse.urlsplit(root)
        conn = http.client.HTTPConnection(p.hostname, p.port, timeout=timeout)
        hdrs = {"Accept": "application/json"}
        if token is not None:
            hdrs["X-Auth-Token"] = token
        if roles:
            hdrs["X-Roles"] = roles if isinstance(roles, str) else ",".join(roles)
        if version is not None:
            hdrs["OpenStack-API-Version"] = "volume %s" % version
        data = None
        if body is not None:
            if isinstance(body, bytes):
                data = body
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            status, rheaders = resp.status, resp.headers
        except (OSError, http.client.HTTPException):
            conn.close()
            return None, None, None
        conn.close()
        doc = None
        if raw:
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = raw.decode("utf-8", "replace")
        return status, rheaders, doc

    def http(self, method, path, body=None, token=DEFAULT, roles=None, version=None,
             headers=None):
        """(status, headers, json) of a request to the shim. path is absolute ("/v3/...").
        token defaults to "<USER>:<PROJECT>" (None: no X-Auth-Token). headers is an
        email.message.Message (case-insensitive get)."""
        if token is DEFAULT:
            token = "%s:%s" % (self.USER, self.PROJECT)
        st, hd, doc = self._request(self.api_root, method, path, body=body, token=token,
                                    roles=roles, version=version, headers=headers)
        if st is None:
            self.fail("api-shim did not answer %s %s" % (method, path))
        return st, hd, doc

    def admin(self, method, path, body=None, project=None, **kw):
        return self.http(method, path, body=body, token="admin:%s" % (project or self.PROJECT),
                         **kw)

    def vpath(self, volume_id, project=None, suffix=""):
        return "/v3/%s/volumes/%s%s" % (project or self.PROJECT, volume_id, suffix)

    def action(self, volume_id, body, project=None, token=None, **kw):
        project = project or self.PROJECT
        return self.http("POST", self.vpath(volume_id, project, "/action"), body=body,
                         token=token or "%s:%s" % (self.USER, project), **kw)

    def admin_action(self, volume_id, body, project=None, **kw):
        project = project or self.PROJECT
        return self.action(volume_id, body, project=project, token="admin:%s" % project, **kw)

    def extend(self, volume_id, new_size, project=None, **kw):
        return self.action(volume_id, {"os-extend": {"new_size": new_size}}, project=project,
                           **kw)

    def complete(self, volume_id, error=False, project=None, **kw):
        inner = {} if error is Ellipsis else {"error": error}
        return self.admin_action(volume_id, {"os-extend_volume_completion": inner},
                                 project=project, **kw)

    def reset_status(self, volume_id, status, project=None, **kw):
        return self.admin_action(volume_id, {"os-reset_status": {"status": status}},
                                 project=project, **kw)

    def get_volume(self, volume_id, project=None, admin=True):
        project = project or self.PROJECT
        token = "admin:%s" % project if admin else "%s:%s" % (self.USER, project)
        st, _, doc = self.http("GET", self.vpath(volume_id, project), token=token)
        self.assertEqual(st, 200, "GET volume %s: %s %s" % (volume_id, st, doc))
        return doc["volume"]

    def assertFault(self, status, doc, code, name=None, contains=None):
        """A Cinder fault body {"<name>": {"code": code, "message": ...}}."""
        self.assertEqual(status, code, "expected HTTP %d, got %d: %s" % (code, status, doc))
        self.assertIsInstance(doc, dict, "fault body is not a JSON object: %r" % (doc,))
        self.assertEqual(len(doc), 1, "fault body must have one key: %r" % (doc,))
        fname, inner = next(iter(doc.items()))
        if name:
            self.assertEqual(fname, name, "fault name: %r" % (doc,))
        self.assertEqual(inner.get("code"), code, "fault code: %r" % (doc,))
        self.assertIsInstance(inner.get("message"), str, "fault message: %r" % (doc,))
        if contains is not None:
            for piece in ([contains] if isinstance(contains, str) else contains):
                self.assertIn(piece, inner["message"], "fault message: %r" % (doc,))
        return inner["message"]

    # ---- compute stub control ----

    def stub(self, method, path, body=None):
        st, _, doc = self._request(self.stub_root, method, path, body=body)
        self.assertEqual(st, 200, "compute stub %s %s: %s %s" % (method, path, st, doc))
        return doc

    def stub_reset(self):
        self.stub("POST", "/_fixture/reset")

    def stub_mode(self, mode="ok", **kw):
        body = {"mode": mode}
        body.update(kw)
        self.stub("POST", "/_fixture/mode", body)

    def stub_events(self):
        return self.stub("GET", "/_fixture/events")["events"]

    # ---- database ----

    @classmethod
    def _sql(cls, query, params=None):
        with cls._db.cursor() as cur:
            cur.execute(query, params)
            if cur.description is None:
                return cur.rowcount
            return cur.fetchall()

    def sql(self, query, params=None):
        """Rows (list of tuples) of a query, or the row count of a statement (autocommit)."""
        return self._sql(query, params)

    def sql_value(self, query, params=None):
        rows = self._sql(query, params)
        return rows[0][0] if rows else None

    def volume_row(self, volume_id):
        rows = self._sql("SELECT status, size, previous_status, attach_status, deleted "
                         "FROM volumes WHERE id = %s", (volume_id,))
        if not rows:
            return None
        keys = ("status", "size", "previous_status", "attach_status", "deleted")
        return dict(zip(keys, rows[0]))

    def status_of(self, volume_id):
        return self.sql_value("SELECT status FROM volumes WHERE id = %s", (volume_id,))

    def admin_md(self, volume_id):
        rows = self._sql("SELECT key, value FROM volume_admin_metadata "
                         "WHERE volume_id = %s AND deleted IS NOT TRUE", (volume_id,))
        return dict(rows)

    def usage(self, resource, project=None):
        """(in_use, reserved) of the live quota_usages row, (0, 0) when absent."""
        rows = self._sql("SELECT in_use, reserved FROM quota_usages WHERE project_id = %s "
                         "AND resource = %s AND deleted IS NOT TRUE",
                         (project or self.PROJECT, resource))
        return tuple(rows[0]) if rows else (0, 0)

    def gb_usages(self, project=None):
        """{"gigabytes": (in_use, reserved), "gigabytes___DEFAULT__": (...)}"""
        return {r: self.usage(r, project) for r in ("gigabytes", "gigabytes_" + DEFAULT_TYPE)}

    def live_reservations(self, project=None):
        return self._sql("SELECT uuid, resource, delta FROM reservations WHERE project_id = %s "
                         "AND deleted IS NOT TRUE", (project or self.PROJECT,))

    def user_messages(self, volume_id):
        """[(action_id, detail_id, event_id)] of the volume's user messages, oldest first."""
        return self._sql("SELECT action_id, detail_id, event_id FROM messages "
                         "WHERE resource_uuid = %s AND deleted IS NOT TRUE "
                         "ORDER BY created_at, id", (volume_id,))

    def notifications(self, volume_id, event_type="volume.resize.end"):
        out = []
        for payload, publisher in self._sql(
                "SELECT payload, publisher_id FROM volmgr_notifications WHERE event_type = %s "
                "ORDER BY id", (event_type,)):
            if isinstance(payload, (str, bytes)):
                payload = json.loads(payload)
            if payload.get("volume_id") == volume_id:
                payload = dict(payload)
                payload["_publisher_id"] = publisher
                out.append(payload)
        return out

    def pool_allocated(self):
        rows = self._sql("SELECT coalesce(sum(allocated_capacity_gb), 0) FROM volmgr_pool_stats "
                         "WHERE host = %s OR host = %s OR host LIKE %s",
                         (self.service_host, self.host, self.service_host + "%"))
        return int(rows[0][0]) if rows else 0

    def pending_extend(self, volume_id):
        rows = self._sql("SELECT new_size, reservations, instance_uuid FROM "
                         "volmgr_pending_extends WHERE volume_id = %s", (volume_id,))
        return rows[0] if rows else None

    def processed(self, unique_id):
        return self._sql("SELECT method, outcome FROM volmgr_processed_messages "
                         "WHERE unique_id = %s", (unique_id,))

    def default_type_id(self):
        return self.sql_value("SELECT id FROM volume_types WHERE name = %s "
                              "AND deleted IS NOT TRUE", (DEFAULT_TYPE,))

    def insert_volume(self, size=1, status="available", project=None, user=None,
                      admin_md=None, previous_status=None, attach_status="detached",
                      volume_type_id=None, file_gib=None):
        """A volume row written directly in SQL (as the §8.1 tests set them up), with live
        admin metadata rows. file_gib creates a sparse backing file of that size."""
        vid = str(uuid.uuid4())
        self._sql(
            "INSERT INTO volumes (created_at, updated_at, deleted, id, user_id, project_id, "
            "host, size, availability_zone, status, attach_status, display_name, "
            "volume_type_id, bootable, multiattach, previous_status, shared_targets, "
            "use_quota, launched_at, provider_location) VALUES "
            "(now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', false, %s, %s, %s, %s, %s, "
            "'nova', %s, %s, %s, %s, false, false, %s, true, true, now() AT TIME ZONE 'utc', "
            "%s)",
            (vid, user or self.USER, project or self.PROJECT, self.volume_host, size, status,
             attach_status, "it-" + vid[:8], volume_type_id or self.default_type_id(),
             previous_status, self.backing_file(vid)))
        for k, v in (admin_md or {}).items():
            self.set_admin_md(vid, k, v)
        if file_gib is not None:
            self.grow_file(vid, file_gib)
        return vid

    def live_reservation(self, project=None, gib=1):
        """A live reservation of gib gigabytes for project, as os-extend leaves it (the usage
        row's reserved raised with it). Returns its uuid."""
        project = project or self.PROJECT
        self._sql("INSERT INTO quota_usages (created_at, deleted, project_id, resource, in_use,"
                  " reserved, race_preventer) VALUES (now() AT TIME ZONE 'utc', false, %s,"
                  " 'gigabytes', 0, 0, true) ON CONFLICT DO NOTHING", (project,))
        res = str(uuid.uuid4())
        self._sql("UPDATE quota_usages SET reserved = reserved + %s"
                  " WHERE project_id = %s AND resource = 'gigabytes' AND deleted = false",
                  (gib, project))
        self._sql("INSERT INTO reservations (created_at, deleted, uuid, usage_id, project_id,"
                  " resource, delta, expire) SELECT now() AT TIME ZONE 'utc', false, %s, id,"
                  " project_id, 'gigabytes', %s, now() AT TIME ZONE 'utc' + interval '1 day'"
                  " FROM quota_usages WHERE project_id = %s AND resource = 'gigabytes'"
                  " AND deleted = false", (res, gib, project))
        return res

    def set_admin_md(self, volume_id, key, value):
        self._sql("INSERT INTO volume_admin_metadata (created_at, updated_at, deleted, "
                  "volume_id, key, value) VALUES (now() AT TIME ZONE 'utc', "
                  "now() AT TIME ZONE 'utc', false, %s, %s, %s)", (volume_id, key, value))

    # ---- filestore ----

    def backing_file(self, volume_id):
        return os.path.join(self.filestore_dir, "volume-%s" % volume_id)

    def file_size(self, volume_id):
        """Size in bytes of the volume's backing file, or None when it does not exist."""
        try:
            return os.stat(self.backing_file(volume_id)).st_size
        except FileNotFoundError:
            return None

    def grow_file(self, volume_id, gib):
        path = self.backing_file(volume_id)
        with open(path, "ab"):
            pass
        os.truncate(path, gib * GIB)

    # ---- polling ----

    def poll(self, fn, timeout=15, interval=0.1, msg=None):
        """Calls fn until it returns something truthy (returned), or fails the test."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = fn()
            if last:
                return last
            if time.monotonic() > deadline:
                self.fail("%s (not true after %.1fs; last value %r)"
                          % (msg or "condition", timeout, last))
            time.sleep(interval)

    def wait_status(self, volume_id, status, timeout=15):
        statuses = (status,) if isinstance(status, str) else tuple(status)
        self.poll(lambda: self.status_of(volume_id) in statuses, timeout=timeout,
                  msg="volume %s status in %s (now %r)" % (volume_id, statuses,
                                                           self.status_of(volume_id)))
        return self.status_of(volume_id)

    def settle(self, fn, duration=1.5, interval=0.1):
        """Asserts that fn() stays truthy for duration seconds (a negative check has to wait
        for something that should not happen: keep it short)."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            self.assertTrue(fn(), "condition stopped holding")
            time.sleep(interval)

    # ---- volumes through the shim ----

    def create_volume(self, size=1, project=None, name=None, volume_type=None, wait=True):
        project = project or self.PROJECT
        body = {"volume": {"size": size, "name": name or "it-vol"}}
        if volume_type:
            body["volume"]["volume_type"] = volume_type
        st, _, doc = self.http("POST", "/v3/%s/volumes" % project, body=body,
                               token="%s:%s" % (self.USER, project))
        self.assertIn(st, (200, 202), "create volume: %s %s" % (st, doc))
        vid = doc["volume"]["id"]
        if wait:
            self.wait_status(vid, "available", timeout=8)
        return vid

    def attach(self, volume_id, instance=None, host="compute1", mountpoint="/dev/vdb",
               register=True):
        """volctl attach (the volume becomes in-use); the attachment is also registered with
        the compute stub, with the volume's project. Returns (attachment id, instance)."""
        instance = instance or str(uuid.uuid4())
        out = self.volctl_ok("attach", volume_id, "--instance", instance, "--host", host,
                             "--mountpoint", mountpoint)
        lines = [l.strip() for l in out.strip().splitlines() if l.strip()]
        attachment_id = lines[-1] if lines else None
        if register:
            self.stub("POST", "/_fixture/attachments",
                      {"server_id": instance, "volume_id": volume_id,
                       "attachment_id": attachment_id, "project_id": self.PROJECT})
        return attachment_id, instance

    def insert_attachment(self, volume_id, instance_uuid=None, mark_in_use=True):
        """An attachment row written in SQL (instance_uuid None: a Glance-store attachment)."""
        aid = str(uuid.uuid4())
        self._sql("INSERT INTO volume_attachment (created_at, updated_at, deleted, id, "
                  "volume_id, attached_host, instance_uuid, mountpoint, attach_time, "
                  "attach_mode, attach_status) VALUES (now() AT TIME ZONE 'utc', "
                  "now() AT TIME ZONE 'utc', false, %s, %s, 'compute1', %s, '/dev/vdc', "
                  "now() AT TIME ZONE 'utc', 'rw', 'attached')",
                  (aid, volume_id, instance_uuid))
        if mark_in_use:
            self._sql("UPDATE volumes SET status = 'in-use', attach_status = 'attached' "
                      "WHERE id = %s", (volume_id,))
        return aid

    def manager_barrier(self, timeout=10):
        """Returns once the manager has handled every message published to it before this
        call: a marker cast (a failed completion of a throwaway volume) is published behind
        them, and the manager consumes its queue in order."""
        marker = self.insert_volume(size=1, status="extending", previous_status="available",
                                    project="barrier")
        self.publish(completion_cast(marker, 2, [], True,
                                     context=context_dict("admin", "barrier", is_admin=True)))
        self.poll(lambda: self.status_of(marker) == "error_extending", timeout=timeout,
                  msg="the manager handled the barrier cast")

    # ---- volctl ----

    @classmethod
    def _run_volctl(cls, *args, timeout=30):
        p = subprocess.run([os.path.join(BIN, "volctl"), "--config-file", cls.config_file]
                           + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=cls.proc_env, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def volctl(self, *args):
        """(exit code, combined output) of bin/volctl with this class's config."""
        return self._run_volctl(*args)

    def volctl_ok(self, *args):
        rc, out = self._run_volctl(*args)
        self.assertEqual(rc, 0, "volctl %s exited %d:\n%s" % (" ".join(args), rc, out))
        return out

    @contextlib.contextmanager
    def manager_held(self):
        """The manager stopped (SIGSTOP) for the block and continued after it, whatever
        happens: what the block sends waits in the queue meanwhile."""
        os.kill(self.manager_pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.manager_pid, signal.SIGCONT)

    # ---- AMQP ----

    @classmethod
    @contextlib.contextmanager
    def amqp(cls):
        """A fresh channel on a fresh connection (a failed passive declare closes a channel,
        so helpers never share one)."""
        params = pika.URLParameters(cls.transport_url)
        params.heartbeat = 0
        params.blocked_connection_timeout = 10
        params.socket_timeout = 10
        conn = pika.BlockingConnection(params)
        try:
            yield conn.channel()
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    @classmethod
    def queue_count(cls, queue):
        """Messages ready in queue, or None when the queue does not exist."""
        try:
            with cls.amqp() as ch:
                ok = ch.queue_declare(queue=queue, passive=True)
                return ok.method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            return None

    def publish(self, body, routing_key=None, exchange=None, unique_id=None,
                content_type="application/msgpack", headers=None):
        """Publishes raw bytes (or a dict, msgpack-encoded) with publisher confirms."""
        with self.amqp() as ch:
            ch.confirm_delivery()
            self._publish_on(ch, body, routing_key, exchange, unique_id, content_type, headers)

    def publish_many(self, bodies, routing_key=None):
        """Publishes each of bodies as publish() does, on one connection (a burst)."""
        with self.amqp() as ch:
            ch.confirm_delivery()
            for body in bodies:
                self._publish_on(ch, body, routing_key)

    def _publish_on(self, ch, body, routing_key=None, exchange=None, unique_id=None,
                    content_type="application/msgpack", headers=None):
        if isinstance(body, dict):
            if unique_id is None:
                unique_id = body.get("_unique_id")
            body = pack(body)
        props = pika.BasicProperties(content_type=content_type, delivery_mode=2,
                                     message_id=unique_id, headers=headers)
        ch.basic_publish(exchange=self.exchange if exchange is None else exchange,
                         routing_key=routing_key or self.routing_key, body=body,
                         properties=props, mandatory=True)

    def purge(self, queue):
        with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
            with self.amqp() as ch:
                ch.queue_purge(queue=queue)

    def get_message(self, queue):
        """(properties, body) of one message taken (acked) from queue, or None."""
        with self.amqp() as ch:
            method, props, body = ch.basic_get(queue=queue, auto_ack=True)
            if method is None:
                return None
            return props, body

    def wait_dead_letter(self, body=None, timeout=10):
        """Waits for a dead letter that the manager of this class republished (original
        routing key ours) and, when body is given, whose body equals it. Other dead letters
        are discarded. Returns (properties, body)."""
        found = []

        def take():
            while True:
                m = self.get_message(DLQ)
                if m is None:
                    return False
                props, got = m
                hdrs = props.headers or {}
                orig = hdrs.get(HDR_ORIG_RK)
                if isinstance(orig, bytes):
                    orig = orig.decode()
                if orig != self.routing_key and not self._x_death_ours(hdrs):
                    continue
                if body is not None and got != body:
                    continue
                found.append(m)
                return True

        self.poll(take, timeout=timeout, msg="a dead letter from our manager in %s" % DLQ)
        return found[0]

    def _x_death_ours(self, hdrs):
        for d in hdrs.get("x-death") or []:
            keys = d.get("routing-keys") or []
            keys = [k.decode() if isinstance(k, bytes) else k for k in keys]
            if self.routing_key in keys:
                return True
        return False

    def capture_queue(self, routing_key=None):
        """Declares a queue bound to our exchange with routing_key (default: the manager's
        directed key) so that a test can read back what the shim cast. Returns its name."""
        name = "it-capture-%s-%s" % (self.rand, secrets.token_hex(3))
        with self.amqp() as ch:
            ch.queue_declare(queue=name, durable=False, auto_delete=False)
            ch.queue_bind(queue=name, exchange=self.exchange,
                          routing_key=routing_key or self.routing_key)
        type(self)._queues.append(name)
        return name

    def captured(self, queue, method=None, timeout=10):
        """The first message in a capture queue (whose method is method, when given), decoded:
        (dict, raw body, properties)."""
        found = []

        def take():
            while True:
                m = self.get_message(queue)
                if m is None:
                    return False
                props, body = m
                msg = (oslo_unwrap(body) if props.content_type == "application/json"
                       else unpack(body))
                if method is None or msg.get("method") == method:
                    found.append((msg, body, props))
                    return True

        self.poll(take, timeout=timeout, msg="a %s cast in capture queue %s"
                  % (method or "", queue))
        return found[0]

    def manager_alive(self):
        proc = self._proc("volume-manager")
        return proc.poll() is None
