"""Hostile bodies on the manager's queue are dead-lettered with a reason, and the manager keeps
serving (issue 2: "a malformed body on the queue is dead-lettered and the manager keeps
serving"; docs/contracts.md, Topology).

Each poison message is published to the manager's directed routing key and must arrive in
volmgr.dead-letter with x-volmgr-reason (naming the problem) and the original exchange and
routing key.
"""

import struct
import uuid

from harness import (GIB, HDR_ORIG_EXCHANGE, HDR_ORIG_RK, HDR_REASON, StackTestCase,
                     cast_message, context_dict, extend_cast, pack, volume_primitive)

MAX_BYTES = 65536


def text(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


class PoisonTest(StackTestCase):
    max_message_bytes = MAX_BYTES
    dead_letters_purged = True

    def poison(self, body, words=()):
        """Publishes body, waits for its dead letter, checks the headers; returns the reason."""
        self.publish(body, unique_id=None)
        props, got = self.wait_dead_letter(body=body if len(body) <= MAX_BYTES else None)
        hdrs = props.headers or {}
        reason = text(hdrs.get(HDR_REASON))
        self.assertTrue(reason, "x-volmgr-reason set: %r" % (hdrs,))
        if words:
            self.assertTrue(any(w.lower() in reason.lower() for w in words),
                            "reason %r names the problem (one of %r)" % (reason, words))
        self.assertEqual(text(hdrs.get(HDR_ORIG_EXCHANGE)), self.exchange)
        self.assertEqual(text(hdrs.get(HDR_ORIG_RK)), self.routing_key)
        self.assertEqual(self.queue_count(self.routing_key), 0, "not requeued")
        self.assertTrue(self.manager_alive(), "the manager survived")
        return reason

    def valid_extend(self, **overrides):
        msg = extend_cast(str(uuid.uuid4()), 2, [str(uuid.uuid4())])
        msg.update(overrides)
        return msg

    # ---- undecodable ----

    def test_garbage_bytes(self):
        self.poison(b"\xc1\xc1 this is not msgpack \x00\xff")

    def test_empty_body(self):
        self.poison(b"")

    def test_truncated_msgpack(self):
        body = pack(self.valid_extend())
        self.poison(body[:len(body) - 7], ("truncat", "short", "incomplete", "end", "eof", "left",
                                                "beyond"))

    def test_trailing_bytes(self):
        self.poison(pack(self.valid_extend()) + b"\x00", ("trailing", "extra", "garbage"))

    def test_top_level_not_a_map(self):
        self.poison(pack([1, 2, 3]), ("map",))

    def test_huge_declared_count(self):
        # a map32 header claiming 2^31 entries followed by nothing: must be refused before
        # allocation
        self.poison(b"\xdf" + struct.pack(">I", 0x80000000))

    def test_huge_declared_string(self):
        self.poison(b"\x81\xdb" + struct.pack(">I", 0xFFFFFFF0) + b"method")

    def test_deep_nesting(self):
        self.poison(b"\x91" * 5000 + b"\xc0", ("nest", "depth", "deep"))

    def test_oversized_body(self):
        msg = self.valid_extend()
        msg["args"]["padding"] = "x" * (MAX_BYTES + 1024)
        self.poison(pack(msg), ("size", "large", "bytes", "big", "limit"))

    # ---- decodable but invalid ----

    def test_unknown_method(self):
        self.poison(pack(self.valid_extend(method="frobnicate_volume")),
                    ("frobnicate_volume", "method"))

    def test_missing_method(self):
        msg = self.valid_extend()
        del msg["method"]
        self.poison(pack(msg), ("method",))

    def test_bad_unique_id(self):
        for bad in ("xyz", "G" * 32, "a" * 31, 12345):
            with self.subTest(unique_id=bad):
                self.poison(pack(self.valid_extend(_unique_id=bad)), ("unique",))

    def test_missing_unique_id(self):
        msg = self.valid_extend()
        del msg["_unique_id"]
        self.poison(pack(msg), ("unique",))

    def test_wrong_argument_types(self):
        cases = {
            "new_size string": {"new_size": "abc"},
            "new_size negative": {"new_size": -3},
            "reservations not a list": {"reservations": "563e9e70"},
            "volume not a primitive": {"volume": "some-id"},
        }
        for what, change in cases.items():
            with self.subTest(what):
                msg = self.valid_extend()
                msg["args"] = dict(msg["args"], **change)
                self.poison(pack(msg))
        msg = self.valid_extend(args=[1, 2])
        self.poison(pack(msg), ("args",))

    def test_wrong_volume_object(self):
        prim = volume_primitive(str(uuid.uuid4()))
        prim["versioned_object.namespace"] = "nova"
        msg = self.valid_extend()
        msg["args"] = dict(msg["args"], volume=prim)
        self.poison(pack(msg), ("namespace", "cinder", "volume"))
        msg["args"] = dict(msg["args"], volume=volume_primitive("not-a-uuid"))
        self.poison(pack(msg), ("id", "uuid", "volume"))

    def test_unsupported_version(self):
        self.poison(pack(self.valid_extend(version="3.99")), ("version",))
        self.poison(pack(self.valid_extend(version="4.0")), ("version",))
        # extend_volume_completion needs 3.19 at least
        msg = cast_message("extend_volume_completion",
                           {"volume": volume_primitive(str(uuid.uuid4())), "new_size": 2,
                            "reservations": [], "error": False}, version="3.18")
        self.poison(pack(msg), ("version",))

    def test_missing_required_argument(self):
        msg = self.valid_extend()
        del msg["args"]["new_size"]
        self.poison(pack(msg), ("new_size",))

    # ---- and afterwards the manager still works ----

    def test_manager_keeps_serving_after_poison(self):
        pid = self.manager_pid
        for body in (b"\xc1", pack({"method": 1}), b"\xdf\xff\xff\xff\xff"):
            self.poison(body)
        vid = self.create_volume(1)
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="extended after poison")
        self.wait_status(vid, "available")
        self.assertEqual(self.file_size(vid), 2 * GIB)
        self.assertEqual(self.manager_pid, pid)
        self.assertTrue(self.manager_alive())

    def test_unknown_volume_is_not_poison(self):
        # A well-formed cast for a volume that does not exist is handled (and acked), not
        # dead-lettered or retried forever: the database is the truth.
        cast = extend_cast(str(uuid.uuid4()), 2, [],
                           context=context_dict("admin", "proj", is_admin=True))
        self.publish(cast)
        self.manager_barrier()
        self.assertEqual(self.queue_count(self.routing_key), 0)
        self.assertTrue(self.manager_alive())


