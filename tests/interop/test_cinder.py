"""volmgr's manager in the place of cinder-volume, driven by Cinder's own code (issue 6).

The database is created by Cinder 21's own migrations (cinder-manage db sync); volctl db-sync
then adds volmgr's tables and nothing else; the manager runs on it with the oslo-compatible
topology. Cinder's RPC client (cinder.volume.rpcapi.VolumeAPI, its serializer and
RequestContext, oslo.messaging's rabbit driver, JSON on the wire) casts and calls; the
results are read back through Cinder's own objects and quota engine.

Each test works in a project of its own on volumes it creates, so that the tests run in any
order.
"""

import contextlib
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

import psycopg2

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from harness import (BrokerMixin, load_stack_env, poll_until, read_text, tail,  # noqa: E402
                     with_database)

import oslo_messaging  # noqa: E402
from oslo_config import cfg  # noqa: E402

from cinder import context as cinder_context  # noqa: E402
from cinder import exception, objects, quota, rpc  # noqa: E402
from cinder.volume import rpcapi as volume_rpcapi  # noqa: E402

PY = "/usr/bin/python3"
BIN = os.path.join(REPO, "bin")
PG_DUMP = sorted(p for p in (os.path.join("/usr/lib/postgresql", v, "bin", "pg_dump")
                             for v in os.listdir("/usr/lib/postgresql")) if os.path.exists(p))[-1]
BACKEND = "filestore"
USER = "user-interop"
TIMEOUT = 20
CONNECTOR = {"host": "compute1", "initiator": "iqn.1993-08.org.debian:01:abc"}

CONF = cfg.CONF
QUOTAS = quota.QUOTAS


def poll(fn, what, timeout=TIMEOUT):
    """fn() until truthy (returned) or the deadline (AssertionError naming what)."""
    ok, value = poll_until(fn, timeout)
    if not ok:
        raise AssertionError("%s: not true after %d s (last %r)" % (what, timeout, value))
    return value


def cinder_manage(config, *args):
    """Cinder's own cinder-manage (the Debian package ships the module, not the script)."""
    code = ("import sys; from cinder.cmd.manage import main; "
            "sys.argv = ['cinder-manage', '--config-file', %r] + %r; main()"
            % (config, list(args)))
    return subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=120)


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
    told otherwise)."""

    def __init__(self, tmp, name, host, exchange, db_url, transport_url, compatible=True):
        self.host = host
        self.log = os.path.join(tmp, name + ".log")
        self.conf = os.path.join(tmp, name + ".conf")
        volumes = os.path.join(tmp, "volumes")
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
        env = load_stack_env()
        cls.rand = secrets.token_hex(4)
        cls.tmp = tempfile.mkdtemp(prefix="volmgr-interop-")
        cls.exchange = "interop_" + cls.rand
        cls.host = "node" + cls.rand
        cls.transport_url = env["VOLMGR_TRANSPORT_URL"]
        cls.managers = []
        dbname = "cinder_" + cls.rand
        admin = psycopg2.connect(env["VOLMGR_PG_ADMIN_URL"])
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE %s" % dbname)
        admin.close()
        cls.db_url = with_database(env["VOLMGR_DB_URL"], dbname)
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

        # 2. The manager on it; Cinder's RPC client in this process.
        cls.manager = cls.start_manager("manager", cls.host)
        CONF([], project="cinder", default_config_files=[cls.cinder_conf])
        logging.basicConfig(level=logging.WARNING)
        # pika warns of each passive declare of a queue that does not exist yet, which is
        # how consumer_count() learns that it has no consumers.
        logging.getLogger("pika").setLevel(logging.ERROR)
        objects.register_all()
        rpc.init(CONF)
        admin_ctx = cinder_context.RequestContext(USER, "proj-interop", is_admin=True)
        poll(lambda: objects.ServiceList.get_all_by_topic(admin_ctx, "cinder-volume"),
             "the manager's services row")
        rpc.LAST_RPC_VERSIONS.clear()
        rpc.LAST_OBJ_VERSIONS.clear()
        cls.api = volume_rpcapi.VolumeAPI()
        cls.rpc_version = rpc.LAST_RPC_VERSIONS.get("cinder-volume")
        cls.volume_type = objects.VolumeType.get_by_name_or_id(admin_ctx, "__DEFAULT__")

    @classmethod
    def start_manager(cls, name, host):
        m = ManagerProcess(cls.tmp, name, host, cls.exchange, cls.db_url, cls.transport_url)
        cls.managers.append(m)
        m.wait_consuming()
        return m

    @classmethod
    def tearDownClass(cls):
        for m in cls.managers:
            m.stop()
        with contextlib.suppress(Exception):
            rpc.cleanup()
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

    def create(self):
        """A volume as Cinder's API and scheduler leave it, then the create_volume cast;
        returns its id once the manager made it available."""
        reservations = QUOTAS.reserve(self.ctx, project_id=self.project, volumes=1,
                                      gigabytes=1)
        vol = objects.Volume(context=self.ctx, size=1, user_id=USER, project_id=self.project,
                             host="%s@%s#%s" % (self.host, BACKEND, BACKEND),
                             status="creating", attach_status="detached",
                             availability_zone="nova", volume_type_id=self.volume_type.id,
                             display_name="interop-" + self.id().rsplit(".", 1)[-1][:40])
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
                if "PRECONDITION_FAILED" in text or "406" in text or "inequivalent" in text:
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
            self.assertNotIn("406", m.text().split("consuming")[0])

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


if __name__ == "__main__":
    unittest.main()
