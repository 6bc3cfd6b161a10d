"""Integration-test harness for volmgr: one throwaway volmgr deployment per test class.

Every suite derives from StackTestCase. setUpClass builds, against the broker and the
PostgreSQL server of the running stack (scripts/stack.sh start; its env file is named by
VOLMGR_STACK_ENV, default <repo>/.stack/env):

  * a fresh database volmgr_t_<rand> (CREATE DATABASE through VOLMGR_PG_ADMIN_URL), a copy
    of a template that `volctl db-sync` migrated once per run (fresh_schema: db-sync of its
    own),
  * a temporary directory holding the filestore, the configuration file and the logs,
  * a control exchange "openstack_<rand>" and a host "node<rand>" of its own, so that classes
    never see each other's messages or rows,
  * then starts the compute stand-in, bin/volume-manager and bin/api-shim together, and waits
    (polling under a deadline) until the stand-in and the shim answer, the manager's services
    row exists and its queues are declared.

tearDownClass stops those processes by pid, drops the database, deletes the exchange and the
queues, and removes the temporary directory. When a test fails, the tail of the manager and
shim logs is printed.

The helpers live in one module per concern, which StackTestCase composes:

  harness_env   paths, shared names and sizes, the stack's env file, poll_until()
  harness_proc  ProcessMixin: processes by name and pid, logs, volctl, poll() and settle()
  harness_mq    the msgpack/oslo wire helpers and BrokerMixin: publishing, queues, dead
                letters, capture queues
  harness_db    DatabaseMixin: queries, the rows tests read and seed, the backing files
  harness_api   ApiMixin: requests to the shim and to the compute stub
  harness_keystone  (imported by the Keystone suites) the throwaway Keystone, its tokens,
                KeystoneTestCase and OwnKeystoneTestCase
  harness_cli   (imported by the client suites) run_cli(): the cinder and openstack commands,
                forked from a server that imported the client once per run

This module re-exports every name of those modules that tests import from `harness`, and
holds what spans them: the class's set-up and tear-down, its configuration file, and the
helpers that use several parts at once.

Run: /usr/bin/python3 -m unittest discover -s tests/integration -p 'test_*.py' -v
"""

import atexit
import os
import secrets
import shutil
import sys
import tempfile
import unittest
import uuid

import psycopg2

from harness_api import ApiMixin
from harness_db import DatabaseMixin
from harness_env import (  # noqa: F401  (re-exported: tests import these from harness)
    BACKEND, BIN, DEFAULT, DEFAULT_TYPE, DLQ, DLX, EXTEND_NEW_SIZE, EXTEND_RESERVATIONS, GIB,
    HDR_ORIG_EXCHANGE, HDR_ORIG_RK, HDR_REASON, LOG_TAIL_LINES, POLL_INTERVAL, PYTHON, REPO,
    STARTUP_TIMEOUT, STUB, free_port, load_stack_env, poll_until, read_text, stack_env_path,
    tail, with_database)
from harness_mq import (  # noqa: F401  (re-exported)
    JSON, MSGPACK, BrokerMixin, cast_message, completion_cast, context_dict, extend_cast,
    oslo_body, oslo_unwrap, pack, unpack, volume_primitive)
from harness_db import (  # noqa: F401  (re-exported)
    admin_statement, data_extents, file_digest, sparse_digest)
from harness_proc import _LIVE_PROCS, ProcessMixin  # noqa: F401  (re-exported)

# The migrated template database of each PostgreSQL server (by admin URL) in this run, made
# by the first class that needs it; _TEMPLATES_MADE also holds those whose migration failed.
# All are dropped when the run ends.
_TEMPLATES = {}
_TEMPLATES_MADE = []


@atexit.register
def _drop_templates():
    for admin_url, template in _TEMPLATES_MADE:
        try:
            admin_statement(admin_url, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % template)
        except psycopg2.Error as e:
            sys.stderr.write("harness: dropping %s failed: %s\n" % (template, e))