class FailedForGoodTest(StackTestCase):
    """A create, delete or extend whose transaction fails for good (here PostgreSQL refuses
    the row's change) is dead-lettered with the reason, and its volume goes to error /
    error_deleting / error_extending, as Cinder's manager leaves a volume whose operation
    raised, instead of staying creating / deleting / extending."""

    dead_letters_purged = True

    def assert_given_up(self, vid, status):
        props, _ = self.wait_dead_letter()
        self.assertIn("refused by the test", text((props.headers or {}).get(HDR_REASON)))
        self.wait_status(vid, status)
        self.assertTrue(self.manager_alive())

    def test_create_failed_for_good_leaves_error(self):
        # The manager is held while the create is accepted, so that the refusal is in place
        # before it runs.
        with self.manager_held():
            vid = self.create_volume(1, wait=False)
            self.refuse_volume_update(vid, "NEW.status = 'available'")
        self.assert_given_up(vid, "error")
        self.assertEqual(self.user_messages(vid), [("008", "001", "VOLUME_VOLUME_008_001")])

    def test_delete_failed_for_good_leaves_error_deleting(self):
        vid = self.create_volume(1)
        self.refuse_volume_update(vid, "NEW.deleted")
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202, doc)
        self.assert_given_up(vid, "error_deleting")
        self.assertEqual(self.volume_row(vid)["deleted"], False)

    def test_extend_failed_for_good_leaves_error_extending(self):
        vid = self.create_volume(1)
        usages = self.gb_usages()
        self.refuse_volume_update(vid, "NEW.status = 'available' AND NEW.size = 2")
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.assert_given_up(vid, "error_extending")
        self.assertEqual(self.volume_row(vid)["size"], 1)
        self.assertEqual(self.gb_usages(), usages, "the reservations were rolled back")
        self.assertEqual(self.live_reservations(), [])
        self.assertIsNone(self.pending_extend(vid))
        self.assertEqual(self.user_messages(vid), [("007", "010", "VOLUME_VOLUME_007_010")])
