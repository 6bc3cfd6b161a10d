"""Notifications on the bus (issue 16; docs/cinder.md §21): the manager's relay publishes the
outbox as oslo.messaging's messagingv2 driver does, and oslo.messaging's own notification
listener (Debian's python3-oslo.messaging) receives Cinder's events with Cinder's payloads, in
order, on the class's control exchange and topic. Also: the outbox empties once published, a
broker outage keeps the rows until the broker is back, and driver = noop queues nothing.
"""

import datetime
import os
import socket
import threading
import uuid

import oslo_messaging
from oslo_config import cfg

from harness import StackTestCase
import test_feedback
import test_snapshots
from test_attach import CONNECTOR, SERVICE

# The keys of Cinder's _usage_from_volume (Cinder's volume_utils), glance_metadata aside,
# which Cinder adds only for a volume made from an image.
VOLUME_KEYS = {
    "tenant_id", "host", "user_id", "availability_zone", "volume_id", "volume_type",
    "display_name", "launched_at", "created_at", "status", "snapshot_id", "size",
    "replication_status", "replication_extended_status", "replication_driver_data",
    "metadata", "volume_attachment",
}
# The keys of Cinder's _usage_from_snapshot.
SNAPSHOT_KEYS = {
    "tenant_id", "user_id", "availability_zone", "volume_id", "volume_size", "snapshot_id",
    "display_name", "created_at", "status", "deleted", "metadata",
}


def aware_iso(naive_utc):
    """A row's time as Cinder's payloads give it: isoformat() of the aware UTC datetime."""
    return naive_utc.replace(tzinfo=datetime.timezone.utc).isoformat()


