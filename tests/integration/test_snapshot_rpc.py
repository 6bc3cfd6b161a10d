"""The snapshot RPC methods on the wire (create_snapshot, delete_snapshot, revert_to_snapshot):
served in both formats, msgpack and oslo's JSON, whoever sends them; a Snapshot primitive
that names another volume than its row is dead-lettered; and the shim sends them in JSON when
[api] rpc_wire_format = json.
"""

import os
import uuid

from harness import DLQ, HDR_REASON, JSON, MSGPACK, cast_message, context_dict, oslo_body, pack
import test_snapshots

MIB = test_snapshots.MIB


def snapshot_primitive(snapshot_id, volume_id, **data):
    """A Cinder Snapshot 1.6 primitive; the manager reads the row by data.id."""
    d = {"id": snapshot_id, "volume_id": volume_id}
    d.update(data)
    return {"versioned_object.name": "Snapshot", "versioned_object.namespace": "cinder",
            "versioned_object.version": "1.6", "versioned_object.data": d}


class SnapshotRpcTest(test_snapshots.SnapshotTestBase):

    dead_letters_purged = True

    def insert_snapshot(self, vid, status="creating"):
        sid = str(uuid.uuid4())
        self.sql("INSERT INTO snapshots (created_at, deleted, id, volume_id, user_id, "
                 "project_id, status, progress, volume_size, volume_type_id, use_quota) "
                 "SELECT now(), false, %s, id, user_id, project_id, %s, '0%%', size, "
                 "volume_type_id, true FROM volumes WHERE id = %s", (sid, status, vid))
        return sid

    def send(self, method, args, content_type, version="3.0"):
        msg = cast_message(method, args, version=version,
                           context=context_dict(self.USER, self.PROJECT))
        body = oslo_body(msg) if content_type == JSON else pack(msg)
        self.publish(body, unique_id=msg["_unique_id"], content_type=content_type)
        return msg["_unique_id"]

    def test_methods_in_both_formats(self):
        for ctype in (MSGPACK, JSON):
            vid = self.insert_volume(file_gib=1)
            self.write_at(vid, 2 * MIB, b"wire" * 1024)
            sid = self.insert_snapshot(vid)
            uid = self.send("create_snapshot", {"snapshot": snapshot_primitive(sid, vid)},
                            ctype)
            self.wait_snapshot(sid, "available")
            self.assertEqual(self.processed(uid), [("create_snapshot", "created")])
            want = self.digest(self.snapshot_file(sid))
            self.assertEqual(want, self.digest(self.backing_file(vid)))

            self.write_at(vid, 2 * MIB, b"gone" * 1024)
            self.sql("UPDATE volumes SET status = 'reverting' WHERE id = %s", (vid,))
            self.sql("UPDATE snapshots SET status = 'restoring' WHERE id = %s", (sid,))
            uid = self.send("revert_to_snapshot", {"volume": {
                "versioned_object.name": "Volume", "versioned_object.namespace": "cinder",
                "versioned_object.version": "1.9", "versioned_object.data": {"id": vid}},
                "snapshot": snapshot_primitive(sid, vid)}, ctype, version="3.15")
            self.wait_status(vid, "available")
            self.wait_snapshot(sid, "available")
            self.assertEqual(self.digest(self.backing_file(vid)), want)

            self.sql("UPDATE snapshots SET status = 'deleting' WHERE id = %s", (sid,))
            uid = self.send("delete_snapshot", {"snapshot": snapshot_primitive(sid, vid),
                                                "unmanage_only": False}, ctype)
            self.poll(lambda: self.snapshot_row(sid)["deleted"], timeout=10)
            self.assertEqual(self.processed(uid), [("delete_snapshot", "deleted")])
            self.assertFalse(os.path.exists(self.snapshot_file(sid)))

    def test_revert_of_a_volume_no_longer_reverting_frees_the_snapshot(self):
        """The volume was reset out of "reverting" before the cast arrived: nothing is
        reverted, the volume keeps its status and the snapshot is available again, also when
        the cast is delivered twice."""
        vid = self.insert_volume(file_gib=1)
        sid = self.insert_snapshot(vid, status="restoring")
        self.write_at(vid, 2 * MIB, b"keep" * 1024)
        before = self.digest(self.backing_file(vid))
        args = {"volume": {"versioned_object.name": "Volume",
                           "versioned_object.namespace": "cinder",
                           "versioned_object.version": "1.9",
                           "versioned_object.data": {"id": vid}},
                "snapshot": snapshot_primitive(sid, vid)}
        uid = self.send("revert_to_snapshot", args, MSGPACK, version="3.15")
        self.wait_snapshot(sid, "available")
        self.assertEqual(self.processed(uid), [("revert_to_snapshot", "wrong_status")])
        uid = self.send("revert_to_snapshot", args, MSGPACK, version="3.15")
        self.poll(lambda: self.processed(uid), msg="second revert handled")
        self.assertEqual(self.snapshot_status(sid), "available")
        self.assertEqual(self.status_of(vid), "available")
        self.assertEqual(self.digest(self.backing_file(vid)), before, "nothing reverted")

    def test_unmanage_only_keeps_the_file_and_a_lie_is_dead_lettered(self):
        vid = self.insert_volume(file_gib=1)
        sid = self.insert_snapshot(vid)
        self.send("create_snapshot", {"snapshot": snapshot_primitive(sid, vid)}, MSGPACK)
        self.wait_snapshot(sid, "available")
        self.sql("UPDATE snapshots SET status = 'unmanaging' WHERE id = %s", (sid,))
        self.send("delete_snapshot", {"snapshot": snapshot_primitive(sid, vid),
                                      "unmanage_only": True}, MSGPACK)
        self.poll(lambda: self.snapshot_row(sid)["deleted"], timeout=10)
        self.assertTrue(os.path.exists(self.snapshot_file(sid)))

        # a primitive naming another volume than the snapshot's
        other = self.insert_volume(file_gib=1)
        s2 = self.insert_snapshot(vid)
        self.send("create_snapshot", {"snapshot": snapshot_primitive(s2, other)}, MSGPACK)
        props, _ = self.wait_dead_letter()
        self.assertIn("belongs to volume", props.headers[HDR_REASON])
        self.assertEqual(self.snapshot_status(s2), "creating")
        # and one without a volume id at all
        self.send("create_snapshot", {"snapshot": snapshot_primitive(s2, None)}, MSGPACK)
        props, _ = self.wait_dead_letter()
        self.assertIn("volume_id", props.headers[HDR_REASON])
        self.purge(DLQ)


    def test_driver_failures_leave_cinders_error_statuses(self):
        # create_snapshot of a volume whose file is gone: the snapshot ends in error
        vid = self.insert_volume(file_gib=1)
        sid = self.insert_snapshot(vid)
        os.unlink(self.backing_file(vid))
        uid = self.send("create_snapshot", {"snapshot": snapshot_primitive(sid, vid)}, MSGPACK)
        self.wait_snapshot(sid, "error")
        self.assertEqual(self.processed(uid), [("create_snapshot", "driver_error")])
        self.assertFalse(os.path.exists(self.snapshot_file(sid)))
        # a volume created from a snapshot whose file is gone ends in error, with the user
        # message of a failed create
        self.grow_file(vid, 1)
        self.sql("UPDATE snapshots SET status = 'available' WHERE id = %s", (sid,))
        new = self.insert_volume(status="creating")
        self.sql("UPDATE volumes SET snapshot_id = %s WHERE id = %s", (sid, new))
        uid = self.send("create_volume", {"volume": {
            "versioned_object.name": "Volume", "versioned_object.namespace": "cinder",
            "versioned_object.version": "1.9", "versioned_object.data": {"id": new}}},
            MSGPACK)
        self.wait_status(new, "error")
        self.assertEqual(self.processed(uid), [("create_volume", "driver_error")])
        self.assertEqual(len(self.user_messages(new)), 1)
        # a cascade that finds a snapshot not deleting keeps the volume, error_deleting
        self.sql("UPDATE volumes SET status = 'deleting' WHERE id = %s", (vid,))
        uid = self.send("delete_volume", {"volume": {
            "versioned_object.name": "Volume", "versioned_object.namespace": "cinder",
            "versioned_object.version": "1.9", "versioned_object.data": {"id": vid}},
            "cascade": True}, MSGPACK)
        self.wait_status(vid, "error_deleting")
        self.assertEqual(self.processed(uid), [("delete_volume", "cascade_refused")])
        self.assertEqual(self.snapshot_status(sid), "available")
        self.assertTrue(os.path.exists(self.backing_file(vid)))


class ShimSnapshotJsonTest(test_snapshots.SnapshotTestBase):
    """The shim's snapshot casts in oslo's JSON."""
    rpc_wire_format = "json"

    def test_snapshot_casts_in_json(self):
        capture = self.capture_queue()
        vid = self.create_volume()
        sid = self.create_snapshot(vid)
        msg, _, props = self.captured(capture, method="create_snapshot")
        self.assertEqual(props.content_type, JSON)
        data = msg["args"]["snapshot"]["versioned_object.data"]
        self.assertEqual((data["id"], data["volume_id"], data["volume_size"]), (sid, vid, 1))
        st, _, doc = self.action(vid, {"revert": {"snapshot_id": sid}}, version="3.40")
        self.assertEqual(st, 202, doc)
        msg, _, props = self.captured(capture, method="revert_to_snapshot")
        self.assertEqual((props.content_type, msg["version"]), (JSON, "3.15"))
        self.wait_status(vid, "available")
        st, _, doc = self.http("DELETE", self.spath(sid))
        self.assertEqual(st, 202, doc)
        self.captured(capture, method="delete_snapshot")
        self.poll(lambda: self.snapshot_row(sid)["deleted"], timeout=10)

