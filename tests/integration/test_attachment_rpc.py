"""The RPC calls behind the attachments API (issue 12): attachment_update and attachment_delete
as Cinder's volume rpcapi sends them (3.9, vref / connector / attachment_id), in both wire
formats, against attachment rows as Cinder's attachment-create leaves them; and the online
extend of a volume attached this way (docs/cinder.md §14).
"""

import json
import uuid

from harness import (EXTEND_NEW_SIZE, JSON, MSGPACK, StackTestCase, cast_message,
                     context_dict, volume_primitive)

CONNECTOR = {"host": "compute1", "ip": "127.0.0.1", "initiator": None,
             "mountpoint": "/dev/vdb"}


class AttachmentRpcCase(StackTestCase):
    """Helpers: the two calls, and the rows they leave."""

    def setUp(self):
        super().setUp()
        self.reply_q = self.reply_queue()

    def call(self, method, args, content_type=MSGPACK, unique_id=None):
        """The reply of one call at 3.9. A unique_id given is also the _msg_id, so that a call
        made again with it is a redelivery of the same message."""
        msg = cast_message(method, args, version="3.9", unique_id=unique_id,
                           context=context_dict(self.USER, self.PROJECT))
        if unique_id is not None:
            msg["_msg_id"] = unique_id
        return self.call_manager(msg, self.reply_q, content_type)[1]

    def update(self, vid, aid, connector=CONNECTOR, content_type=MSGPACK, unique_id=None):
        return self.call("attachment_update", {"vref": volume_primitive(vid),
                                               "connector": connector, "attachment_id": aid},
                         content_type, unique_id)

    def delete(self, vid, aid, content_type=MSGPACK, unique_id=None):
        return self.call("attachment_delete", {"attachment_id": aid,
                                               "vref": volume_primitive(vid)},
                         content_type, unique_id)

    def assert_failure(self, reply, cls, contains):
        self.assertIsNotNone(reply["failure"], reply)
        failure = json.loads(reply["failure"])
        self.assertEqual((failure["module"], failure["class"]), ("cinder.exception", cls))
        self.assertIn(contains, failure["message"])

    def attachment(self, aid):
        rows = self.sql("SELECT volume_id, instance_uuid, attach_status, attach_mode, "
                        "attached_host, mountpoint, connector, connection_info, deleted, "
                        "attach_time IS NOT NULL, detach_time IS NOT NULL "
                        "FROM volume_attachment WHERE id = %s", (aid,))
        keys = ("volume_id", "instance_uuid", "attach_status", "attach_mode", "attached_host",
                "mountpoint", "connector", "connection_info", "deleted", "attach_time",
                "detach_time")
        return dict(zip(keys, rows[0])) if rows else None

    def connections(self, vid):
        return [h for (h,) in self.sql("SELECT host FROM volmgr_connections WHERE volume_id = "
                                       "%s ORDER BY host", (vid,))]

    def reserved(self, vid=None, instance=None):
        """A volume (with its file) and an attachment as attachment-create leaves them."""
        vid = vid or self.insert_volume(file_gib=1)
        return vid, self.insert_attachment(vid, instance or str(uuid.uuid4()), reserved=True)

    def os_complete(self, aid, vid):
        """What os-complete does (in the shim): the attachment attached, the volume in-use."""
        self.sql("UPDATE volume_attachment SET attach_status = 'attached' WHERE id = %s",
                 (aid,))
        self.sql("UPDATE volumes SET status = 'in-use', attach_status = 'attached' "
                 "WHERE id = %s", (vid,))


