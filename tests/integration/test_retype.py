"""os-retype end to end (docs/cinder.md §16.4): the API's checks, quota reservations and the
scheduler's choice of backend in the shim, the manager's retype in place, its refusal to
migrate under the "never" policy, and the migration to the second backend with "on-demand".

Two managers run: node1@filestore and node2@filestore2, so that a type whose
volume_backend_name is filestore2 can only live on node2.
"""

import hashlib
import os
import secrets
import uuid

from harness import (GIB, HDR_REASON, StackTestCase, cast_message, context_dict,
                     volume_primitive)
from test_cinderclient import run_cinder

NOT_RETYPABLE = ("Invalid volume: Retype needs volume to be in available or in-use state, not "
                 "be part of an active migration or a consistency group, requested type has "
                 "to be different that the one from the volume, and for in-use volumes "
                 "front-end qos specs cannot change.")


class RetypeTest(StackTestCase):
    second_backend = True
    backend2 = "filestore2"
    dead_letters_purged = True

    def setUp(self):
        super().setUp()
        # The volumes start on node1 with a type of their own: a type without a backend
        # would let create choose either backend.
        self.origin_id, self.origin = self.make_type({"volume_backend_name": "filestore"})

    # ---- helpers ----

    def new_volume(self, size=1):
        return self.create_volume(size, volume_type=self.origin)

    def make_type(self, specs=None):
        """A volume type with extra specs, written in SQL (volmgr has no types API).
        Returns (id, name)."""
        tid, name = str(uuid.uuid4()), "t-" + secrets.token_hex(4)
        self.sql("INSERT INTO volume_types (created_at, deleted, id, name, is_public) VALUES "
                 "(now() AT TIME ZONE 'utc', false, %s, %s, true)", (tid, name))
        for key, value in (specs or {}).items():
            self.sql("INSERT INTO volume_type_extra_specs (created_at, deleted, "
                     "volume_type_id, key, value) VALUES (now() AT TIME ZONE 'utc', false, "
                     "%s, %s, %s)", (tid, key, value))
        return tid, name

    def set_limit(self, resource, limit):
        self.sql("INSERT INTO quotas (created_at, deleted, project_id, resource, hard_limit) "
                 "VALUES (now() AT TIME ZONE 'utc', false, %s, %s, %s)",
                 (self.PROJECT, resource, limit))

    def retype(self, vid, new_type, policy=Ellipsis, **kw):
        inner = {"new_type": new_type}
        if policy is not Ellipsis:
            inner["migration_policy"] = policy
        return self.action(vid, {"os-retype": inner}, **kw)

    def type_usages(self, *type_names):
        """{resource: (in_use, reserved)} of the plain and per-type volumes and gigabytes."""
        out = {r: self.usage(r) for r in ("volumes", "gigabytes")}
        for name in type_names:
            for base in ("volumes", "gigabytes"):
                out["%s_%s" % (base, name)] = self.usage("%s_%s" % (base, name))
        return out

    def type_of(self, vid):
        return self.sql_value("SELECT volume_type_id FROM volumes WHERE id = %s", (vid,))

    def settled(self, since):
        """(resource, delta, how) of the reservations settled after id since: committed rows
        are soft-deleted with their usage moved, rolled-back ones too: tell them by usage."""
        return sorted(self.sql("SELECT resource, delta FROM reservations WHERE project_id = %s"
                               " AND deleted AND id > %s", (self.PROJECT, since)))

    def reservation_mark(self):
        return self.sql_value("SELECT coalesce(max(id), 0) FROM reservations")

    def outcomes(self, outcome):
        return self.sql_value("SELECT count(*) FROM volmgr_processed_messages WHERE "
                              "method = 'retype' AND outcome = %s", (outcome,))

    def assert_no_drift(self):
        """The usages equal what the volumes rows say (volctl quota check exits 0)."""
        rc, out = self.volctl("quota", "check", "--project", self.PROJECT)
        self.assertEqual(rc, 0, "quota drift: %s" % (out,))

    def assert_untouched(self, vid, status, type_id, usages, names):
        self.assertEqual(self.status_of(vid), status, "status restored")
        self.assertEqual(self.type_of(vid), type_id, "type unchanged")
        self.assertEqual(self.type_usages(*names), usages, "usages unchanged")
        self.assertEqual(self.live_reservations(), [], "no reservation left open")
        self.assert_no_drift()

    # ---- refusals ----

    def test_refusals_with_cinder_codes_and_messages(self):
        vid = self.new_volume(1)
        default_id = self.origin_id
        tid, name = self.make_type()
        usages = self.type_usages(self.origin, name)
        mark = self.reservation_mark()

        st, _, doc = self.retype(vid, "no-such-type")
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid input received: Invalid volume_type passed: no-such-type.")
        st, _, doc = self.retype(vid, self.origin)
        self.assertEqual(self.assertFault(st, doc, 400, "badRequest"), NOT_RETYPABLE)
        st, _, doc = self.retype(vid, name, "sometimes")
        self.assertFault(st, doc, 400, "badRequest",
                         ["migration_policy", "is not one of ['on-demand', 'never']"])
        st, _, doc = self.action(vid, {"os-retype": {"migration_policy": "never"}})
        self.assertFault(st, doc, 400, "badRequest", "'new_type' is a required property")
        st, _, doc = self.action(vid, {"os-retype": {"new_type": name, "extra": 1}})
        self.assertFault(st, doc, 400, "badRequest", "Additional properties are not allowed")
        # another project's user does not see the volume
        st, _, doc = self.retype(vid, name, project="otherproj")
        self.assertFault(st, doc, 404, "itemNotFound")

        self.sql("UPDATE volumes SET status = 'error' WHERE id = %s", (vid,))
        st, _, doc = self.retype(vid, name)
        self.assertEqual(self.assertFault(st, doc, 400, "badRequest"), NOT_RETYPABLE)
        self.sql("UPDATE volumes SET status = 'available', migration_status = 'migrating' "
                 "WHERE id = %s", (vid,))
        st, _, doc = self.retype(vid, name)
        self.assertEqual(self.assertFault(st, doc, 400, "badRequest"), NOT_RETYPABLE)
        self.sql("UPDATE volumes SET migration_status = NULL WHERE id = %s", (vid,))
        self.assert_untouched(vid, "available", default_id, usages, (self.origin, name))
        self.assertEqual(self.reservation_mark(), mark,
                         "a refusal rolls its reservations back with its transaction")

    def test_multiattach_changes_only_on_available_volumes(self):
        vid = self.new_volume(1)
        self.insert_attachment(vid, str(uuid.uuid4()))
        tid, name = self.make_type({"multiattach": "<is> True"})
        usages = self.type_usages(self.origin, name)
        st, _, doc = self.retype(vid, name)
        self.assertFault(st, doc, 400, "badRequest", "Invalid input received: Invalid "
                         "volume_type passed, retypes affecting multiattach are only allowed "
                         "on available volumes, the specified volume however currently has a "
                         "status of: in-use.")
        self.assert_untouched(vid, "in-use", self.origin_id, usages, (self.origin, name))
        self.sql("DELETE FROM volume_attachment WHERE volume_id = %s", (vid,))
        self.sql("UPDATE volumes SET status = 'available', attach_status = 'detached' "
                 "WHERE id = %s", (vid,))
        st, _, doc = self.retype(vid, name)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.type_of(vid) == tid, msg="retyped to multiattach")
        self.wait_status(vid, "available")
        self.assertIs(self.sql_value("SELECT multiattach FROM volumes WHERE id = %s", (vid,)),
                      True)

    def test_over_quota_of_the_new_type_is_413(self):
        vid = self.new_volume(2)
        default_id = self.origin_id
        tid, name = self.make_type()
        usages = self.type_usages(self.origin, name)
        mark = self.reservation_mark()

        self.set_limit("volumes_" + name, 0)
        st, _, doc = self.retype(vid, name)
        self.assertFault(st, doc, 413, "overLimit", "Maximum number of volumes allowed (0) "
                         "exceeded for quota 'volumes_%s'." % name)
        self.sql("UPDATE quotas SET hard_limit = -1 WHERE project_id = %s", (self.PROJECT,))
        self.set_limit("gigabytes_" + name, 1)
        st, _, doc = self.retype(vid, name)
        self.assertFault(st, doc, 413, "overLimit", "Requested volume or snapshot exceeds "
                         "allowed gigabytes_%s quota. Requested 2G, quota is 1G and 0G has "
                         "been consumed." % name)
        self.assert_untouched(vid, "available", default_id, usages, (self.origin, name))
        self.assertEqual(self.reservation_mark(), mark, "no reservation row written")

    # ---- in place ----

    def assert_retyped_in_place(self, vid, status, tid, name, before, mark):
        self.poll(lambda: self.type_of(vid) == tid, msg="volume type changed")
        self.wait_status(vid, status)
        row = self.volume_row(vid)
        self.assertEqual(row["previous_status"], status)
        self.assertEqual(self.sql_value("SELECT host FROM volumes WHERE id = %s", (vid,)),
                         self.volume_host, "still on node1")
        after = self.type_usages(self.origin, name)
        for base in ("volumes", "gigabytes"):
            self.assertEqual(after[base], before[base], "plain %s unchanged" % base)
        size = row["size"]
        self.assertEqual(after["volumes_" + self.origin],
                         (before["volumes_" + self.origin][0] - 1, 0))
        self.assertEqual(after["gigabytes_" + self.origin],
                         (before["gigabytes_" + self.origin][0] - size, 0))
        self.assertEqual(after["volumes_" + name], (1, 0))
        self.assertEqual(after["gigabytes_" + name], (size, 0))
        self.assertEqual(self.live_reservations(), [], "reservations committed")
        self.assertEqual(self.settled(mark), sorted([
            ("gigabytes_" + self.origin, -size), ("gigabytes_" + name, size),
            ("volumes_" + self.origin, -1), ("volumes_" + name, 1)]))
        notes = self.notifications(vid, "volume.retype")
        self.assertEqual(len(notes), 1, notes)
        self.assertEqual(notes[0]["volume_type"], tid)
        self.assertEqual(notes[0]["status"], status)
        self.assertEqual(self.get_volume(vid)["volume_type"], name)
        self.assertEqual(self.file_size(vid), size * GIB, "the data stayed where it was")
        self.assert_no_drift()

    def test_retype_in_place_available(self):
        vid = self.new_volume(2)
        tid, name = self.make_type({"volume_backend_name": "filestore", "color": "blue"})
        before = self.type_usages(self.origin, name)
        mark, done = self.reservation_mark(), self.outcomes("retyped")
        st, _, doc = self.retype(vid, name, "never")
        self.assertEqual(st, 202, doc)
        self.assert_retyped_in_place(vid, "available", tid, name, before, mark)
        self.assertEqual(self.outcomes("retyped"), done + 1)

    def test_snapshots_quota_follows_an_in_place_retype(self):
        """The manager moves the snapshots to the new type: their per-type usages move with
        the volume's, so that after the retype and a snapshot's delete they equal the rows."""
        vid = self.new_volume(1)
        body = {"snapshot": {"volume_id": vid, "name": "s"}}
        st, _, doc = self.http("POST", "/v3/%s/snapshots" % self.PROJECT, body=body)
        self.assertEqual(st, 202, doc)
        sid = doc["snapshot"]["id"]
        snap_status = "SELECT status FROM snapshots WHERE id = %s"
        self.poll(lambda: self.sql_value(snap_status, (sid,)) == "available",
                  msg="snapshot available")
        tid, name = self.make_type({"volume_backend_name": "filestore"})
        st, _, doc = self.retype(vid, name, "never")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.type_of(vid) == tid, msg="volume type changed")
        self.wait_status(vid, "available")
        self.assertEqual(self.sql_value("SELECT volume_type_id FROM snapshots WHERE id = %s",
                                        (sid,)), tid, "the snapshot follows the volume")
        for base, new in (("volumes", 1), ("gigabytes", 2), ("snapshots", 1)):
            self.assertEqual(self.usage("%s_%s" % (base, name)), (new, 0), base)
            self.assertEqual(self.usage("%s_%s" % (base, self.origin)), (0, 0), base)
        self.assert_no_drift()
        st, _, doc = self.http("DELETE", "/v3/%s/snapshots/%s" % (self.PROJECT, sid))
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.sql_value("SELECT deleted FROM snapshots WHERE id = %s",
                                         (sid,)), msg="snapshot deleted")
        self.assertEqual(self.usage("snapshots_" + name), (0, 0))
        self.assertEqual(self.usage("gigabytes_" + name), (1, 0))
        self.assertEqual(self.live_reservations(), [], "nothing left reserved")
        self.assert_no_drift()

    def test_retype_in_place_in_use_by_id(self):
        vid = self.new_volume(1)
        self.insert_attachment(vid, str(uuid.uuid4()))
        tid, name = self.make_type()
        before = self.type_usages(self.origin, name)
        mark = self.reservation_mark()
        st, _, doc = self.retype(vid, tid)
        self.assertEqual(st, 202, doc)
        self.assert_retyped_in_place(vid, "in-use", tid, name, before, mark)

    def test_retype_failed_for_good_leaves_nothing_retyping(self):
        """A retype whose transaction fails for good (PostgreSQL refuses the new type) is
        dead-lettered, and h_retype_failed restores the status and rolls both lists back."""
        vid = self.new_volume(1)
        tid, name = self.make_type()
        usages = self.type_usages(self.origin, name)
        mark = self.reservation_mark()
        self.refuse_volume_update(vid, "NEW.volume_type_id = '%s'" % tid)
        st, _, doc = self.retype(vid, name)
        self.assertEqual(st, 202, doc)
        props, _ = self.wait_dead_letter()
        self.assertIn("refused by the test", str((props.headers or {}).get(HDR_REASON)))
        self.wait_status(vid, "available")
        self.assert_untouched(vid, "available", self.origin_id, usages, (self.origin, name))
        self.assertEqual(len(self.settled(mark)), 4, "both lists rolled back")
        self.assertTrue(self.manager_alive())

    # ---- another backend ----

    def test_never_with_a_type_of_node2_restores_everything(self):
        """Cinder's scheduler refuses: the current backend does not fit and migration is not
        allowed. The API has answered 202 by then."""
        vid = self.new_volume(1)
        default_id = self.origin_id
        tid, name = self.make_type({"volume_backend_name": "filestore2"})
        usages = self.type_usages(self.origin, name)
        mark = self.reservation_mark()
        st, _, doc = self.retype(vid, name, "never")
        self.assertEqual(st, 202, doc)
        self.assert_untouched(vid, "available", default_id, usages, (self.origin, name))
        self.assertEqual(self.volume_row(vid)["previous_status"], "available")
        self.assertEqual(len(self.settled(mark)), 4, "both lists rolled back")
        self.assertEqual(self.user_messages(vid), [], "Cinder leaves no user message")

    def cast_retype(self, vid, tid, policy, reservations):
        """Publishes a retype cast of vid to node2 as Cinder's scheduler sends it, and waits
        until the manager handled it. Returns what it recorded."""
        msg = cast_message("retype", {
            "volume": volume_primitive(vid), "new_type_id": tid,
            "host": {"host": self.volume_host2, "cluster_name": None, "capabilities": {}},
            "migration_policy": policy, "reservations": reservations,
            "old_reservations": None,
        }, version="3.5", context=context_dict(project_id=self.PROJECT))
        self.publish(msg)
        return self.poll(lambda: self.processed(msg["_unique_id"]), msg="retype handled")

    def retyping_volume(self):
        """A volume on node1 left retyping by an in-use volume's retype, with one live
        reservation."""
        vid = self.insert_volume(1, status="retyping", previous_status="in-use",
                                 file_gib=1, volume_type_id=self.origin_id)
        self.insert_attachment(vid, str(uuid.uuid4()), mark_in_use=False)
        return vid, self.live_reservation(gib=1)

    def assert_retype_error(self, vid):
        """Cinder's _retype_error: status restored, type kept, reservations rolled back."""
        self.assertEqual(self.status_of(vid), "in-use")
        self.assertEqual(self.type_of(vid), self.origin_id)
        self.assertEqual(self.live_reservations(), [], "rolled back")
        self.assertEqual(self.usage("gigabytes"), (0, 0), "reserved given back")
        self.assertIsNone(self.sql_value("SELECT migration_status FROM volumes WHERE id = %s",
                                         (vid,)), "no migration started")

    def test_manager_refuses_to_migrate_under_never(self):
        """A retype cast naming another backend with "never" (Cinder's manager has the check
        too): _retype_error, the outcome recorded."""
        vid, res = self.retyping_volume()
        tid, _ = self.make_type({"volume_backend_name": "filestore2"})
        self.assertEqual(self.cast_retype(vid, tid, "never", [res]),
                         [("retype", "migration_not_allowed")])
        self.assert_retype_error(vid)

    def test_manager_refuses_to_migrate_a_volume_with_snapshots(self):
        vid, res = self.retyping_volume()
        tid, _ = self.make_type({"volume_backend_name": "filestore2"})
        self.sql("INSERT INTO snapshots (created_at, deleted, id, volume_id, status, "
                 "volume_size, volume_type_id) VALUES (now() AT TIME ZONE 'utc', false, %s, "
                 "%s, 'available', 1, %s)", (str(uuid.uuid4()), vid, self.origin_id))
        self.assertEqual(self.cast_retype(vid, tid, "on-demand", [res]),
                         [("retype", "has_snapshots")])
        self.assert_retype_error(vid)

    def test_no_backend_for_the_type(self):
        vid = self.new_volume(1)
        default_id = self.origin_id
        tid, name = self.make_type({"volume_backend_name": "nowhere"})
        usages = self.type_usages(self.origin, name)
        mark, handled = self.reservation_mark(), self.sql_value(
            "SELECT count(*) FROM volmgr_processed_messages WHERE method = 'retype'")
        st, _, doc = self.retype(vid, name, "on-demand")
        self.assertEqual(st, 202, doc)
        self.assert_untouched(vid, "available", default_id, usages, (self.origin, name))
        self.assertEqual(len(self.settled(mark)), 4, "both lists rolled back")
        self.assertEqual(self.user_messages(vid), [], "Cinder leaves no user message")
        self.assertEqual(self.sql_value("SELECT count(*) FROM volmgr_processed_messages "
                                        "WHERE method = 'retype'"), handled, "no cast sent")

    def test_on_demand_migrates_to_node2(self):
        """Needs the migration engine (branch engine): fails on the retype branch alone."""
        vid = self.new_volume(1)
        with open(self.backing_file(vid), "r+b") as f:
            for off in (0, 4096 * 7, GIB - 512):
                f.seek(off)
                f.write(os.urandom(512))
        with open(self.backing_file(vid), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        tid, name = self.make_type({"volume_backend_name": "filestore2"})
        before = self.type_usages(self.origin, name)
        st, _, doc = self.retype(vid, name, "on-demand")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.sql("SELECT host, volume_type_id, status, migration_status "
                                   "FROM volumes WHERE id = %s", (vid,))
                  == [(self.volume_host2, tid, "available", "success")], timeout=30,
                  msg="volume on node2 with its new type")
        name_id = self.sql_value("SELECT coalesce(_name_id, id) FROM volumes WHERE id = %s",
                                 (vid,))
        with open(os.path.join(self.filestore_dir2, "volume-%s" % name_id), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), digest, "bytes equal")
        self.poll(lambda: self.file_size(vid) is None, msg="source file removed")
        after = self.type_usages(self.origin, name)
        self.assertEqual((after["volumes"], after["gigabytes"]),
                         (before["volumes"], before["gigabytes"]))
        self.assertEqual(after["volumes_" + name], (1, 0))
        self.assertEqual(after["gigabytes_" + name], (1, 0))
        self.assertEqual(after["volumes_" + self.origin], (0, 0))
        self.assertEqual(after["gigabytes_" + self.origin], (0, 0))
        self.assertEqual(self.live_reservations(), [])
        notes = self.notifications(vid, "volume.retype")
        self.assertEqual(len(notes), 1, notes)
        self.assertEqual((notes[0]["volume_type"], notes[0]["status"]), (tid, "available"))
        self.assert_no_drift()

    # ---- python-cinderclient ----

    def test_cinderclient_retype(self):
        vid = self.new_volume(1)
        tid, name = self.make_type()
        run_cinder(self, "retype", "--migration-policy", "on-demand", vid, name)
        self.poll(lambda: self.type_of(vid) == tid, msg="retyped by cinder retype")
        self.wait_status(vid, "available")
        self.assertEqual(self.usage("volumes_" + name), (1, 0))
        self.assertEqual(self.usage("volumes_" + self.origin), (0, 0))
        rc, out = run_cinder(self, "retype", vid, name, ok=False)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("Retype needs volume to be in available or in-use state", out)
