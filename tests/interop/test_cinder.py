"""volmgr's manager in the place of cinder-volume, driven by Cinder's own code (issues 6, 14).

The database is created by Cinder 21's own migrations (cinder-manage db sync); volctl db-sync
then adds volmgr's tables and nothing else; two managers (two backends, node<r>@filestore and
node2<r>@filestore, each with its own volume directory) run on it with the oslo-compatible
topology. Cinder's RPC client (cinder.volume.rpcapi.VolumeAPI, its serializer and
RequestContext, oslo.messaging's rabbit driver, JSON on the wire) casts and calls; the
results are read back through Cinder's own objects and quota engine. The rows a migration's
completion leaves are compared with what Cinder's own volume manager code computes from the
same rows (see cinders_completion).

Each test works in a project of its own on volumes it creates, so that the tests run in any
order.
"""

import contextlib
import functools
import hashlib
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import types
import unittest
import uuid
from unittest import mock

import psycopg2
import sqlalchemy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from harness import (BrokerMixin, load_stack_env, poll_until, read_text, tail,  # noqa: E402
                     with_database)

import oslo_messaging  # noqa: E402
from oslo_config import cfg  # noqa: E402

from cinder import context as cinder_context  # noqa: E402
from cinder import exception, objects, quota, quota_utils, rpc  # noqa: E402
from cinder.db.sqlalchemy import api as cinder_db_api  # noqa: E402

# Cinder's volume manager and API modules name the object classes at import time.
objects.register_all()
from cinder.volume import api as volume_api  # noqa: E402
from cinder.volume import driver as volume_driver  # noqa: E402
from cinder.volume import manager as volume_manager  # noqa: E402
from cinder.volume import rpcapi as volume_rpcapi  # noqa: E402
from cinder.volume import volume_types  # noqa: E402

PY = "/usr/bin/python3"
BIN = os.path.join(REPO, "bin")
PG_DUMP = sorted(p for p in (os.path.join("/usr/lib/postgresql", v, "bin", "pg_dump")
                             for v in os.listdir("/usr/lib/postgresql")) if os.path.exists(p))[-1]
BACKEND = "filestore"
USER = "user-interop"
TIMEOUT = 20
# A migration creates a volume on the other backend, copies 1 GiB (sparse) and completes.
MIGRATION_TIMEOUT = 60
CONNECTOR = {"host": "compute1", "initiator": "iqn.1993-08.org.debian:01:abc"}
# AMQP's 406 (PRECONDITION_FAILED) as a number of its own, not the milliseconds of a log
# line's time ("12:00:41.406") or a part of a longer number.
PRECONDITION_CODE = re.compile(r"(?<![.\d])406(?!\d)")

CONF = cfg.CONF
QUOTAS = quota.QUOTAS


def poll(fn, what, timeout=TIMEOUT):
    """fn() until truthy (returned) or the deadline (AssertionError naming what)."""
    ok, value = poll_until(fn, timeout)
    if not ok:
        raise AssertionError("%s: not true after %d s (last %r)" % (what, timeout, value))
    return value


def pool_host(host):
    """A volume's host as Cinder's scheduler writes it: <host>@<backend>#<pool>."""
    return "%s@%s#%s" % (host, BACKEND, BACKEND)


def backend(host):
    """The destination the scheduler hands to Cinder's rpcapi (a BackendState, of which the
    rpcapi reads these three attributes) for the manager on host."""
    return types.SimpleNamespace(host=pool_host(host), cluster_name=None, capabilities={})


def cinder_manage(config, *args):
    """Cinder's own cinder-manage (the Debian package ships the module, not the script)."""
    code = ("import sys; from cinder.cmd.manage import main; "
            "sys.argv = ['cinder-manage', '--config-file', %r] + %r; main()"
            % (config, list(args)))
    return subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=120)


def create_database(env, dbname):
    """A new empty database dbname on the run's PostgreSQL; returns its URL."""
    admin = psycopg2.connect(env["VOLMGR_PG_ADMIN_URL"])
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE %s" % dbname)
    admin.close()
    return with_database(env["VOLMGR_DB_URL"], dbname)


def dump_cinder(url):
    """Schema and data of the database without volmgr's own objects, for comparison."""
    out = subprocess.run([PG_DUMP, "--no-owner", "--exclude-table=volmgr_*", url],
                         capture_output=True, text=True, check=True).stdout
    keep = []
    for stmt in out.split(";\n"):
        stmt = "\n".join(l for l in stmt.splitlines()
                         if l and not l.startswith("--") and not l.startswith("\\"))
        if stmt and "volmgr_" not in stmt:
            keep.append(stmt)
    return sorted(keep)