class AttachmentUpdateTest(AttachmentRpcCase):

    def test_update_connects_in_both_formats(self):
        for ctype in (JSON, MSGPACK):
            vid, aid = self.reserved()
            before = self.attachment(aid)
            reply = self.update(vid, aid, content_type=ctype)
            self.assertIsNone(reply["failure"], reply)
            info = reply["result"]
            # Cinder's _connection_create: the driver's data flattened beside
            # driver_volume_type, plus attachment_id.
            self.assertEqual(info, {"driver_volume_type": "local",
                                    "device_path": self.backing_file(vid),
                                    "volume_id": vid, "name": "volume-" + vid,
                                    "access_mode": "rw", "encrypted": False,
                                    "attachment_id": aid}, ctype)
            row = self.attachment(aid)
            self.assertEqual((row["attach_status"], row["attach_mode"], row["attached_host"],
                              row["mountpoint"], row["instance_uuid"], row["deleted"],
                              row["attach_time"]),
                             ("attaching", "rw", "compute1", "/dev/vdb",
                              before["instance_uuid"], False, True))
            self.assertEqual(json.loads(row["connector"]), CONNECTOR)
            self.assertEqual(json.loads(row["connection_info"]), info)
            vol = self.volume_row(vid)
            self.assertEqual((vol["status"], vol["attach_status"]), ("attaching", "attaching"))
            self.assertEqual(self.connections(vid), ["compute1"])
            self.assertEqual(len(self.notifications(vid, "volume.attach.start")), 1)

    def test_mode_comes_from_the_attachment_then_the_connector(self):
        vid, aid = self.reserved()
        self.sql("UPDATE volume_attachment SET attach_mode = 'ro' WHERE id = %s", (aid,))
        self.assertIsNone(self.update(vid, aid, dict(CONNECTOR, mode="rw"))["failure"])
        row = self.attachment(aid)
        self.assertEqual(row["attach_mode"], "ro")
        self.assertEqual(json.loads(row["connector"])["mode"], "ro",
                         "Cinder writes the attachment's mode into the connector")
        vid, aid = self.reserved()
        self.assertIsNone(self.update(vid, aid, dict(CONNECTOR, mode="ro"))["failure"])
        self.assertEqual(self.attachment(aid)["attach_mode"], "ro")
        vid, aid = self.reserved()
        self.assertIsNone(self.update(vid, aid, {"host": "compute2"})["failure"])
        row = self.attachment(aid)
        self.assertEqual((row["attach_mode"], row["mountpoint"], row["attached_host"]),
                         ("rw", "na", "compute2"))

    def test_redelivered_update_gets_the_stored_reply(self):
        vid, aid = self.reserved()
        unique_id = uuid.uuid4().hex
        first = self.update(vid, aid, unique_id=unique_id)
        self.assertIsNone(first["failure"])
        self.sql("UPDATE volume_attachment SET attach_status = 'attached' WHERE id = %s",
                 (aid,))
        again = self.update(vid, aid, {"host": "elsewhere"}, unique_id=unique_id)
        self.assertEqual(again["result"], first["result"])
        self.assertEqual(self.attachment(aid)["attach_status"], "attached", "not run again")
        self.assertEqual(self.connections(vid), ["compute1"])
        self.assertEqual(len(self.notifications(vid, "volume.attach.start")), 1)
        self.assertEqual(self.processed(unique_id), [("attachment_update", "done")])

    def test_unknown_attachment_or_volume_changes_nothing(self):
        vid, aid = self.reserved()
        other = self.insert_volume(file_gib=1)
        missing = str(uuid.uuid4())
        for v, a, cls, text in (
                (vid, missing, "VolumeAttachmentNotFound",
                 "Volume attachment could not be found with filter: attachment_id = %s."
                 % missing),
                (other, aid, "VolumeAttachmentNotFound", aid),
                (missing, aid, "VolumeNotFound", "Volume %s could not be found." % missing)):
            self.assert_failure(self.update(v, a), cls, text)
        self.assertEqual(self.attachment(aid)["attach_status"], "reserved")
        self.assertEqual(self.status_of(vid), "reserved")
        self.assertEqual(self.connections(vid) + self.connections(other), [])
        self.assertEqual(self.notifications(vid, "volume.attach.start"), [])

    def test_bad_connectors_are_refused(self):
        vid, aid = self.reserved()
        for connector, text in (({"host": "h-big", "pad": "x" * 20000}, "larger than"),
                                (dict(CONNECTOR, mode="rx"), "mode"),
                                (dict(CONNECTOR, mountpoint=7), "mountpoint")):
            self.assert_failure(self.update(vid, aid, connector), "InvalidInput", text)
        self.assertEqual(self.attachment(aid)["attach_status"], "reserved")
        self.assertEqual(self.status_of(vid), "reserved")
        self.assertEqual(self.connections(vid), [])
        # not a map: refused by the schema, the caller still gets its answer
        reply = self.update(vid, aid, "compute1")
        self.assert_failure(reply, "InvalidInput", "args.connector")
        self.wait_dead_letter()