class StackTestCase(ProcessMixin, BrokerMixin, DatabaseMixin, ApiMixin, unittest.TestCase):
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
    publish_timeout = 5
    # Further [api] keys of a class, e.g. {"client_header_timeout": 3}.
    api_options = {}
    # Further [manager] keys of a class (both managers), e.g. {"migration_copy_delay_ms": 50}.
    manager_options = {}
    auth_strategy = "noauth"
    # The [nova] keys of a class, instead of the compute stub's endpoint and token (None).
    nova_options = None
    # Further sections of a class: {"keystone_authtoken": {"auth_url": ...}}.
    extra_sections = {}
    rpc_wire_format = "msgpack"
    log_level = "debug"
    # [oslo_messaging_rabbit] rabbit_quorum_queue: the managers' queues as quorum queues
    # (replicated over a cluster's nodes; make test-ha's)
    rabbit_quorum_queue = False

    # True: a second manager ("volume-manager-2") serves another backend, host2@filestore
    # with a volume directory of its own (filestore_dir2), on the same broker and database
    second_backend = False
    # The second backend's name ([DEFAULT] backend of volume-manager-2): the same as the
    # first's by default; another name lets a volume type's volume_backend_name tell them apart
    backend2 = BACKEND

    # How many bin/volume-manager processes serve the class's backend with the class's
    # configuration file: the first is "volume-manager", the others "volume-manager-peerN"
    # (N from 2); they compete for the same queues, as several daemons of one host do.
    manager_processes = 1

    # [oslo_messaging_notifications] driver: messagingv2 (the relay publishes the outbox to
    # the class's topic, published_notifications reads it) or noop
    notification_driver = "messagingv2"

    # True: setUp empties the shared dead-letter queue, for tests that read dead letters
    dead_letters_purged = False

    # True: the class's database is migrated by `volctl db-sync` of its own rather than
    # copied from the run's migrated template (_create_migrated_database)
    fresh_schema = False

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
        # A topic of the class's own, so that its notifications wait in queues of its own,
        # which published_notifications reads and tear-down deletes.
        cls.notification_topic = "notifications_" + rand
        cls._published = []
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
            # An empty value leaves [nova] endpoint to the file.
            "VOLMGR_COMPUTE_URL": cls.compute_url if cls.nova_options is None else "",
        })

        cls._create_migrated_database()
        cls.connect_database()

        stub_cmd = [PYTHON, STUB, "--port", str(cls.stub_port),
                    "--volume-api", cls.api_root + "/v3",
                    "--admin-token", "admin:admin",
                    "--filestore-dir", cls.filestore_dir]
        if cls.second_backend:
            # The stand-in's swap copies between the two backends' directories.
            cls.filestore_dir2 = os.path.join(cls.tmp, "volumes2")
            stub_cmd += ["--filestore-dir", cls.filestore_dir2]
        if cls.stub_auto_complete:
            stub_cmd.append("--auto-complete")
        # The processes start together and are waited for after: their start-ups overlap.
        cls._start("compute-stub", stub_cmd)
        cls._start("volume-manager", cls._manager_argv())
        for n in range(2, cls.manager_processes + 1):
            cls._start("volume-manager-peer%d" % n, cls._manager_argv())
        if cls.second_backend:
            cls._start_second_backend()
        cls._start("api-shim",
                   [os.path.join(BIN, "api-shim"), "--config-file", cls.config_file])
        cls._queues.extend(cls.service_queues)
        cls._queues.append(cls.notification_queue())
        if cls.journal:
            cls._queues.append(cls.exchange + ".journal")

        cls._wait_until("compute stub answers", cls._stub_ready)
        cls._wait_until("api-shim answers GET /", cls._shim_ready)
        cls._wait_until("manager's services row (heartbeat)", cls._service_row_exists)
        cls._wait_until("manager's queues declared", cls._queues_exist)
        if cls.manager_processes > 1:
            cls._wait_until("every manager process consumes", lambda: all(
                cls.consumer_count(q) >= cls.manager_processes for q in cls.service_queues))
        cls.manager_pid = cls._proc("volume-manager").pid
        if cls.second_backend:
            cls._wait_until("second manager's services row",
                            lambda: cls._service_row_exists(cls.service_host2))
            cls._wait_until("second manager's queues declared",
                            lambda: cls._queues_exist(cls.service_queues2))

    @classmethod
    def _db_sync(cls, db_url):
        """Runs `volctl db-sync` (with the class's configuration) on the database db_url."""
        rc, out = cls._run_volctl("db-sync", env={"VOLMGR_DB_URL": db_url})
        if rc != 0:
            raise RuntimeError("volctl db-sync failed (%d):\n%s" % (rc, out))

    @classmethod
    def _create_migrated_database(cls):
        """Creates the class's database with volmgr's whole schema. By default it is a copy
        of a template that `volctl db-sync` migrated once per run and server (CREATE
        DATABASE ... TEMPLATE copies files, several times faster than running the
        migrations for every class); a class with fresh_schema runs db-sync itself on an
        empty database, so that the migrations keep running as a deployment runs them."""
        if cls.fresh_schema:
            cls._create_database()
            cls._db_sync(cls.db_url)
            return
        template = _TEMPLATES.get(cls.admin_url)
        if template is None:
            template = "volmgr_t_template_" + cls.rand
            cls._admin_statement('CREATE DATABASE "%s"' % template)
            _TEMPLATES_MADE.append((cls.admin_url, template))
            cls._db_sync(with_database(cls.env["VOLMGR_DB_URL"], template))
            _TEMPLATES[cls.admin_url] = template
        cls._create_database(template)

    @classmethod
    def _start_second_backend(cls):
        """Starts volume-manager-2 on host2@filestore with its own configuration file and
        volume directory."""
        cls.host2 = "node2" + cls.rand
        cls.service_host2 = "%s@%s" % (cls.host2, cls.backend2)
        cls.volume_host2 = "%s@%s#%s" % (cls.host2, cls.backend2, cls.backend2)
        cls.service_queues2 = ["cinder-volume." + cls.service_host2,
                               "cinder-volume.%s.%s" % (cls.service_host2, cls.host2)]
        os.makedirs(cls.filestore_dir2)
        cls.config_file2 = os.path.join(cls.tmp, "volmgr2.conf")
        with open(cls.config_file2, "w") as f:
            f.write(cls._config_text(host=cls.host2, filestore_dir=cls.filestore_dir2,
                                     backend=cls.backend2))
        cls._queues.extend(cls.service_queues2)
        cls._start("volume-manager-2", cls._manager_argv(cls.config_file2))

    @classmethod
    def stack_env(cls):
        """The servers this class runs against (a subclass may start its own)."""
        return load_stack_env()

    @classmethod
    def _config_text(cls, host=None, filestore_dir=None, backend=BACKEND):
        """The class's configuration file; host, filestore_dir and backend replace the
        class's own for a second backend."""
        return "\n".join([
            "[DEFAULT]",
            "transport_url = %s" % cls.transport_url,
            "control_exchange = %s" % cls.exchange,
            "host = %s" % (host or cls.host),
            "backend = %s" % backend,
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
            "rabbit_quorum_queue = %s" % ("true" if cls.rabbit_quorum_queue else "false"),
            "rabbit_qos_prefetch_count = 16",
            "heartbeat_timeout_threshold = %d" % cls.heartbeat_timeout_threshold,
            "",
            "[filestore]",
            "filestore_dir = %s" % (filestore_dir or cls.filestore_dir),
            "filestore_compute_feedback = %s" % ("true" if cls.compute_feedback else "false"),
            "",
            "[nova]",
        ] + (["endpoint = %s" % cls.compute_url, "token = stub-token"]
             if cls.nova_options is None else
             ["%s = %s" % kv for kv in sorted(cls.nova_options.items())]) + [
            "timeout = 5",
            "",
            "[manager]",
            "extend_feedback_timeout = %d" % cls.extend_feedback_timeout,
            "periodic_interval = 1",
            "report_interval = 1",
            "drain_timeout = 5",
            "max_message_bytes = %d" % cls.max_message_bytes,
            "processed_message_retention = %d" % cls.processed_message_retention,
        ] + ["%s = %s" % kv for kv in sorted(cls.manager_options.items())] + [
            "",
            "[journal]",
            "enabled = %s" % ("true" if cls.journal else "false"),
            "max_age = 1h",
            "max_bytes = 50000000",
            "",
            "[oslo_messaging_notifications]",
            "driver = %s" % cls.notification_driver,
            "topics = %s" % cls.notification_topic,
            "",
            "[api]",
            "listen = 127.0.0.1",
            "port = %d" % cls.shim_port,
            "auth_strategy = %s" % cls.auth_strategy,
            "admin_users = admin",
            "publish_timeout = %d" % cls.publish_timeout,
            "rpc_response_timeout = %d" % cls.rpc_response_timeout,
            "rpc_wire_format = %s" % cls.rpc_wire_format,
            "workers = 8",
        ] + ["%s = %s" % kv for kv in sorted(cls.api_options.items())] + [""] + [
            line for section, keys in sorted(cls.extra_sections.items())
            for line in ["[%s]" % section] + ["%s = %s" % kv for kv in sorted(keys.items())]
            + [""]])

    @classmethod
    def _destroy(cls):
        cls._stop_procs()
        cls._drop_database()
        cls._delete_broker_objects()
        if cls.tmp and os.environ.get("VOLMGR_KEEP_TEST_DIRS") != "1":
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- per-test hooks ----

    def setUp(self):
        super().setUp()
        # Every test works in a project of its own, so that quota figures never mix.
        self.PROJECT = "proj" + secrets.token_hex(4)
        self.addCleanup(self._report_on_failure)
        self.stub_reset()
        if self.dead_letters_purged:
            self.purge(DLQ)

    # ---- helpers that span the parts ----

    def restart_manager(self, name="volume-manager"):
        """Starts the class's manager (or volume-manager-2) again unless it runs (a test that
        stops it registers this as a cleanup, so that the tests after it find the manager as
        set-up left it), and waits until it consumes every service queue."""
        second = name == "volume-manager-2"
        try:
            running = self._proc(name).poll() is None
        except KeyError:   # stopped and forgotten
            running = False
        if not running:
            pid = self._start(name, self._manager_argv(
                self.config_file2 if second else None)).pid
            if not second:
                type(self).manager_pid = pid
        queues = self.service_queues2 if second else self.service_queues
        self.poll(lambda: all(self.consumer_count(q) for q in queues),
                  timeout=STARTUP_TIMEOUT, msg="%s consumes its queues" % name)

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