class ManagerProcess:
    """bin/volume-manager for host@filestore on the Cinder database (oslo-compatible unless
    told otherwise), its files in tmp/<volumes>: a backend of its own needs a directory of
    its own, or a migration between two would copy a file onto itself."""

    def __init__(self, tmp, name, host, exchange, db_url, transport_url, compatible=True,
                 volumes="volumes"):
        self.host = host
        self.log = os.path.join(tmp, name + ".log")
        self.conf = os.path.join(tmp, name + ".conf")
        volumes = os.path.join(tmp, volumes)
        os.makedirs(volumes, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "[DEFAULT]", "transport_url = %s" % transport_url,
                "control_exchange = %s" % exchange, "host = %s" % host,
                "backend = %s" % BACKEND, "log_level = debug",
                "oslo_compatible_topology = %s" % ("true" if compatible else "false"),
                "[database]", "connection = %s" % db_url,
                "[oslo_messaging_rabbit]", "amqp_durable_queues = false",
                "rabbit_quorum_queue = false",
                "[filestore]", "filestore_dir = %s" % volumes,
                "filestore_compute_feedback = false",
                "[manager]", "report_interval = 1", "periodic_interval = 1",
                "[journal]", "enabled = false", ""]))
        self.filestore = volumes
        env = dict(os.environ)
        for key in ("VOLMGR_TRANSPORT_URL", "VOLMGR_DB_URL", "VOLMGR_COMPUTE_URL"):
            env.pop(key, None)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen([os.path.join(BIN, "volume-manager"), "--config-file",
                                          self.conf], stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)

    def text(self):
        return read_text(self.log)

    def wait_consuming(self):
        poll(lambda: self.proc.poll() is not None or "consuming" in self.text(),
             "manager %s consuming" % self.host)
        if self.proc.poll() is not None:
            raise AssertionError("manager exited %s:\n%s" % (self.proc.returncode,
                                                            tail(self.log)))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class OsloCinderTest(BrokerMixin, unittest.TestCase):
    """BrokerMixin gives consumer_count() on the class's transport_url."""

    @classmethod
    def setUpClass(cls):
        # unittest runs no tearDownClass after a failed setUpClass: stop what the set-up
        # started (managers, the engine patch, files) before the failure goes up.
        try:
            cls.deploy()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def deploy(cls):
        env = load_stack_env()
        cls.rand = secrets.token_hex(4)
        cls.tmp = tempfile.mkdtemp(prefix="volmgr-interop-")
        cls.exchange = "interop_" + cls.rand
        cls.host = "node" + cls.rand
        cls.transport_url = env["VOLMGR_TRANSPORT_URL"]
        cls.managers = []
        cls.db_url = create_database(env, "cinder_" + cls.rand)
        cls.cinder_conf = os.path.join(cls.tmp, "cinder.conf")
        with open(cls.cinder_conf, "w") as f:
            f.write("\n".join([
                # oslo.messaging picks its driver by scheme: rabbit://, not amqp:// (AMQP 1.0)
                "[DEFAULT]", "transport_url = %s" % cls.transport_url.replace("amqp://",
                                                                              "rabbit://", 1),
                "control_exchange = %s" % cls.exchange, "rpc_response_timeout = %d" % TIMEOUT,
                "[database]",
                "connection = %s" % cls.db_url.replace("postgresql://", "postgresql+psycopg2://"),
                "[oslo_messaging_rabbit]", "amqp_durable_queues = false",
                "rabbit_quorum_queue = false", ""]))

        # 1. Cinder's own migrations, then volmgr's db-sync on top.
        sync = cinder_manage(cls.cinder_conf, "db", "sync")
        if sync.returncode != 0:
            raise RuntimeError("cinder-manage db sync failed:\n%s%s" % (sync.stdout,
                                                                        sync.stderr))
        cls.before_sync = dump_cinder(cls.db_url)
        vs = subprocess.run([os.path.join(BIN, "volctl"), "db-sync"], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, VOLMGR_DB_URL=cls.db_url))
        if vs.returncode != 0:
            raise RuntimeError("volctl db-sync failed:\n%s%s" % (vs.stdout, vs.stderr))
        cls.after_sync = dump_cinder(cls.db_url)

        # 2. Two managers (two backends) on it; Cinder's RPC client in this process.
        cls.manager = cls.start_manager("manager", cls.host)
        cls.host2 = "node2" + cls.rand
        cls.manager2 = cls.start_manager("manager2", cls.host2, volumes="volumes2")
        CONF([], project="cinder", default_config_files=[cls.cinder_conf])
        # Cinder makes its database engine once per process: every class (another module's
        # subclass has a database of its own) points it at the class's database.
        cls.engine = sqlalchemy.create_engine(CONF.database.connection)
        cls.reset_engine = cinder_db_api.main_context_manager.patch_engine(cls.engine)
        logging.basicConfig(level=logging.WARNING)
        # pika warns of each passive declare of a queue that does not exist yet, which is
        # how consumer_count() learns that it has no consumers.
        logging.getLogger("pika").setLevel(logging.ERROR)
        rpc.init(CONF)
        admin_ctx = cinder_context.RequestContext(USER, "proj-interop", is_admin=True)
        poll(lambda: len(objects.ServiceList.get_all_by_topic(admin_ctx, "cinder-volume")) == 2,
             "the two managers' services rows")
        rpc.LAST_RPC_VERSIONS.clear()
        rpc.LAST_OBJ_VERSIONS.clear()
        cls.api = volume_rpcapi.VolumeAPI()
        cls.rpc_version = rpc.LAST_RPC_VERSIONS.get("cinder-volume")
        cls.volume_type = objects.VolumeType.get_by_name_or_id(admin_ctx, "__DEFAULT__")
        # Two more types for retype, made as Cinder's types API makes them; their extra specs
        # differ, so that Cinder's volume_types_diff does not find them equal.
        cls.gold, cls.silver = (
            objects.VolumeType.get_by_id(admin_ctx, volume_types.create(
                admin_ctx, "%s-%s" % (tier, cls.rand), {"interop:tier": tier})["id"])
            for tier in ("gold", "silver"))

    @classmethod
    def start_manager(cls, name, host, volumes="volumes"):
        m = ManagerProcess(cls.tmp, name, host, cls.exchange, cls.db_url, cls.transport_url,
                           volumes=volumes)
        cls.managers.append(m)
        m.wait_consuming()
        return m

    @classmethod
    def tearDownClass(cls):
        for m in getattr(cls, "managers", []):
            m.stop()
        with contextlib.suppress(Exception):
            rpc.cleanup()
        if getattr(cls, "reset_engine", None) is not None:
            cls.reset_engine()
            cls.engine.dispose()
        if getattr(cls, "tmp", None) is not None:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        super().setUp()
        # A project of its own, so that quota figures never mix between tests.
        self.project = "proj-interop-" + secrets.token_hex(4)
        self.ctx = cinder_context.RequestContext(USER, self.project, is_admin=True)

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            for m in self.managers:
                print("---- %s ----\n%s" % (m.log, tail(m.log)))

    # ---- helpers ----

    def volume(self, vid):
        return objects.Volume.get_by_id(self.ctx, vid)

    def status_is(self, vid, status):
        return poll(lambda: self.volume(vid).status == status,
                    "volume %s %s (now %s)" % (vid, status, self.volume(vid).status))

    def usage(self, resource):
        q = QUOTAS.get_project_quotas(self.ctx, self.project, usages=True)[resource]
        return q["in_use"], q["reserved"]

    def create(self, volume_type=None, **values):
        """A volume of volume_type (default __DEFAULT__) as Cinder's API and scheduler leave
        it on manager 1 (the quota reserved for it and its type, as Cinder's create flow
        reserves them, and committed; values are more of its fields), then the create_volume
        cast; returns its id once the manager made it available."""
        vtype = volume_type or self.volume_type
        reserve_opts = {"volumes": 1, "gigabytes": 1}
        QUOTAS.add_volume_type_opts(self.ctx, reserve_opts, vtype.id)
        reservations = QUOTAS.reserve(self.ctx, project_id=self.project, **reserve_opts)
        vol = objects.Volume(context=self.ctx, size=1, user_id=USER, project_id=self.project,
                             host=pool_host(self.host), status="creating",
                             attach_status="detached", availability_zone="nova",
                             volume_type_id=vtype.id,
                             display_name="interop-" + self.id().rsplit(".", 1)[-1][:40],
                             **values)
        vol.create()
        QUOTAS.commit(self.ctx, reservations, project_id=self.project)
        self.api.create_volume(self.ctx, vol, {}, {}, allow_reschedule=True)
        self.status_is(vol.id, "available")
        return vol.id

    def attach(self, vid):
        """initialize_connection and attach_volume of vid through Cinder's RPC client, as
        Cinder's API drives them. Returns (connection info, attachment, instance)."""
        vol = self.volume(vid)
        info = self.api.initialize_connection(self.ctx, vol, CONNECTOR)
        self.assertTrue(vol.conditional_update({"status": "attaching"},
                                               {"status": "available"}))
        instance = str(uuid.uuid4())
        attachment = self.api.attach_volume(self.ctx, self.volume(vid), instance, None,
                                            "/dev/vdb", "rw")
        return info, attachment, instance

    # ---- the database ----

    def test_db_sync_on_cinders_database_adds_only_volmgr_tables(self):
        self.assertGreater(len(self.before_sync), 30)
        added = [s for s in self.after_sync if s not in self.before_sync]
        removed = [s for s in self.before_sync if s not in self.after_sync]
        self.assertEqual((added, removed), ([], []))

    def test_service_row_as_cinder_volume_writes_it(self):
        svc = objects.Service.get_by_args(self.ctx, "%s@%s" % (self.host, BACKEND),
                                          "cinder-volume")
        self.assertEqual((svc.topic, svc.rpc_current_version, svc.object_current_version),
                         ("cinder-volume", "3.20", "1.39"))
        self.assertEqual(svc.availability_zone, "nova")
        self.assertTrue(svc.uuid)
        count = svc.report_count
        poll(lambda: objects.Service.get_by_id(self.ctx, svc.id).report_count > count,
             "the heartbeat counts")
        self.assertTrue(objects.Service.get_by_id(self.ctx, svc.id).is_up)
        # The version cap Cinder's client took from that row when set-up built it.
        self.assertEqual(self.rpc_version, "3.20")

    # ---- casts ----

    def test_create_volume(self):
        vid = self.create()
        vol = self.volume(vid)
        self.assertEqual((vol.size, vol.attach_status), (1, "detached"))
        self.assertIsNotNone(vol.launched_at)
        self.assertEqual(os.path.getsize(os.path.join(self.manager.filestore,
                                                      "volume-%s" % vid)), 1 << 30)
        self.assertEqual(self.usage("volumes"), (1, 0))
        self.assertEqual(self.usage("gigabytes"), (1, 0))

    def test_extend_volume_with_cinders_reservations(self):
        vid = self.create()
        vol = self.volume(vid)
        reserve_opts = {"gigabytes": 2}
        QUOTAS.add_volume_type_opts(self.ctx, reserve_opts, vol.volume_type_id)
        reservations = QUOTAS.reserve(self.ctx, project_id=self.project, **reserve_opts)
        self.assertEqual(self.usage("gigabytes"), (1, 2))
        self.assertTrue(vol.conditional_update({"status": "extending",
                                                "previous_status": "available"},
                                               {"status": "available"}))
        self.api.extend_volume(self.ctx, vol, 3, reservations)
        self.status_is(vid, "available")
        vol = self.volume(vid)
        self.assertEqual(vol.size, 3)
        self.assertEqual(self.usage("gigabytes"), (3, 0))
        self.assertEqual(os.path.getsize(os.path.join(self.manager.filestore,
                                                      "volume-%s" % vid)), 3 << 30)

    def test_delete_volume(self):
        vid = self.create()
        vol = self.volume(vid)
        self.assertTrue(vol.conditional_update({"status": "deleting"}, {"status": "available"}))
        self.api.delete_volume(self.ctx, self.volume(vid), unmanage_only=False, cascade=False)
        poll(lambda: self._gone(vid), "volume %s deleted" % vid)
        self.assertFalse(os.path.exists(os.path.join(self.manager.filestore,
                                                     "volume-%s" % vid)))
        self.assertEqual(self.usage("volumes"), (0, 0))
        self.assertEqual(self.usage("gigabytes"), (0, 0))

    def _gone(self, vid):
        try:
            self.volume(vid)
            return False
        except exception.VolumeNotFound:
            return True

    # ---- calls ----

    def test_initialize_connection_and_attach(self):
        vid = self.create()
        info, attachment, instance = self.attach(vid)
        self.assertEqual(info["driver_volume_type"], "local")
        self.assertIsInstance(attachment, objects.VolumeAttachment)
        vol = self.volume(vid)
        self.assertEqual((vol.status, vol.attach_status), ("in-use", "attached"))
        self.assertEqual([a.instance_uuid for a in vol.volume_attachment], [instance])
        self.assertEqual(vol.volume_attachment[0].id, attachment.id)

    def test_failing_call_raises_cinders_exception(self):
        vid = self.create()
        self.attach(vid)
        with self.assertRaises(exception.InvalidVolume) as cm:
            self.api.attach_volume(self.ctx, self.volume(vid), str(uuid.uuid4()), None,
                                   "/dev/vdc", "rw")
        self.assertIn("already attached", str(cm.exception))
        self.assertEqual(len(self.volume(vid).volume_attachment), 1)

    def test_terminate_connection_and_detach(self):
        vid = self.create()
        _, attachment, _ = self.attach(vid)
        vol = self.volume(vid)
        self.assertTrue(vol.conditional_update({"status": "detaching"}, {"status": "in-use"}))
        self.api.terminate_connection(self.ctx, self.volume(vid), CONNECTOR, force=False)
        self.api.detach_volume(self.ctx, self.volume(vid), attachment.id)
        vol = self.volume(vid)
        self.assertEqual((vol.status, vol.attach_status), ("available", "detached"))
        self.assertEqual(len(vol.volume_attachment), 0)

    def reserve(self, vid):
        """An attachment as Cinder's attachment_create leaves it without a connector
        (_attachment_reserve, then the mode 'null')."""
        vol = self.volume(vid)
        self.assertTrue(vol.conditional_update({"status": "reserved"},
                                               {"status": "available"}))
        attachment = objects.VolumeAttachment(context=self.ctx, volume_id=vid,
                                              attach_status="reserved",
                                              instance_uuid=str(uuid.uuid4()))
        attachment.create()
        attachment.attach_mode = "null"
        attachment.save()
        return attachment

    def test_attachment_update_complete_and_delete(self):
        """The attachments API's calls, with what Cinder's API does around them."""
        vid = self.create()
        attachment = self.reserve(vid)
        connector = dict(CONNECTOR, mountpoint="/dev/vdb")
        info = self.api.attachment_update(self.ctx, self.volume(vid), connector, attachment.id)
        self.assertEqual((info["driver_volume_type"], info["attachment_id"], info["volume_id"],
                          info["access_mode"]), ("local", attachment.id, vid, "rw"))
        self.assertEqual(info["device_path"], os.path.join(self.manager.filestore,
                                                           "volume-%s" % vid))
        self.assertNotIn("data", info, "Cinder's flat connection info")
        att = objects.VolumeAttachment.get_by_id(self.ctx, attachment.id)
        self.assertEqual((att.attach_status, att.attach_mode, att.attached_host, att.mountpoint,
                          att.instance_uuid), ("attaching", "rw", "compute1", "/dev/vdb",
                                               attachment.instance_uuid))
        self.assertEqual(att.connector, connector)
        self.assertEqual(att.connection_info, info)
        self.assertIsNotNone(att.attach_time)
        vol = self.volume(vid)
        self.assertEqual((vol.status, vol.attach_status), ("attaching", "attaching"))
        # os-complete
        att.update({"attach_status": "attached"})
        att.save()
        vol.update({"status": "in-use", "attach_status": "attached"})
        vol.save()
        self.assertIsNone(self.api.attachment_delete(self.ctx, attachment.id,
                                                     self.volume(vid)))
        with self.assertRaises(exception.VolumeAttachmentNotFound):
            objects.VolumeAttachment.get_by_id(self.ctx, attachment.id)
        vol = self.volume(vid)
        self.assertEqual((vol.status, vol.attach_status), ("available", "detached"))
        # Cinder's API finishes the detach again after the call: nothing left to do.
        vol.finish_detach(attachment.id)
        self.assertEqual(self.volume(vid).status, "available")
        with self.assertRaises(exception.VolumeAttachmentNotFound):
            self.api.attachment_delete(self.ctx, attachment.id, self.volume(vid))

    def test_attachment_update_of_unknown_attachment_raises(self):
        vid = self.create()
        with self.assertRaises(exception.VolumeAttachmentNotFound):
            self.api.attachment_update(self.ctx, self.volume(vid), CONNECTOR,
                                       str(uuid.uuid4()))
        self.assertEqual(self.volume(vid).status, "available")

    # ---- versions ----

    def test_newer_version_is_refused(self):
        """A client without a version cap sends 3.99: oslo's UnsupportedVersion comes back
        (as a RemoteError: its module is not among Cinder's allowed exception modules)."""
        vid = self.create()
        target = oslo_messaging.Target(topic="cinder-volume.%s@%s" % (self.host, BACKEND),
                                       server=self.host, version="3.99")
        client = oslo_messaging.RPCClient(rpc.TRANSPORT, target, serializer=rpc.RequestContextSerializer(
            objects.base.CinderObjectSerializer()), timeout=TIMEOUT)
        with self.assertRaises(oslo_messaging.RemoteError) as cm:
            client.call(self.ctx, "initialize_connection", volume=self.volume(vid),
                        connector={"host": "h"})
        self.assertEqual(cm.exception.exc_type, "UnsupportedVersion")
        self.assertIn("3.99", cm.exception.value)
        self.assertEqual(self.volume(vid).status, "available")

    # ---- topology ----

    @contextlib.contextmanager
    def oslo_servers(self, host):
        """Two oslo RPC servers as cinder.service starts them for cinder-volume host@backend
        (with an endpoint that serves nothing), running for the block. Yields the declare
        errors oslo.messaging logged until the broker showed both servers consuming each of
        their queues: by then every declaration they make is done."""
        class Endpoint:
            target = oslo_messaging.Target(version="3.20")

        records = []

        class Catch(logging.Handler):
            def emit(self, record):
                text = record.getMessage()
                if ("PRECONDITION_FAILED" in text or PRECONDITION_CODE.search(text)
                        or "inequivalent" in text):
                    records.append(text)

        topic_host = "cinder-volume.%s@%s" % (host, BACKEND)
        # The queues that no other host's servers consume, with the consumers the two add.
        added = {topic_host: 2, "%s.%s" % (topic_host, host): 1}
        before = {q: self.consumer_count(q) or 0 for q in added}
        servers = []
        handler = Catch(level=logging.DEBUG)
        log = logging.getLogger("oslo.messaging")
        log.addHandler(handler)
        try:
            try:
                for topic, server in (("cinder-volume", "%s@%s" % (host, BACKEND)),
                                      (topic_host, host)):
                    s = oslo_messaging.get_rpc_server(
                        rpc.TRANSPORT, oslo_messaging.Target(topic=topic, server=server),
                        [Endpoint()], executor="threading")
                    s.start()
                    servers.append(s)
                poll(lambda: all((self.consumer_count(q) or 0) >= before[q] + n
                                 for q, n in added.items()),
                     "oslo's servers for %s consuming their queues" % host)
            finally:
                log.removeHandler(handler)
            yield records
        finally:
            for s in servers:
                s.stop()
                s.wait()

    def test_oslo_server_then_volmgr(self):
        host = "ord1" + self.rand
        with self.oslo_servers(host) as errors:
            self.assertEqual(errors, [])
            m = self.start_manager("after-oslo", host)
            self.assertNotIn("PRECONDITION_FAILED", m.text())
            self.assertNotRegex(m.text().split("consuming")[0], PRECONDITION_CODE)

    def test_volmgr_then_oslo_server(self):
        host = "ord2" + self.rand
        m = self.start_manager("before-oslo", host)
        with self.oslo_servers(host) as errors:
            self.assertEqual(errors, [])
            self.assertIsNone(m.proc.poll(), "the manager still runs")
            self.assertNotIn("PRECONDITION_FAILED", m.text())

    def test_without_the_switch_the_declarations_conflict(self):
        """The control: volmgr's own topology adds a dead-letter exchange to the service
        queues, which the broker refuses (406) against the queues oslo declared, so the
        checks above would see a conflict."""
        host = "ord3" + self.rand
        with self.oslo_servers(host) as errors:
            self.assertEqual(errors, [])
            m = ManagerProcess(self.tmp, "own-topology", host, self.exchange, self.db_url,
                               self.transport_url, compatible=False)
            self.managers.append(m)
            poll(lambda: "PRECONDITION_FAILED" in m.text(), "the broker refuses volmgr's own "
                 "queue arguments")
            self.assertNotIn("consuming", m.text())

    # ---- migration and retype (issue 14) ----

    def path(self, manager, name_id):
        return os.path.join(manager.filestore, "volume-%s" % name_id)

    def scribble(self, path):
        """Writes 4 KiB of random bytes at the start, the middle and the end of the volume's
        sparse file, so that a copy that drops or shifts data shows; returns the file's
        sha256."""
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            for offset in (0, size // 2, size - 4096):
                f.seek(offset)
                f.write(secrets.token_bytes(4096))
        return self.checksum(path)

    @staticmethod
    def checksum(path):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(functools.partial(f.read, 1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def deleted_volume(self, vid):
        """The row of vid read back through Cinder's objects whether deleted or not."""
        return objects.Volume.get_by_id(self.ctx.elevated(read_deleted="yes"), vid)

    def leftover_of(self, vid):
        """The id of the row a finished migration of vid left behind (finish_volume_migration
        writes "migration src for <id>" into its description), whether deleted yet or not."""
        rows = objects.VolumeList.get_all(
            self.ctx.elevated(read_deleted="yes"),
            filters={"display_description": "migration src for " + vid})
        return rows[0].id if len(rows) == 1 else None

    def migration_target(self, src_id, host, new_type_id=None):
        """The destination row of a migration of src_id to host as Cinder's volume manager
        builds it (_migrate_volume_generic: the source's fields less the ones it skips,
        migration_status "target:<src id>", no quota), then the create_volume cast to host;
        returns its id once that manager made it available."""
        volume = self.volume(src_id)
        skip = ({"host", "cluster_name", "availability_zone", "snapshot_id", "source_volid"} |
                volume_manager.VolumeManager._VOLUME_CLONE_SKIP_PROPERTIES)
        values = {k: volume[k] for k in set(volume.keys()) - skip}
        if new_type_id:
            values["volume_type_id"] = new_type_id
        service = objects.Service.get_by_args(self.ctx, "%s@%s" % (host, BACKEND),
                                              "cinder-volume")
        new_volume = objects.Volume(context=self.ctx, host=pool_host(host),
                                    availability_zone=service.availability_zone,
                                    cluster_name=None, status="creating",
                                    attach_status="detached",
                                    migration_status="target:%s" % src_id, use_quota=False,
                                    **values)
        new_volume.create()
        self.api.create_volume(self.ctx, new_volume, None, None, allow_reschedule=False)
        self.status_is(new_volume.id, "available")
        return new_volume.id

    def migrating(self, src_id):
        """The source as Cinder leaves it for the copy: its API's os-migrate_volume sets
        previous_status to the status (and migration_status "starting"), its manager's
        migrate_volume sets migration_status "migrating"."""
        volume = self.volume(src_id)
        self.assertTrue(volume.conditional_update(
            {"migration_status": "migrating", "previous_status": objects.Volume.model.status},
            {"status": ("available", "in-use"),
             "migration_status": volume_api.API.AVAILABLE_MIGRATION_STATUS}))

    # Cinder's volume manager as the expected rows' oracle: its methods run on a stand-in
    # for the manager whose driver is initialized and has no update_migrated_volume (Cinder's
    # base driver's, which raises NotImplementedError), hence its default model update of
    # _name_id and provider_location.
    CINDER_MANAGER = types.SimpleNamespace(driver=types.SimpleNamespace(
        initialized=True, supported=True,
        update_migrated_volume=functools.partial(volume_driver.BaseVD.update_migrated_volume,
                                                 None)))

    @staticmethod
    @contextlib.contextmanager
    def nothing_saved():
        """For the block, Cinder's objects save and refresh nothing, so that Cinder's code
        computes on objects in memory while the database volmgr works on is only read."""
        with mock.patch.object(objects.Volume, "save", lambda obj: None), \
                mock.patch.object(objects.Volume, "refresh", lambda obj: None), \
                mock.patch.object(objects.VolumeAttachment, "save", lambda obj: None):
            yield

    def cinders_completion(self, src_id, dst_id, error):
        """What Cinder's own volume manager makes of migrate_volume_completion(src, dst,
        error) with the rows as they are now, computed without touching them: Cinder's
        VolumeManager.migrate_volume_completion runs here on objects loaded now, with
        nothing saved and its two messages played in memory (update_migrated_volume is
        Cinder's own manager method, delete_volume is recorded).
        Returns (the id it returns, the source object, the objects delete_volume named)."""
        volume, new_volume = self.volume(src_id), self.volume(dst_id)
        manager = self.CINDER_MANAGER
        deleted = []

        class RPCAPI:
            def update_migrated_volume(self, ctxt, vol, new_vol, status):
                volume_manager.VolumeManager.update_migrated_volume(manager, ctxt, vol, new_vol,
                                                                    status)

            def delete_volume(self, ctxt, vol, unmanage_only=False, cascade=False):
                deleted.append(vol)

        # Any other message (attach_volume, for an attached source) is an AttributeError.
        with mock.patch.object(volume_manager, "volume_rpcapi",
                               types.SimpleNamespace(VolumeAPI=RPCAPI)), self.nothing_saved():
            returned = volume_manager.VolumeManager.migrate_volume_completion(
                manager, self.ctx, volume, new_volume, error=error)
        return returned, volume, deleted

    @staticmethod
    def destroyed(volume):
        """volume as Cinder's volume.destroy() leaves it (its database API's volume_destroy:
        the row's status, deleted and migration_status, and the dependent rows deleted)."""
        volume.update({"status": "deleted", "deleted": True, "migration_status": None})
        volume.metadata, volume.admin_metadata, volume.volume_attachment = (
            {}, {}, objects.VolumeAttachmentList(objects=[]))
        return volume

    # Timestamps that take the clock of the write itself, which neither side can predict.
    # created_at, launched_at and scheduled_at are compared: the swap moves them.
    MOMENTS = {"updated_at", "deleted_at"}
    # volume_type follows volume_type_id (Cinder's swap skips the object and sets the id; a
    # read loads the object of the id), which is compared.
    FOLLOWERS = {"volume_type"}

    def assert_rows_equal(self, actual, expected, ignore=()):
        """Every field of Volume set on expected, compared with actual (both Cinder's
        objects); attachments by id."""
        def value(vol, name):
            v = getattr(vol, name)
            return sorted(a.id for a in v) if name == "volume_attachment" else v

        skip = self.MOMENTS | self.FOLLOWERS | set(ignore)
        diff = {name: (value(expected, name), value(actual, name))
                for name in sorted(objects.Volume.fields)
                if name not in skip and expected.obj_attr_is_set(name) and
                value(expected, name) != value(actual, name)}
        self.assertEqual(diff, {}, "field: (Cinder's, volmgr's) of volume %s" % expected.id)

    def test_migrate_volume_completion_matches_cinders_finish_volume_migration(self):
        src = self.create(metadata={"purpose": "interop"})
        dst = self.migration_target(src, self.host2)
        self.migrating(src)
        returned, expected, deleted = self.cinders_completion(src, dst, error=False)
        self.assertEqual((returned, [v.id for v in deleted]), (src, [dst]))

        self.assertEqual(self.api.migrate_volume_completion(self.ctx, self.volume(src),
                                                            self.volume(dst), error=False), src)
        # The leftover goes by the delete_volume cast to its new host (the source's).
        poll(lambda: self._gone(dst), "the leftover %s deleted" % dst)
        volume = self.volume(src)
        self.assert_rows_equal(volume, expected)
        # volmgr's delete stamps terminated_at, as Cinder's API does before its own delete
        # cast; Cinder's manager, deleting a leftover it casts itself, leaves it as swapped.
        self.assert_rows_equal(self.deleted_volume(dst), self.destroyed(deleted[0]),
                               ignore={"terminated_at"})
        self.assertEqual((volume.status, volume.migration_status, volume.host,
                          volume.name_id), ("available", "success", pool_host(self.host2), dst))
        self.assertEqual(os.path.getsize(self.path(self.manager2, volume.name_id)), 1 << 30)
        poll(lambda: not os.path.exists(self.path(self.manager, src)),
             "the leftover's file on manager 1 removed")
        self.assertEqual(self.usage("volumes"), (1, 0))
        self.assertEqual(self.usage("gigabytes"), (1, 0))

    def test_update_migrated_volume_call_matches_cinders(self):
        """The call a source manager (a real cinder-volume's too) makes to the destination
        host before the swap, on the rows as Cinder's completion leaves them by then."""
        src = self.create()
        dst = self.migration_target(src, self.host2)
        self.migrating(src)
        volume = self.volume(src)
        volume.migration_status = "completing"
        volume.save()
        expected = {v: self.volume(v) for v in (src, dst)}
        with self.nothing_saved():
            volume_manager.VolumeManager.update_migrated_volume(
                self.CINDER_MANAGER, self.ctx, expected[src], expected[dst], "available")

        self.assertIsNone(self.api.update_migrated_volume(self.ctx, self.volume(src),
                                                          self.volume(dst), "available"))
        for vid in (src, dst):
            self.assert_rows_equal(self.volume(vid), expected[vid])
        self.assertEqual((self.volume(src).name_id, self.volume(dst).name_id), (dst, dst))

    def test_migrate_volume_completion_with_error(self):
        src = self.create()
        dst = self.migration_target(src, self.host2)
        self.migrating(src)
        returned, expected, deleted = self.cinders_completion(src, dst, error=True)
        self.assertEqual((returned, [v.id for v in deleted]), (src, [dst]))

        self.assertEqual(self.api.migrate_volume_completion(self.ctx, self.volume(src),
                                                            self.volume(dst), error=True), src)
        poll(lambda: self._gone(dst), "the destination %s deleted" % dst)
        volume = self.volume(src)
        self.assert_rows_equal(volume, expected)
        self.assertEqual((volume.status, volume.migration_status, volume.host),
                         ("available", "error", pool_host(self.host)))
        self.assert_rows_equal(self.deleted_volume(dst), self.destroyed(deleted[0]),
                               ignore={"terminated_at"})
        poll(lambda: not os.path.exists(self.path(self.manager2, dst)),
             "the destination's file on manager 2 removed")
        self.assertTrue(os.path.exists(self.path(self.manager, src)))
        self.assertEqual(self.usage("volumes"), (1, 0))

    def test_delete_volume_cast_of_a_migration_destination(self):
        """The delete_volume cast a Cinder source manager sends for a destination it gives up
        (its migrate_volume_completion with error, or _clean_temporary_volume after a failed
        copy) names a row that is available, not deleting: Cinder's volume manager deletes
        it all the same (only its API checks the status), without quota (use_quota false,
        migration_status "target:...")."""
        src = self.create()
        dst = self.migration_target(src, self.host2)
        self.api.delete_volume(self.ctx, self.volume(dst))
        poll(lambda: self._gone(dst), "the destination %s deleted" % dst)
        row = self.deleted_volume(dst)
        self.assertEqual((row.status, row.migration_status), ("deleted", None))
        self.assertFalse(os.path.exists(self.path(self.manager2, dst)))
        self.assertEqual(self.volume(src).status, "available")
        self.assertEqual(self.usage("volumes"), (1, 0))
        self.assertEqual(self.usage("gigabytes"), (1, 0))

    def retype(self, vid, new_type, host, policy):
        """Cinder's API-side retype of vid to new_type (the reservations of the new type and
        the negative ones of the old made by Cinder's quota_utils, status "retyping" with the
        previous status kept), then the retype cast the scheduler sends, naming host's
        backend."""
        volume = self.volume(vid)
        reservations = quota_utils.get_volume_type_reservation(
            self.ctx, volume, new_type.id, reserve_vol_type_only=True)
        old_reservations = quota_utils.get_volume_type_reservation(
            self.ctx, volume, volume.volume_type_id, reserve_vol_type_only=True, negative=True)
        self.assertEqual((len(reservations), len(old_reservations)), (2, 2))
        self.assertTrue(volume.conditional_update(
            {"status": "retyping", "previous_status": objects.Volume.model.status},
            {"status": ("available", "in-use"),
             "migration_status": volume_api.API.AVAILABLE_MIGRATION_STATUS}))
        self.api.retype(self.ctx, self.volume(vid), new_type.id, backend(host),
                        migration_policy=policy, reservations=reservations,
                        old_reservations=old_reservations)

    def type_usages(self, *vtypes):
        """{resource: (in use, reserved)} of the volume and gigabyte totals and of vtypes'."""
        names = ["volumes", "gigabytes"] + ["%s_%s" % (r, t.name) for t in vtypes
                                            for r in ("volumes", "gigabytes")]
        quotas = QUOTAS.get_project_quotas(self.ctx, self.project, usages=True)
        return {n: (quotas[n]["in_use"], quotas[n]["reserved"]) for n in names}

    def moved_usages(self, old, new):
        """The usages once a 1 GiB volume of type old is retyped to new."""
        return {"volumes": (1, 0), "gigabytes": (1, 0),
                "volumes_" + old.name: (0, 0), "gigabytes_" + old.name: (0, 0),
                "volumes_" + new.name: (1, 0), "gigabytes_" + new.name: (1, 0)}

    def test_retype_cast_in_place(self):
        vid = self.create(volume_type=self.gold)
        digest = self.scribble(self.path(self.manager, vid))
        self.retype(vid, self.silver, self.host, "never")
        poll(lambda: self.volume(vid).status != "retyping", "volume %s retyped" % vid)
        volume = self.volume(vid)
        self.assertEqual((volume.status, volume.volume_type_id, volume.host,
                          volume.migration_status, volume.name_id),
                         ("available", self.silver.id, pool_host(self.host), None, vid))
        poll(lambda: self.type_usages(self.gold, self.silver) ==
             self.moved_usages(self.gold, self.silver), "the reservations committed")
        self.assertEqual(self.checksum(self.path(self.manager, vid)), digest)

    def test_retype_cast_with_migration(self):
        vid = self.create(volume_type=self.gold)
        digest = self.scribble(self.path(self.manager, vid))
        self.retype(vid, self.silver, self.host2, "on-demand")
        poll(lambda: self.volume(vid).status != "retyping", "volume %s retyped" % vid,
             timeout=MIGRATION_TIMEOUT)
        volume = self.volume(vid)
        self.assertEqual((volume.status, volume.volume_type_id, volume.host,
                          volume.migration_status),
                         ("available", self.silver.id, pool_host(self.host2), "success"))
        self.assertEqual(self.checksum(self.path(self.manager2, volume.name_id)), digest)
        self.assert_leftover_gone(vid)
        poll(lambda: self.type_usages(self.gold, self.silver) ==
             self.moved_usages(self.gold, self.silver), "the reservations committed")

    def assert_leftover_gone(self, vid):
        """The row a migration of vid left on manager 1 is deleted, and its file too."""
        leftover = poll(lambda: self.leftover_of(vid), "the leftover row of %s" % vid)
        poll(lambda: self._gone(leftover), "the leftover %s deleted" % leftover)
        row = self.deleted_volume(leftover)
        self.assertEqual((row.host, row.use_quota), (pool_host(self.host), False))
        poll(lambda: not os.path.exists(self.path(self.manager, row.name_id)),
             "the leftover's file on manager 1 removed")

    def test_migrate_volume_cast(self):
        vid = self.create()
        digest = self.scribble(self.path(self.manager, vid))
        volume = self.volume(vid)
        # Cinder's API: migration_status "starting", the status kept in previous_status.
        self.assertTrue(volume.conditional_update(
            {"migration_status": "starting", "previous_status": objects.Volume.model.status},
            {"status": ("available", "in-use"),
             "migration_status": volume_api.API.AVAILABLE_MIGRATION_STATUS}))
        self.api.migrate_volume(self.ctx, self.volume(vid), backend(self.host2),
                                force_host_copy=False)
        poll(lambda: self.volume(vid).migration_status in ("success", "error"),
             "the migration of %s finished" % vid, timeout=MIGRATION_TIMEOUT)
        volume = self.volume(vid)
        self.assertEqual((volume.status, volume.migration_status, volume.host),
                         ("available", "success", pool_host(self.host2)))
        self.assertEqual(self.checksum(self.path(self.manager2, volume.name_id)), digest)
        self.assert_leftover_gone(vid)
        self.assertEqual(self.usage("volumes"), (1, 0))
        self.assertEqual(self.usage("gigabytes"), (1, 0))


if __name__ == "__main__":
    unittest.main()