class Recorder:
    """A plain notification endpoint: every notification of every priority, in arrival
    order, as oslo's dispatcher hands it over."""

    def __init__(self):
        self.lock = threading.Lock()
        self.got = []

    def _record(self, priority, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.got.append({"priority": priority, "ctxt": ctxt, "publisher_id": publisher_id,
                             "event_type": event_type, "payload": payload,
                             "metadata": metadata})

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("INFO", ctxt, publisher_id, event_type, payload, metadata)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("ERROR", ctxt, publisher_id, event_type, payload, metadata)

    def about(self, key, value):
        with self.lock:
            return [n for n in self.got if n["payload"].get(key) == value]


class ListenerMixin:
    """oslo.messaging's notification listener on the class's broker, control exchange and
    topic, for the whole class. It consumes the topic's queues, so the harness's
    published_notifications (which reads the same queue) is not used here."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls._listen()
        except BaseException:
            cls._destroy()
            raise

    @classmethod
    def _listen(cls):
        conf = cfg.ConfigOpts()
        conf([], project="volmgr-it")
        cls.oslo_transport = oslo_messaging.get_notification_transport(
            conf, url="rabbit://" + cls.transport_url.split("://", 1)[1])
        # As the stack's services declare their queues (amqp_durable_queues = true).
        conf.set_override("amqp_durable_queues", True, group="oslo_messaging_rabbit")
        cls.recorder = Recorder()
        target = oslo_messaging.Target(topic=cls.notification_topic, exchange=cls.exchange)
        cls.listener = oslo_messaging.get_notification_listener(
            cls.oslo_transport, [target], [cls.recorder], executor="threading")
        cls.listener.start()

    @classmethod
    def tearDownClass(cls):
        listener = getattr(cls, "listener", None)
        if listener is not None:
            listener.stop()
            listener.wait()
            cls.oslo_transport.cleanup()
        super().tearDownClass()

    def received(self, key, value, count, timeout=20):
        """The notifications about key == value once count of them arrived."""
        return self.poll(lambda: len(self.recorder.about(key, value)) >= count and
                         self.recorder.about(key, value), timeout=timeout,
                         msg="%d notifications about %s (got %r)" % (
                             count, value, [n["event_type"]
                                            for n in self.recorder.about(key, value)]))

    def assert_outbox_empty(self):
        self.poll(lambda: self.sql_value("SELECT count(*) FROM volmgr_notifications") == 0,
                  timeout=10, msg="the relay empties the outbox")

    def assert_oslo_fields(self, n, publisher):
        self.assertEqual(n["priority"], "INFO")
        self.assertEqual(n["publisher_id"], publisher)
        uuid.UUID(n["metadata"]["message_id"])
        # str(utcnow()) in oslo's Notifier: "2026-01-31 12:00:00.000001"
        stamp = n["metadata"]["timestamp"]
        datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f" if "." in stamp
                                   else "%Y-%m-%d %H:%M:%S")


class NotificationFlowTest(ListenerMixin, test_feedback.FeedbackCase,
                           test_snapshots.SnapshotTestBase):

    def test_volume_lifecycle_events_in_order(self):
        publisher = "volume." + self.service_host
        vid = self.create_volume(1)
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2 and self.status_of(vid) ==
                  "available", msg="extended to 2 GiB")
        # Cinder's legacy attach through the API (volctl attach writes the rows directly)
        instance = str(uuid.uuid4())
        for name, params in (("os-reserve", {}),
                             ("os-initialize_connection", {"connector": CONNECTOR}),
                             ("os-attach", {"instance_uuid": instance, "mountpoint": "/dev/vdb"})):
            st, _, doc = self.action(vid, {name: params})
            self.assertIn(st, (200, 202), "%s: %s" % (name, doc))
        aid = self.sql_value("SELECT id FROM volume_attachment WHERE volume_id = %s AND "
                             "NOT deleted", (vid,))
        self.stub("POST", "/_fixture/attachments",
                  {"server_id": instance, "volume_id": vid, "attachment_id": aid,
                   "project_id": self.PROJECT})
        # online extend: the compute host grows the file and completes
        self.start_pending(vid, 3)
        self.grow_file(vid, 3)
        st, _, doc = self.complete(vid, False)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.status_of(vid) == "in-use" and
                  self.volume_row(vid)["size"] == 3, msg="online extend completed")
        # as compute detaches (its service token passes the guard of bug 2004555)
        for name, params in (("os-begin_detaching", {}), ("os-detach", {"attachment_id": aid})):
            st, _, doc = self.action(vid, {name: params}, headers=SERVICE)
            self.assertEqual(st, 202, "%s: %s" % (name, doc))
        self.assertEqual(self.status_of(vid), "available")
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202, doc)

        got = self.received("volume_id", vid, 12)
        self.assertEqual([n["event_type"] for n in got], [
            "volume.create.start", "volume.create.end",
            "volume.resize.start", "volume.resize.end",
            "volume.attach.start", "volume.attach.end",
            "volume.resize.start", "volume.resize.end",
            "volume.detach.start", "volume.detach.end",
            "volume.delete.start", "volume.delete.end"])
        self.assertEqual([(n["payload"]["status"], n["payload"]["size"]) for n in got], [
            ("creating", 1), ("available", 1), ("extending", 1), ("available", 2),
            ("attaching", 2), ("in-use", 2), ("extending", 2), ("in-use", 3),
            ("detaching", 3), ("available", 3), ("deleting", 3), ("deleted", 3)])
        for n in got:
            self.assert_oslo_fields(n, publisher)
            self.assertEqual(set(n["payload"]), VOLUME_KEYS, n["event_type"])
            self.assertEqual(n["payload"]["tenant_id"], self.PROJECT)
            self.assertEqual(n["payload"]["host"], self.volume_host)
        self.assertEqual(len({n["metadata"]["message_id"] for n in got}), 12, "one id each")
        # Cinder's objects read the row's times as aware UTC: isoformat() ends in +00:00
        created, launched = self._sql("SELECT created_at, launched_at FROM volumes "
                                      "WHERE id = %s", (vid,))[0]
        self.assertEqual({(n["payload"]["created_at"], n["payload"]["launched_at"])
                          for n in got[1:]}, {(aware_iso(created), aware_iso(launched))})
        attached = got[5]["payload"]["volume_attachment"]
        self.assertEqual([a["id"] for a in attached], [aid], "attach.end lists the attachment")
        self.assert_outbox_empty()
        self.assertUsagesMatchRows()

    def revert_then_delete_snapshot(self, vid, sid, volume_status):
        """Reverts volume vid to snapshot sid through the API, waits for the volume's
        volume_status and the snapshot's "available", and deletes the snapshot. Returns the
        snapshot's six events and the volume's revert events as (event_type, status)."""
        st, _, doc = self.action(vid, {"revert": {"snapshot_id": sid}}, version="3.40")
        self.assertEqual(st, 202, doc)
        self.wait_status(vid, volume_status)
        self.wait_snapshot(sid, "available")
        st, _, doc = self.http("DELETE", self.spath(sid))
        self.assertEqual(st, 202, doc)
        got = self.received("snapshot_id", sid, 6)
        return got, [(n["event_type"], n["payload"]["status"])
                     for n in self.recorder.about("volume_id", vid)
                     if n["event_type"].startswith("volume.revert")]

    def test_snapshot_create_delete_and_revert_events(self):
        publisher = "volume." + self.service_host
        vid = self.create_volume(1)
        sid = self.create_snapshot(vid)
        got, reverts = self.revert_then_delete_snapshot(vid, sid, "available")
        self.assertEqual([(n["event_type"], n["payload"]["status"]) for n in got], [
            ("snapshot.create.start", "creating"), ("snapshot.create.end", "available"),
            ("snapshot.revert.start", "restoring"), ("snapshot.revert.end", "available"),
            ("snapshot.delete.start", "deleting"), ("snapshot.delete.end", "deleted")])
        for n in got:
            self.assert_oslo_fields(n, publisher)
            self.assertEqual(set(n["payload"]), SNAPSHOT_KEYS, n["event_type"])
            self.assertEqual((n["payload"]["volume_id"], n["payload"]["volume_size"]), (vid, 1))
        self.assertEqual([n["payload"]["deleted"] for n in got], [""] * 5 + ["True"])
        created = self.sql_value("SELECT created_at FROM snapshots WHERE id = %s", (sid,))
        self.assertEqual({n["payload"]["created_at"] for n in got}, {aware_iso(created)})
        # the volume's own revert events, beside the snapshot's
        self.assertEqual(reverts, [("volume.revert.start", "reverting"),
                                   ("volume.revert.end", "available")])
        self.assert_outbox_empty()
        self.assertUsagesMatchRows()

    def test_failed_revert_notifies_before_resetting_statuses(self):
        # Cinder's failed revert sends revert.end from its exception handler, before it sets
        # the volume to error and the snapshot back to available.
        vid = self.create_volume(1)
        sid = self.create_snapshot(vid)
        os.unlink(self.snapshot_file(sid))
        got, reverts = self.revert_then_delete_snapshot(vid, sid, "error")
        self.assertEqual([(n["event_type"], n["payload"]["status"]) for n in got[2:4]], [
            ("snapshot.revert.start", "restoring"), ("snapshot.revert.end", "restoring")])
        self.assertEqual(got[5]["event_type"], "snapshot.delete.end")
        self.assertEqual(reverts, [("volume.revert.start", "reverting"),
                                   ("volume.revert.end", "reverting")])
        self.assert_outbox_empty()
        self.assertUsagesMatchRows()

    def test_api_delete_of_a_volume_without_host(self):
        # A volume the scheduler never placed: the API deletes it and notifies itself.
        vid = self.create_volume(1)
        self.sql("UPDATE volumes SET host = NULL, status = 'error' WHERE id = %s", (vid,))
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202, doc)
        got = self.received("volume_id", vid, 4)
        self.assertEqual([(n["event_type"], n["payload"]["status"]) for n in got[2:]],
                         [("volume.delete.start", "error"), ("volume.delete.end", "deleted")])
        for n in got[2:]:
            self.assert_oslo_fields(n, "volume." + self.host)
        self.assertUsagesMatchRows()

    def test_api_delete_of_a_reserved_attachment(self):
        # An attachment that was only reserved has no connection: the API detaches it and
        # notifies both events itself.
        vid = self.create_volume(1)
        path = "/v3/%s/attachments" % self.PROJECT
        st, _, doc = self.http("POST", path, version="3.44", body={
            "attachment": {"volume_uuid": vid, "instance_uuid": str(uuid.uuid4())}})
        self.assertEqual(st, 200, doc)
        st, _, doc = self.http("DELETE", path + "/" + doc["attachment"]["id"], version="3.44")
        self.assertEqual(st, 200, doc)
        got = self.received("volume_id", vid, 4)
        self.assertEqual([(n["event_type"], n["payload"]["status"]) for n in got[2:]],
                         [("volume.detach.start", "reserved"),
                          ("volume.detach.end", "available")])
        for n in got[2:]:
            self.assert_oslo_fields(n, "volume." + self.host)
        self.assertEqual(got[3]["payload"]["volume_attachment"], [])


class Proxy:
    """A TCP forwarder from a local port to the broker, which the test cuts (every
    connection closed, new ones refused) and restores: a broker outage that only the
    processes sent through it see."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.lock = threading.Lock()
        self.socks = []
        self.cut = False
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                if self.cut:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def set_cut(self, cut):
        with self.lock:
            self.cut = cut
            socks, self.socks = (self.socks, []) if cut else ([], self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.set_cut(True)
        self.server.close()


class NotificationOutageTest(ListenerMixin, StackTestCase):
    """The manager reaches the broker through a proxy of the test's; the API and the listener
    do not. Rows written while the proxy is cut stay in the outbox until it is restored."""

    @classmethod
    def _build(cls):
        hostport = cls.stack_env()["VOLMGR_TRANSPORT_URL"].split("@", 1)[1].split("/", 1)[0]
        host, port = hostport.rsplit(":", 1)
        cls.proxy = Proxy(host, int(port))
        try:
            super()._build()
        except BaseException:
            cls.proxy.close()
            raise

    @classmethod
    def _destroy(cls):
        super()._destroy()
        proxy = getattr(cls, "proxy", None)
        if proxy is not None:
            proxy.close()

    @classmethod
    def _start(cls, name, argv, env=None):
        if name == "volume-manager":
            url = cls.transport_url.replace(
                cls.transport_url.split("@", 1)[1].split("/", 1)[0],
                "127.0.0.1:%d" % cls.proxy.port)
            env = dict(env or {}, VOLMGR_TRANSPORT_URL=url)
        return super()._start(name, argv, env)

    def test_rows_survive_a_broker_outage(self):
        vid = self.create_volume(1)
        self.received("volume_id", vid, 2)
        self.assert_outbox_empty()
        self.sql("UPDATE volumes SET host = NULL, status = 'error' WHERE id = %s", (vid,))
        self.proxy.set_cut(True)
        self.addCleanup(self.proxy.set_cut, False)
        # The API's delete of a volume without host needs no broker, and queues two events.
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202, doc)
        count = "SELECT count(*) FROM volmgr_notifications"
        self.assertEqual(self.sql_value(count), 2)
        self.settle(lambda: self.sql_value(count) == 2, duration=2.0)
        self.assertEqual(len(self.recorder.about("volume_id", vid)), 2, "nothing published")

        self.proxy.set_cut(False)
        got = self.received("volume_id", vid, 4, timeout=30)
        self.assertEqual([n["event_type"] for n in got[2:]],
                         ["volume.delete.start", "volume.delete.end"])
        self.assert_outbox_empty()
        self.assertUsagesMatchRows()


class NotificationNackTest(StackTestCase):
    """A row the broker refuses holds the rows behind it, visibly, until the broker takes it
    (no listener: a queue with a consumer may hand a message over past its length limit)."""

    def test_refused_row_is_retried_first_and_reported(self):
        vid = self.create_volume(1)
        self.published_notifications()
        with self.broker_rejecting_notifications():
            st, _, doc = self.extend(vid, 2)
            self.assertEqual(st, 202, doc)
            self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="extended")
            self.poll(lambda: "times in a row" in self.log_text("volume-manager"),
                      timeout=20, msg="the relay's error about the refused row")
            self.assertEqual(self.sql_value("SELECT count(*) FROM volmgr_notifications"), 2,
                             "both rows kept")
        got = [n["event_type"] for n in self.published_notifications(timeout=30)
               if n["payload"]["volume_id"] == vid]
        self.assertEqual(got, ["volume.create.start", "volume.create.end",
                               "volume.resize.start", "volume.resize.end"])
        self.assertRegex(self.log_text("volume-manager"),
                         r"refused notification \d+ \(volume\.resize\.start\) \d+ times in a "
                         r"row \(publishing to notifications_\w+\.info")


