"""The legacy attach and detach actions with RPC calls and replies (issue 3): os-reserve,
os-initialize_connection, os-attach, os-begin_detaching, os-terminate_connection, os-detach,
os-force_detach, os-unreserve, os-roll_detaching, os-update_readonly_flag, the 409 guard of
bug 2004555, and calls whose manager is down or late.
"""

import json
import os
import time
import uuid

from harness import GIB, StackTestCase

CONNECTOR = {"host": "compute1", "ip": "127.0.0.1", "initiator": None}
SERVICE = {"X-Service-Token": "nova:service", "X-Service-Roles": "service"}


class AttachCase(StackTestCase):
    """Helpers: the legacy sequences through the API."""

    stub_auto_complete = True

    def act(self, vid, name, params=None, admin=False, **kw):
        body = {name: {} if params is None else params}
        if admin:
            return self.admin_action(vid, body, **kw)
        return self.action(vid, body, **kw)

    def ok(self, vid, name, params=None, code=202, **kw):
        st, _, doc = self.act(vid, name, params, **kw)
        self.assertEqual(st, code, "%s: %s %s" % (name, st, doc))
        return doc

    def attach_sequence(self, vid, instance=None, mode="rw"):
        """os-reserve -> os-initialize_connection -> os-attach; returns (attachment, info)."""
        instance = instance or str(uuid.uuid4())
        self.ok(vid, "os-reserve")
        doc = self.ok(vid, "os-initialize_connection", {"connector": CONNECTOR}, code=200)
        self.ok(vid, "os-attach", {"instance_uuid": instance, "mountpoint": "/dev/vdb",
                                   "mode": mode})
        aid = self.sql_value("SELECT id FROM volume_attachment WHERE volume_id = %s AND "
                             "NOT deleted", (vid,))
        return aid, instance, doc["connection_info"]

    def register(self, vid, instance, aid):
        self.stub("POST", "/_fixture/attachments",
                  {"server_id": instance, "volume_id": vid, "attachment_id": aid,
                   "project_id": self.PROJECT})

    def extend_online(self, vid, instance, new_size):
        """os-extend (3.42) of a volume attached to instance, which the compute stand-in
        (stub_auto_complete) completes: checks the size, the status, the file and that the
        stand-in's only event was for instance."""
        st, _, doc = self.extend(vid, new_size, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == new_size and
                  self.status_of(vid) == "in-use", timeout=15,
                  msg="the compute stand-in grew the file and completed the extend")
        self.assertEqual(self.file_size(vid), new_size * GIB)
        self.assertEqual([e["server_uuid"] for e in self.stub_events()], [instance])

    def live_attachments(self, vid):
        return self.sql("SELECT id, instance_uuid, attach_status, attach_mode, mountpoint, "
                        "connector, connection_info FROM volume_attachment "
                        "WHERE volume_id = %s AND NOT deleted", (vid,))


