"""Duplicate and replayed casts change nothing the second time (issue 2: "the same completion
delivered twice, and a cast replayed, change nothing the second time").

The casts are the shim's own: a capture queue bound to the manager's routing key receives a
copy of everything the shim publishes, and the test republishes those bytes.
"""

import re
import uuid

from harness import (EXTEND_NEW_SIZE, GIB, StackTestCase, completion_cast, pack)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


class IdempotencyTest(StackTestCase):
    compute_feedback = True

    def snapshot(self, vid):
        return {
            "row": self.volume_row(vid),
            "file": self.file_size(vid),
            "usages": self.gb_usages(),
            "reservations": self.live_reservations(),
            "notifications": len(self.notifications(vid)),
            "messages": self.user_messages(vid),
            "pool": self.pool_allocated(),
            "admin_md": self.admin_md(vid),
        }

    def assert_cast_shape(self, msg, props, method, version):
        self.assertEqual(msg["method"], method)
        self.assertEqual(msg["version"], version)
        self.assertRegex(msg["_unique_id"], HEX32)
        self.assertEqual(props.message_id, msg["_unique_id"], "message_id = _unique_id")
        self.assertEqual(props.content_type, "application/msgpack")
        self.assertEqual(props.delivery_mode, 2)
        vol = msg["args"]["volume"]
        self.assertEqual(vol["versioned_object.name"], "Volume")
        self.assertEqual(vol["versioned_object.namespace"], "cinder")
        self.assertIn("_context_request_id", msg)
        self.assertIn("_context_project_id", msg)

    def extended_volume(self):
        """A detached volume extended 1 → 2 through the shim; returns (id, the extend cast:
        (decoded, raw body, properties))."""
        vid = self.create_volume(1)
        q = self.capture_queue()
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")
        self.wait_status(vid, "available")
        cast = self.captured(q, "extend_volume")
        return vid, cast

    def test_extend_cast_replayed(self):
        vid, (msg, body, props) = self.extended_volume()
        self.assert_cast_shape(msg, props, "extend_volume", "3.0")
        self.assertEqual(msg["args"]["new_size"], 2)
        self.assertEqual(len(msg["args"]["reservations"]), 2)
        self.assertEqual(msg["args"]["volume"]["versioned_object.data"]["id"], vid)
        before = self.snapshot(vid)
        self.assertEqual(before["notifications"], 1)
        self.assertEqual(len(self.processed(msg["_unique_id"])), 1)

        self.publish(body, unique_id=msg["_unique_id"])
        self.manager_barrier()
        self.assertEqual(self.snapshot(vid), before, "the replay changed something")
        self.assertEqual(len(self.processed(msg["_unique_id"])), 1)
        self.assertTrue(self.manager_alive())

    def test_extend_replayed_with_new_unique_id_on_volume_no_longer_extending(self):
        vid, (msg, _, _) = self.extended_volume()
        before = self.snapshot(vid)
        for new_size in (2, 3):
            with self.subTest(new_size=new_size):
                replay = dict(msg)
                replay["_unique_id"] = uuid.uuid4().hex
                replay["args"] = dict(msg["args"], new_size=new_size)
                self.publish(pack(replay), unique_id=replay["_unique_id"])
                self.manager_barrier()
                self.assertEqual(self.snapshot(vid), before, "the replay changed something")
                self.assertEqual(self.file_size(vid), 2 * GIB, "the file did not grow")

    def test_old_or_abandoned_extend_during_a_newer_extend_is_fenced(self):
        # The volume is extending again (a newer request waits for compute feedback) when an
        # extend cast of another request arrives with a fresh id: an old one, whose
        # reservations were settled long ago, or one whose API transaction published and
        # then failed to commit (a 503 to its client; its reservations exist nowhere). It
        # must not finish, fail or overwrite the newer extend.
        vid, (msg, _, _) = self.extended_volume()
        self.stub_mode("ok", auto_complete=False)
        self.attach(vid)
        st, _, doc = self.extend(vid, 3, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: EXTEND_NEW_SIZE in self.admin_md(vid), timeout=10,
                  msg="the newer extend waits for compute")
        before = self.snapshot(vid)
        pending = self.pending_extend(vid)

        never_committed = [str(uuid.uuid4()) for _ in msg["args"]["reservations"]]
        for kind, reservations in (("old", msg["args"]["reservations"]),
                                   ("never committed", never_committed)):
            with self.subTest(kind):
                replay = dict(msg, _unique_id=uuid.uuid4().hex,
                              args=dict(msg["args"], reservations=reservations))
                self.publish(pack(replay), unique_id=replay["_unique_id"])
                self.manager_barrier()
                self.assertEqual(self.snapshot(vid), before, "the extend changed something")
                self.assertEqual(self.pending_extend(vid), pending)
                self.assertEqual([o for _, o in self.processed(replay["_unique_id"])],
                                 ["stale"])

    def test_reset_before_the_manager_saw_the_extend(self):
        # os-extend is accepted while the manager is frozen; an admin resets the volume and
        # the user extends again. When the manager wakes, the first cast finds its quota
        # already given back by the reset and does nothing; the second one extends.
        vid = self.create_volume(1)
        usages = self.gb_usages()
        with self.manager_held():
            st, _, doc = self.extend(vid, 5)
            self.assertEqual(st, 202, doc)
            self.assertIsNotNone(self.pending_extend(vid), "the API records the extend")
            st, _, doc = self.reset_status(vid, "available")
            self.assertEqual(st, 202, doc)
            self.assertEqual(self.gb_usages(), usages, "the reset gave the quota back")
            self.assertIsNone(self.pending_extend(vid))
            st, _, doc = self.extend(vid, 2)
            self.assertEqual(st, 202, doc)
        self.wait_status(vid, "available")
        self.manager_barrier()
        self.assertEqual(self.volume_row(vid)["size"], 2)
        self.assertEqual(self.file_size(vid), 2 * GIB)
        for res, (in_use, reserved) in usages.items():
            self.assertEqual(self.usage(res), (in_use + 1, 0), res)
        self.assertEqual(self.live_reservations(), [])

    def test_completion_delivered_twice(self):
        vid = self.create_volume(1)
        _, instance = self.attach(vid)
        q = self.capture_queue()
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: EXTEND_NEW_SIZE in self.admin_md(vid), timeout=10,
                  msg="extend pending")
        self.grow_file(vid, 2)
        st, _, doc = self.complete(vid, False)
        self.assertEqual(st, 202, doc)
        self.wait_status(vid, ("in-use", "error_extending"))
        self.assertEqual(self.status_of(vid), "in-use")
        self.assertEqual(self.volume_row(vid)["size"], 2)

        emsg, _, eprops = self.captured(q, "extend_volume")
        self.assert_cast_shape(emsg, eprops, "extend_volume", "3.0")
        msg, body, props = self.captured(q, "extend_volume_completion")
        self.assert_cast_shape(msg, props, "extend_volume_completion", "3.19")
        # an admin by [api] admin_users: the encoder adds the role "admin", once
        self.assertEqual(msg["_context_is_admin"], True)
        self.assertEqual(msg["_context_roles"].count("admin"), 1, msg["_context_roles"])
        self.assertEqual(msg["args"]["new_size"], 2)
        self.assertIs(msg["args"]["error"], False)
        self.assertEqual(sorted(msg["args"]["reservations"]),
                         sorted(emsg["args"]["reservations"]))
        before = self.snapshot(vid)
        self.assertEqual(before["notifications"], 1)
        self.assertEqual([m for m, _ in self.processed(msg["_unique_id"])],
                         ["extend_volume_completion"])

        # the same delivery again: counted once
        self.publish(body, unique_id=msg["_unique_id"])
        self.manager_barrier()
        self.assertEqual(self.snapshot(vid), before, "the duplicate changed something")
        self.assertEqual(len(self.processed(msg["_unique_id"])), 1)

        # a replay with a fresh id (and error=true) finds the volume no longer extending
        replay = dict(msg, _unique_id=uuid.uuid4().hex)
        replay["args"] = dict(msg["args"], error=True)
        self.publish(pack(replay), unique_id=replay["_unique_id"])
        self.manager_barrier()
        self.assertEqual(self.snapshot(vid), before, "the replay changed something")

    def test_crafted_completion_published_twice_back_to_back(self):
        vid = self.insert_volume(size=1, status="extending", previous_status="available",
                                 file_gib=2)
        pool = self.pool_allocated()
        cast = completion_cast(vid, 2, [self.live_reservation()], False)
        self.publish(cast)
        self.publish(cast)
        self.wait_status(vid, ("available", "error_extending"))
        self.manager_barrier()
        self.assertEqual(self.status_of(vid), "available")
        self.assertEqual(self.volume_row(vid)["size"], 2)
        self.assertEqual(len(self.notifications(vid)), 1)
        self.assertEqual(len(self.processed(cast["_unique_id"])), 1)
        self.assertEqual(self.pool_allocated(), pool + 1, "pool stats counted once")
