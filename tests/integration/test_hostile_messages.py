"""A manager that trusts nothing it need not (issue 11): a grow without quota reservations, a
reply queue that is not oslo's, a stored reply asked for by another queue, connectors too
large or too many, and volume files replaced by links are refused, each with the database and
the files unchanged.
"""

import os
import secrets
import uuid

from harness import (DLQ, HDR_REASON, StackTestCase, cast_message, completion_cast,
                     context_dict, extend_cast, pack, unpack, volume_primitive)


class HostileMessagesTest(StackTestCase):

    dead_letters_purged = True

    def dead_letter_reason(self, vid):
        props, _ = self.poll(lambda: self.take_dead_letter(contains=vid.encode()), timeout=10,
                             msg="the dead letter of %s" % vid)
        return props.headers[HDR_REASON]

    def test_a_grow_without_reservations_is_dead_lettered(self):
        ctx = context_dict("admin", self.PROJECT, is_admin=True)
        for build in (lambda v: extend_cast(v, 2, [], context=ctx),
                      lambda v: completion_cast(v, 2, [], False, context=ctx)):
            vid = self.insert_volume(size=1, status="extending", previous_status="available",
                                     file_gib=1)
            self.publish(build(vid))
            self.assertIn("reservations", self.dead_letter_reason(vid))
            self.assertEqual(self.volume_row(vid)["size"], 1)
            self.assertEqual(self.status_of(vid), "extending")
            self.assertEqual(self.file_size(vid), 1 << 30, "the file did not grow")
        # A failed completion gives back what it names, which may be nothing.
        vid = self.insert_volume(size=1, status="extending", previous_status="available")
        self.publish(completion_cast(vid, 2, [], True, context=ctx))
        self.wait_status(vid, "error_extending")

    def test_a_reply_queue_that_is_not_oslos_is_refused(self):
        vid = self.insert_volume(file_gib=1)
        for reply_q in ("amq.gen-steal", "reply_" + "x" * 32, "cinder-volume",
                        "reply_" + secrets.token_hex(16).upper()):
            msg = cast_message("initialize_connection",
                               {"volume": volume_primitive(vid),
                                "connector": {"host": "h1"}},
                               context=context_dict(self.USER, self.PROJECT))
            msg.update({"_msg_id": uuid.uuid4().hex, "_reply_q": reply_q, "_timeout": None})
            self.publish(pack(msg), unique_id=msg["_unique_id"])
            self.assertIn("_reply_q", self.dead_letter_reason(vid))
        self.assertEqual(self.sql_value(
            "SELECT count(*) FROM volmgr_connections WHERE volume_id = %s", (vid,)), 0)

    def call_message(self, vid, reply_q, unique_id=None, connector=None):
        msg = cast_message("initialize_connection",
                           {"volume": volume_primitive(vid),
                            "connector": connector or {"host": "h1"}},
                           unique_id=unique_id, context=context_dict(self.USER, self.PROJECT))
        msg.update({"_msg_id": uuid.uuid4().hex, "_reply_q": reply_q, "_timeout": None})
        return msg

    def reply_to(self, msg):
        self.publish(pack(msg), unique_id=msg["_unique_id"])
        _, got = self.poll(lambda: self.get_message(msg["_reply_q"]), timeout=10,
                           msg="a reply on %s" % msg["_reply_q"])
        return unpack(got)

    def test_a_stored_reply_goes_only_to_its_own_queue(self):
        vid = self.insert_volume(file_gib=1)
        mine = self.reply_queue()
        first = self.call_message(vid, mine)
        self.assertIsNone(self.reply_to(first)["failure"])
        # The same _unique_id again, from the same caller: the stored reply, again.
        again = dict(first, _msg_id=uuid.uuid4().hex)
        self.assertIsNone(self.reply_to(again)["failure"])
        # ... and naming another queue: nothing is sent there.
        theirs = self.reply_queue()
        stolen = dict(first, _msg_id=uuid.uuid4().hex, _reply_q=theirs)
        self.publish(pack(stolen), unique_id=stolen["_unique_id"])
        self.manager_barrier()
        self.assertEqual(self.queue_count(theirs), 0, "the reply went to another queue")
        self.poll(lambda: "was handled for another reply queue" in
                  self.log_text("volume-manager"), timeout=5, msg="the manager's warning")

    def test_connectors_are_bounded_and_go_with_the_volume(self):
        vid = self.insert_volume(file_gib=1)
        q = self.reply_queue()
        big = {"host": "h-big", "pad": "x" * 20000}
        reply = self.reply_to(self.call_message(vid, q, connector=big))
        self.assertIn("InvalidInput", reply["failure"])
        for i in range(16):
            reply = self.reply_to(self.call_message(vid, q, connector={"host": "h%d" % i}))
            self.assertIsNone(reply["failure"], reply)
        reply = self.reply_to(self.call_message(vid, q, connector={"host": "one-too-many"}))
        self.assertIn("already has 16 connections", reply["failure"])
        # A host seen before may initialize again.
        reply = self.reply_to(self.call_message(vid, q, connector={"host": "h3"}))
        self.assertIsNone(reply["failure"], reply)
        count = "SELECT count(*) FROM volmgr_connections WHERE volume_id = %s"
        self.assertEqual(self.sql_value(count, (vid,)), 16)
        # Deleting the volume takes its connections with it.
        self.sql("UPDATE volumes SET status = 'deleting' WHERE id = %s", (vid,))
        self.publish(cast_message("delete_volume", {"volume": volume_primitive(vid),
                                                    "unmanage_only": False, "cascade": False},
                                  context=context_dict("admin", self.PROJECT, is_admin=True)))
        self.poll(lambda: self.volume_row(vid)["deleted"], timeout=10, msg="deleted")
        self.assertEqual(self.sql_value(count, (vid,)), 0)

    def test_a_volume_file_replaced_by_a_link_is_not_followed(self):
        vid = self.insert_volume(size=1, status="extending", previous_status="available",
                                 file_gib=1)
        res = self.live_reservation()
        target = os.path.join(self.tmp, "outside-" + vid)
        with open(target, "wb") as f:
            f.write(b"precious")
        path = self.backing_file(vid)
        os.unlink(path)
        os.symlink(target, path)
        self.publish(extend_cast(vid, 2, [res],
                                 context=context_dict("admin", self.PROJECT, is_admin=True)))
        self.wait_status(vid, "error_extending")
        self.assertEqual(os.path.getsize(target), len(b"precious"), "the link was followed")
        self.assertTrue(os.path.islink(path))