class AttachTest(AttachCase):

    def test_attach_sequence(self):
        vid = self.create_volume()
        self.ok(vid, "os-reserve")
        self.assertEqual(self.status_of(vid), "attaching")
        doc = self.ok(vid, "os-initialize_connection", {"connector": CONNECTOR}, code=200)
        info = doc["connection_info"]
        self.assertEqual(info["driver_volume_type"], "local")
        self.assertEqual(info["data"]["device_path"], self.backing_file(vid))
        self.assertTrue(os.path.exists(info["data"]["device_path"]))
        self.assertEqual(info["data"]["name"], "volume-" + vid)
        self.assertEqual(info["data"]["access_mode"], "rw")
        self.assertEqual(self.status_of(vid), "attaching", "initialize changes no status")
        instance = str(uuid.uuid4())
        self.ok(vid, "os-attach", {"instance_uuid": instance, "mountpoint": "/dev/vdb"})
        row = self.volume_row(vid)
        self.assertEqual((row["status"], row["attach_status"]), ("in-use", "attached"))
        atts = self.live_attachments(vid)
        self.assertEqual(len(atts), 1)
        aid, inst, status, mode, mp, connector, conn_info = atts[0]
        self.assertEqual((inst, status, mode, mp), (instance, "attached", "rw", "/dev/vdb"))
        self.assertEqual(json.loads(connector)["host"], "compute1")
        self.assertEqual(json.loads(conn_info)["data"]["device_path"], self.backing_file(vid))
        md = self.admin_md(vid)
        self.assertEqual(md.get("attached_mode"), "rw")
        self.assertEqual(md.get("readonly"), "False")
        vol = self.get_volume(vid)
        self.assertEqual(len(vol["attachments"]), 1)
        a = vol["attachments"][0]
        self.assertEqual((a["attachment_id"], a["server_id"], a["device"]),
                         (aid, instance, "/dev/vdb"))
        # a retried os-attach of the same instance is no error and adds nothing
        self.ok(vid, "os-attach", {"instance_uuid": instance, "mountpoint": "/dev/vdb"})
        self.assertEqual(len(self.live_attachments(vid)), 1)

    def test_detach_sequence(self):
        vid = self.create_volume()
        aid, _, _ = self.attach_sequence(vid)
        self.ok(vid, "os-begin_detaching")
        self.assertEqual(self.status_of(vid), "detaching")
        self.ok(vid, "os-roll_detaching")
        self.assertEqual(self.status_of(vid), "in-use")
        self.ok(vid, "os-begin_detaching")
        self.ok(vid, "os-terminate_connection", {"connector": CONNECTOR})
        self.assertEqual(self.sql_value("SELECT count(*) FROM volmgr_connections WHERE "
                                        "volume_id = %s", (vid,)), 0)
        self.assertEqual(self.status_of(vid), "detaching")
        self.ok(vid, "os-detach", {"attachment_id": aid})
        row = self.volume_row(vid)
        self.assertEqual((row["status"], row["attach_status"]), ("available", "detached"))
        self.assertEqual(self.live_attachments(vid), [])
        self.assertNotIn("attached_mode", self.admin_md(vid))
        self.assertEqual(self.get_volume(vid)["attachments"], [])
        events = [n for n in ("attach.start", "attach.end", "detach.start", "detach.end")
                  if self.notifications(vid, "volume." + n)]
        self.assertEqual(len(events), 4, events)

    def test_unreserve_and_readonly(self):
        vid = self.create_volume()
        self.ok(vid, "os-reserve")
        self.ok(vid, "os-unreserve")
        self.assertEqual(self.status_of(vid), "available")
        self.ok(vid, "os-unreserve")   # nothing to do is no error
        self.ok(vid, "os-update_readonly_flag", {"readonly": True})
        self.assertEqual(self.admin_md(vid).get("readonly"), "True")
        st, _, doc = self.act(vid, "os-attach", {"instance_uuid": str(uuid.uuid4()),
                                                  "mountpoint": "/dev/vdb"})
        self.assertFault(st, doc, 400, "badRequest", "Invalid attaching mode 'rw'")
        doc = self.ok(vid, "os-initialize_connection", {"connector": CONNECTOR}, code=200)
        self.assertEqual(doc["connection_info"]["data"]["access_mode"], "ro")
        self.ok(vid, "os-attach", {"host_name": "h1", "mountpoint": "/mnt", "mode": "ro"})
        st, _, doc = self.act(vid, "os-update_readonly_flag", {"readonly": "false"})
        self.assertFault(st, doc, 400, "badRequest", "must be available to update readonly")

    def test_preconditions(self):
        vid = self.create_volume()
        st, _, doc = self.act(vid, "os-begin_detaching")
        self.assertFault(st, doc, 400, "badRequest", "Volume status must be 'in-use'")
        self.attach_sequence(vid)
        st, _, doc = self.act(vid, "os-reserve")
        self.assertFault(st, doc, 400, "badRequest",
                         "Volume status must be available to reserve, but the status is in-use")
        st, _, doc = self.act(vid, "os-attach", {"instance_uuid": str(uuid.uuid4()),
                                                  "mountpoint": "/dev/vdc"})
        self.assertFault(st, doc, 400, "badRequest",
                         "Error attaching volume - InvalidVolume: Invalid volume: volume is "
                         "already attached and multiple attachments are not enabled")
        self.assertEqual(len(self.live_attachments(vid)), 1)
        st, _, doc = self.act(str(uuid.uuid4()), "os-reserve")
        self.assertFault(st, doc, 404, "itemNotFound")
        st, _, doc = self.act(vid, "os-initialize_connection", {"connector": "c"})
        self.assertFault(st, doc, 400, "badRequest", "Invalid input received")
        st, _, doc = self.act(vid, "os-attach", {"mountpoint": "/dev/vdb"})
        self.assertFault(st, doc, 400, "badRequest", "is not valid under any of the given")
        st, _, doc = self.act(vid, "os-detach", {"attachment_id": "nope"})
        self.assertFault(st, doc, 400, "badRequest")
        st, _, doc = self.act(vid, "os-force_detach", {})
        self.assertFault(st, doc, 403, "forbidden")

    def test_multiattach_volume_attaches_twice(self):
        tid = self.volctl_ok("type-create", "multi-" + self.rand,
                             "--extra-spec", "multiattach=<is> True").strip().splitlines()[-1]
        vid = self.create_volume(volume_type=tid)
        self.assertTrue(self.sql_value("SELECT multiattach FROM volumes WHERE id = %s",
                                       (vid,)))
        self.attach_sequence(vid)
        self.ok(vid, "os-reserve")      # in-use may be reserved again when multiattach
        self.ok(vid, "os-attach", {"instance_uuid": str(uuid.uuid4()), "mountpoint": "/x"})
        self.assertEqual(len(self.live_attachments(vid)), 2)
        st, _, doc = self.act(vid, "os-detach", None, headers=SERVICE)
        self.assertFault(st, doc, 400, "badRequest", "More than one attachment")

    def test_extend_rejects_reserved(self):
        vid = self.insert_volume(status="reserved", file_gib=1)
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertFault(st, doc, 400, "badRequest", "currently reserved")
        vid = self.create_volume()
        self.ok(vid, "os-reserve")
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertFault(st, doc, 400, "badRequest", "currently attaching")

    def test_guard_refuses_user_accepts_service(self):
        vid = self.create_volume()
        aid, instance, _ = self.attach_sequence(vid)
        self.register(vid, instance, aid)
        self.ok(vid, "os-begin_detaching")
        for name, params in (("os-terminate_connection", {"connector": CONNECTOR}),
                             ("os-detach", {"attachment_id": aid})):
            st, _, doc = self.act(vid, name, params)
            self.assertFault(st, doc, 409, "conflictingRequest",
                             "Detach volume from instance %s using the Compute API" % instance)
        st, _, doc = self.act(vid, "os-force_detach", {"attachment_id": aid}, admin=True)
        self.assertFault(st, doc, 409, "conflictingRequest")
        self.assertEqual(self.status_of(vid), "detaching")
        self.assertEqual(len(self.live_attachments(vid)), 1)
        # the compute service presents its service token: accepted
        self.ok(vid, "os-terminate_connection", {"connector": CONNECTOR}, headers=SERVICE)
        self.ok(vid, "os-detach", {"attachment_id": aid}, headers=SERVICE)
        self.assertEqual(self.status_of(vid), "available")

    def test_guard_lets_user_through_when_server_gone(self):
        vid = self.create_volume()
        aid, _, _ = self.attach_sequence(vid)     # not registered: compute answers 404
        self.ok(vid, "os-force_detach", {"attachment_id": aid, "connector": CONNECTOR},
                admin=True)
        self.assertEqual(self.status_of(vid), "available")
        self.assertEqual(self.live_attachments(vid), [])

    def test_online_extend_of_attached_volume(self):
        vid = self.create_volume()
        aid, instance, _ = self.attach_sequence(vid)
        self.extend_online(vid, instance, 2)
        self.assertEqual(len(self.live_attachments(vid)), 1)