class AttachmentDeleteTest(AttachmentRpcCase):

    dead_letters_purged = True

    def test_delete_in_both_formats_and_twice(self):
        for ctype in (JSON, MSGPACK):
            vid, aid = self.reserved()
            self.assertIsNone(self.update(vid, aid)["failure"])
            self.os_complete(aid, vid)
            reply = self.delete(vid, aid, content_type=ctype)
            self.assertEqual((reply["failure"], reply["result"]), (None, None))
            row = self.attachment(aid)
            self.assertEqual((row["attach_status"], row["deleted"], row["detach_time"]),
                             ("detached", True, True))
            vol = self.volume_row(vid)
            self.assertEqual((vol["status"], vol["attach_status"]), ("available", "detached"))
            self.assertEqual(self.connections(vid), [])
            for event in ("volume.detach.start", "volume.detach.end"):
                self.assertEqual(len(self.notifications(vid, event)), 1, event)
            self.assertEqual(self.notifications(vid, "volume.detach.end")[0]["status"],
                             "available")
            self.assert_failure(self.delete(vid, aid, content_type=ctype),
                                "VolumeAttachmentNotFound", aid)
            self.assertEqual(len(self.notifications(vid, "volume.detach.start")), 1)

    def test_redelivered_delete_gets_the_stored_reply(self):
        vid, aid = self.reserved()
        unique_id = uuid.uuid4().hex
        self.assertIsNone(self.delete(vid, aid, unique_id=unique_id)["failure"])
        self.assertIsNone(self.delete(vid, aid, unique_id=unique_id)["failure"],
                          "the stored success, not a second run's not-found")
        self.assertEqual(self.processed(unique_id), [("attachment_delete", "done")])

    def test_statuses_follow_the_remaining_attachments(self):
        vid, first = self.reserved()
        self.assertIsNone(self.update(vid, first)["failure"])
        self.os_complete(first, vid)
        _, second = self.reserved(vid)            # another server reserves (multiattach)
        self.assertIsNone(self.update(vid, second, dict(CONNECTOR, host="compute2"))["failure"])
        self.assertEqual(self.connections(vid), ["compute1", "compute2"])
        self.assertIsNone(self.delete(vid, second)["failure"])
        vol = self.volume_row(vid)
        self.assertEqual((vol["status"], vol["attach_status"]), ("in-use", "attached"))
        self.assertEqual(self.connections(vid), ["compute1"])
        # A reserved attachment left alone makes the volume reserved, as Cinder computes it.
        _, third = self.reserved(vid)
        self.assertIsNone(self.delete(vid, first)["failure"])
        vol = self.volume_row(vid)
        self.assertEqual((vol["status"], vol["attach_status"]), ("reserved", "reserved"))
        self.assertEqual(self.connections(vid), [])
        # No connector: no connection to end.
        self.assertIsNone(self.delete(vid, third)["failure"])
        self.assertEqual(self.status_of(vid), "available")

    def test_a_host_connection_stays_while_another_attachment_uses_it(self):
        vid, first = self.reserved()
        _, second = self.reserved(vid)
        for aid in (first, second):
            self.assertIsNone(self.update(vid, aid)["failure"])
        self.assertIsNone(self.delete(vid, first)["failure"])
        self.assertEqual(self.connections(vid), ["compute1"])
        self.assertIsNone(self.delete(vid, second)["failure"])
        self.assertEqual(self.connections(vid), [])

    def test_both_front_doors(self):
        """A legacy attachment ends through attachment_delete, and an attachments-API one
        through the legacy detach_volume."""
        vid = self.insert_volume(file_gib=1)
        legacy, _ = self.attach(vid, register=False)
        self.assertIsNone(self.delete(vid, legacy)["failure"])
        self.assertEqual(self.volume_row(vid)["attach_status"], "detached")
        self.assertEqual(self.status_of(vid), "available")
        _, aid = self.reserved(vid)
        self.assertIsNone(self.update(vid, aid)["failure"])
        self.os_complete(aid, vid)
        msg = cast_message("detach_volume", {"volume_id": vid, "volume": volume_primitive(vid),
                                             "attachment_id": aid}, version="3.4",
                           context=context_dict(self.USER, self.PROJECT))
        self.assertIsNone(self.call_manager(msg, self.reply_q)[1]["failure"])
        self.assertEqual(self.status_of(vid), "available")
        self.assertTrue(self.attachment(aid)["deleted"])

    def test_unknown_volume_or_old_version(self):
        vid, aid = self.reserved()
        missing = str(uuid.uuid4())
        self.assert_failure(self.delete(missing, aid), "VolumeNotFound", missing)
        msg = cast_message("attachment_delete", {"attachment_id": aid,
                                                 "vref": volume_primitive(vid)}, version="3.8",
                           context=context_dict(self.USER, self.PROJECT))
        failure = json.loads(self.call_manager(msg, self.reply_q)[1]["failure"])
        self.assertEqual(failure["class"], "UnsupportedVersion")
        self.wait_dead_letter()
        self.assertEqual(self.attachment(aid)["attach_status"], "reserved")
        self.assertEqual(self.status_of(vid), "reserved")


class AttachmentExtendTest(AttachmentRpcCase):
    """An in-use volume attached through the attachments API follows the compute feedback
    loop as a legacy attachment does: the server comes from the attachment's instance."""

    def test_online_extend_asks_the_attachments_server(self):
        vid = self.create_volume(1)
        instance = str(uuid.uuid4())
        _, aid = self.reserved(vid, instance)
        self.assertIsNone(self.update(vid, aid)["failure"])
        self.os_complete(aid, vid)
        self.stub("POST", "/_fixture/attachments",
                  {"server_id": instance, "volume_id": vid, "attachment_id": aid,
                   "project_id": self.PROJECT})
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: EXTEND_NEW_SIZE in self.admin_md(vid), timeout=10,
                  msg="extend_new_size stored")
        events = self.poll(lambda: [e for e in self.stub_events() if e.get("tag") == vid],
                           timeout=10, msg="the compute stub received volume-extended")
        self.assertEqual(events, [{"name": "volume-extended", "server_uuid": instance,
                                   "tag": vid}])
        self.assertEqual(self.pending_extend(vid)[2], instance)
        self.assertEqual(self.status_of(vid), "extending")
        self.grow_file(vid, 2)
        st, _, doc = self.complete(vid, False)
        self.assertEqual(st, 202, doc)
        self.wait_status(vid, ("in-use", "error_extending"))
        self.assertEqual((self.status_of(vid), self.volume_row(vid)["size"]), ("in-use", 2))
        self.assertEqual(self.attachment(aid)["attach_status"], "attached")