class NoopDriverTest(StackTestCase):
    """driver = noop: nothing is queued, so the outbox does not grow, and nothing published."""

    notification_driver = "noop"

    def test_noop_queues_and_publishes_nothing(self):
        vid = self.create_volume(1)
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="extended")
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.sql_value("SELECT deleted FROM volumes WHERE id = %s", (vid,)),
                  msg="deleted")
        self.assertEqual(self.sql_value("SELECT count(*) FROM volmgr_notifications"), 0)
        self.assertIsNone(self.queue_count(self.notification_queue()), "no queue declared")
        self.assertIn("notifications: driver noop", self.log_text("volume-manager"))
        self.assertUsagesMatchRows()

    def test_noop_manager_warns_of_rows_in_the_outbox(self):
        # An api-shim configured with messagingv2 beside this manager would leave such rows.
        self.stop_manager()
        self.addCleanup(self.restart_manager)
        self.sql("INSERT INTO volmgr_notifications (event_type, publisher_id, priority, "
                 "payload, created_at) VALUES ('volume.delete.start', 'volume.x', 'INFO', "
                 "'{}', now())")
        self.addCleanup(self.sql, "DELETE FROM volmgr_notifications")
        self.restart_manager()
        self.assertIn("the outbox volmgr_notifications holds events",
                      self.log_text("volume-manager"))