class CallTimeoutTest(AttachCase):
    """Calls whose manager does not answer in time. Freezes or stops the manager; a test that
    stops it starts it again."""

    rpc_response_timeout = 2

    DROPPED = "no call waits for it"   # the shim's log line for a reply nobody awaits

    def late_call_outcome(self, vid, dropped_before):
        """How an os-attach of vid that timed out ended, once it has: "late" when the manager
        ran it after all and the shim then dropped its reply, "expired" when the broker
        dead-lettered it unread (its expiration is the call's timeout); None while neither
        has happened."""
        if ("Volume %s: attached to" % vid in self.log_text("volume-manager") and
                self.log_text("api-shim").count(self.DROPPED) > dropped_before):
            return "late"
        if self.take_dead_letter(contains=vid.encode()) is not None:
            return "expired"
        return None

    def test_late_reply_is_dropped(self):
        vid = self.create_volume()
        self.ok(vid, "os-reserve")
        dropped_before = self.log_text("api-shim").count(self.DROPPED)
        with self.manager_held():
            start = time.monotonic()
            st, _, doc = self.act(vid, "os-attach", {"instance_uuid": str(uuid.uuid4()),
                                                      "mountpoint": "/dev/vdb"})
            self.assertFault(st, doc, 504, "computeFault", "Timed out waiting for a reply")
            self.assertLess(time.monotonic() - start, 5)
        # The manager either ran the call late (its reply is dropped) or the call expired in
        # the queue; either way the volume is consistent.
        outcome = self.poll(lambda: self.late_call_outcome(vid, dropped_before), timeout=10,
                            msg="the late reply dropped or the call dead-lettered")
        expected = {"late": ("in-use", 1), "expired": ("attaching", 0)}[outcome]
        self.assertEqual((self.status_of(vid), len(self.live_attachments(vid))), expected,
                         "after a %s call" % outcome)
        doc = self.ok(vid, "os-initialize_connection", {"connector": CONNECTOR}, code=200)
        self.assertIn("connection_info", doc)

    def test_manager_down(self):
        vid = self.create_volume()
        self.ok(vid, "os-reserve")
        before = self.volume_row(vid)
        self.addCleanup(self.restart_manager)
        self.stop_manager()
        start = time.monotonic()
        st, _, doc = self.act(vid, "os-initialize_connection", {"connector": CONNECTOR})
        self.assertFault(st, doc, 504, "computeFault", "initialize_connection")
        self.assertLess(time.monotonic() - start, 5)
        st, _, doc = self.act(vid, "os-attach", {"instance_uuid": str(uuid.uuid4()),
                                                  "mountpoint": "/dev/vdb"})
        self.assertFault(st, doc, 504, "computeFault")
        self.assertEqual(self.volume_row(vid), before)
        self.assertEqual(self.live_attachments(vid), [])
        self.assertEqual(self.sql_value("SELECT count(*) FROM volmgr_connections WHERE "
                                        "volume_id = %s", (vid,)), 0)
