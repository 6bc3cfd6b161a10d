"""The compute-feedback loop of an attached filestore volume (issue 2, "with compute feedback";
docs/cinder.md §2.3, §2.6, §3.3; the assisted-volume-extend spec).

filestore_compute_feedback = true: extending an in-use volume with one attached instance
stores extend_new_size / extend_reservations, sends volume-extended to the compute stub and
leaves the volume extending until os-extend_volume_completion (or the deadline).
"""

import json
import uuid

from harness import DEFAULT_TYPE, EXTEND_NEW_SIZE, EXTEND_RESERVATIONS, GIB, StackTestCase


class FeedbackCase(StackTestCase):
    """Shared helpers; no tests of its own."""

    compute_feedback = True

    def attached_volume(self, size=1):
        vid = self.create_volume(size)
        _, instance = self.attach(vid)
        self.assertEqual(self.status_of(vid), "in-use")
        return vid, instance

    def start_pending(self, vid, new_size=2):
        """os-extend at 3.42 of an attached volume; returns once the manager has asked the
        compute stub (keys stored, event received)."""
        st, _, doc = self.extend(vid, new_size, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: EXTEND_NEW_SIZE in self.admin_md(vid), timeout=10,
                  msg="extend_new_size stored in the admin metadata")
        self.poll(lambda: [e for e in self.stub_events() if e.get("tag") == vid], timeout=10,
                  msg="the compute stub received volume-extended")

    def assert_reserved(self, usages_before, inc):
        for res, (in_use, reserved) in usages_before.items():
            self.assertEqual(self.usage(res), (in_use, reserved + inc),
                             "%s: %d reserved while pending" % (res, inc))

    def assert_quota_back(self, usages_before):
        self.assertEqual(self.gb_usages(), usages_before, "reserved back, in_use unchanged")
        self.assertEqual(self.live_reservations(), [], "reservations rolled back")

    def assert_no_pending_state(self, vid):
        md = self.admin_md(vid)
        self.assertNotIn(EXTEND_NEW_SIZE, md)
        self.assertNotIn(EXTEND_RESERVATIONS, md)
        self.assertIsNone(self.pending_extend(vid), "pending row gone")

    def assert_failed_extend(self, vid, usages_before, details=("010",)):
        self.wait_status(vid, ("error_extending", "in-use"))
        self.assertEqual(self.status_of(vid), "error_extending")
        self.assertEqual(self.volume_row(vid)["size"], 1)
        self.poll(lambda: self.gb_usages() == usages_before, timeout=5,
                  msg="reservations rolled back")
        self.assert_quota_back(usages_before)
        self.assert_no_pending_state(vid)
        self.assertEqual(self.notifications(vid), [], "no resize.end")
        got = self.poll(lambda: self.user_messages(vid), timeout=5, msg="user messages")
        self.assertEqual(sorted(d for a, d, _ in got), sorted(details), got)
        self.assertTrue(all(a == "007" for a, _, _ in got), got)


class FeedbackTest(FeedbackCase):

    def test_pending_extend_then_completion_success(self):
        vid, instance = self.attached_volume()
        usages, pool = self.gb_usages(), self.pool_allocated()
        self.start_pending(vid, 2)

        # the waiting state
        self.assertEqual(self.status_of(vid), "extending")
        self.assertEqual(self.volume_row(vid)["previous_status"], "in-use")
        md = self.admin_md(vid)
        self.assertEqual(md.get(EXTEND_NEW_SIZE), "2")
        reservations = json.loads(md[EXTEND_RESERVATIONS])
        self.assertIsInstance(reservations, list)
        self.assertEqual(len(reservations), 2, "gigabytes and gigabytes___DEFAULT__")
        live = {u for u, _, _ in self.live_reservations()}
        self.assertEqual(set(reservations), live)
        self.assert_reserved(usages, 1)
        pending = self.pending_extend(vid)
        self.assertIsNotNone(pending, "volmgr_pending_extends row")
        self.assertEqual(pending[0], 2)
        self.assertEqual(sorted(json.loads(pending[1])), sorted(reservations))
        self.assertEqual(pending[2], instance)
        self.assertEqual(self.stub_events(), [{"name": "volume-extended",
                                               "server_uuid": instance, "tag": vid}])
        self.assertEqual(self.file_size(vid), 1 * GIB, "the manager did not grow the file")
        # Nova reads the target size from the volume's metadata, as the owner sees it
        vol = self.get_volume(vid, admin=False)
        self.assertEqual(vol["status"], "extending")
        self.assertEqual(vol["metadata"].get(EXTEND_NEW_SIZE), "2")
        self.assertNotIn(EXTEND_RESERVATIONS, vol["metadata"])
        self.settle(lambda: self.status_of(vid) == "extending", duration=1.0)

        # the compute host grew the file, then reports success
        self.grow_file(vid, 2)
        st, _, doc = self.complete(vid, False)
        self.assertEqual(st, 202, doc)
        self.wait_status(vid, ("in-use", "error_extending"))
        self.assertEqual(self.status_of(vid), "in-use")
        self.assertEqual(self.volume_row(vid)["size"], 2)
        for res, (in_use, reserved) in usages.items():
            self.assertEqual(self.usage(res), (in_use + 1, reserved), res)
        self.assertEqual(self.live_reservations(), [])
        self.assert_no_pending_state(vid)
        self.assertEqual([n["size"] for n in self.notifications(vid)], [2])
        self.assertEqual(self.pool_allocated(), pool + 1)
        self.assertEqual(self.user_messages(vid), [])
        self.assertEqual(len(self.stub_events()), 1, "no second event after completion")

    def test_pending_extend_then_completion_error(self):
        vid, _ = self.attached_volume()
        usages, pool = self.gb_usages(), self.pool_allocated()
        self.start_pending(vid, 3)
        self.assert_reserved(usages, 2)
        st, _, doc = self.complete(vid, True)
        self.assertEqual(st, 202, doc)
        self.assert_failed_extend(vid, usages)
        self.assertEqual(self.pool_allocated(), pool)

    def test_completion_success_without_grown_file_is_an_error(self):
        vid, _ = self.attached_volume()
        usages = self.gb_usages()
        self.start_pending(vid, 2)
        st, _, doc = self.complete(vid, False)   # the file is still 1 GiB
        self.assertEqual(st, 202, doc)
        self.assert_failed_extend(vid, usages)

    def test_compute_fail_completes_with_error(self):
        self.stub_mode("fail")
        vid, _ = self.attached_volume()
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.assert_failed_extend(vid, usages, details=("009", "010"))
        self.assertEqual(len(self.stub_events()), 1, "the event was attempted")

    def test_compute_notfound_completes_with_error(self):
        self.stub_mode("notfound")
        vid, _ = self.attached_volume()
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.assert_failed_extend(vid, usages, details=("009", "010"))

    def test_no_instance_attachment_completes_with_error(self):
        vid = self.create_volume(1)
        self.insert_attachment(vid, instance_uuid=None)    # Glance-store attachment
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.assert_failed_extend(vid, usages)
        self.assertEqual(self.stub_events(), [], "nobody to notify")

    def test_two_attachments_complete_with_error(self):
        vid = self.create_volume(1)
        self.sql("UPDATE volumes SET multiattach = true WHERE id = %s", (vid,))
        self.attach(vid)
        self.insert_attachment(vid, str(uuid.uuid4()))
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.assert_failed_extend(vid, usages)

    def test_auto_complete_success(self):
        self.stub_mode("ok", auto_complete=True)
        vid, _ = self.attached_volume()
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 3, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 3, timeout=15,
                  msg="the compute stub completed the extend")
        self.wait_status(vid, "in-use")
        self.assertEqual(self.file_size(vid), 3 * GIB)
        for res, (in_use, reserved) in usages.items():
            self.assertEqual(self.usage(res), (in_use + 2, reserved), res)
        self.assert_no_pending_state(vid)
        events = self.stub_events()
        self.assertEqual(len(events), 1, events)
        self.assertTrue(events[0].get("completed"), events)
        self.assertEqual(events[0].get("completion_status"), 202, events)

    def test_auto_complete_error(self):
        self.stub_mode("ok", auto_complete=True, complete_error=True)
        vid, _ = self.attached_volume()
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.assert_failed_extend(vid, usages)
        self.assertTrue(self.stub_events()[0].get("completed"))

    def test_reset_status_of_pending_extend_returns_quota(self):
        vid, _ = self.attached_volume()
        usages = self.gb_usages()
        self.start_pending(vid, 2)
        self.assert_reserved(usages, 1)
        st, _, doc = self.reset_status(vid, "in-use")
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.status_of(vid), "in-use")
        self.assert_quota_back(usages)
        self.assert_no_pending_state(vid)
        self.assertEqual(self.volume_row(vid)["size"], 1)
        # nothing left to complete
        st, _, doc = self.complete(vid, False)
        self.assertFault(st, doc, 400, "badRequest", "Volume is not being extended.")
        # and the manager does not roll anything back later
        self.settle(lambda: self.status_of(vid) == "in-use", duration=1.5)
        self.assertEqual(self.gb_usages(), usages)

    def test_reset_status_of_pending_extend_to_error(self):
        vid, _ = self.attached_volume()
        usages = self.gb_usages()
        self.start_pending(vid, 2)
        st, _, doc = self.reset_status(vid, "error")
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.status_of(vid), "error")
        self.assert_quota_back(usages)
        self.assert_no_pending_state(vid)

    def test_detached_volume_is_extended_at_once(self):
        # feedback is only for attached volumes
        vid = self.create_volume(1)
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")
        self.wait_status(vid, "available")
        self.assertEqual(self.file_size(vid), 2 * GIB)
        self.assertEqual(self.stub_events(), [])
        self.assert_no_pending_state(vid)


class FeedbackDeadlineTest(FeedbackCase):
    """A pending extend past [manager] extend_feedback_timeout is rolled back by the manager."""

    extend_feedback_timeout = 2

    def test_pending_extend_past_deadline_is_rolled_back(self):
        vid, _ = self.attached_volume()
        usages = self.gb_usages()
        self.start_pending(vid, 2)
        self.assertEqual(self.status_of(vid), "extending")
        self.wait_status(vid, ("error_extending", "in-use"), timeout=10)
        self.assertEqual(self.status_of(vid), "error_extending")
        self.assertEqual(self.volume_row(vid)["size"], 1)
        self.assert_quota_back(usages)
        self.assert_no_pending_state(vid)
        self.assertEqual(self.notifications(vid), [])
        got = self.poll(lambda: self.user_messages(vid), timeout=5, msg="user message")
        # volmgr's own detail; a generic 010 beside it (as 009 + 010 for a failed send) is fine
        self.assertIn(("007", "volmgr-001"), [(a, d) for a, d, _ in got], got)
        # a late completion finds nothing to complete
        self.grow_file(vid, 2)
        st, _, doc = self.complete(vid, False)
        self.assertFault(st, doc, 400, "badRequest")
        self.assertEqual(self.gb_usages(), usages)

    def test_stale_rows_do_not_block_the_sweep(self):
        """Expired pending rows whose volume is extending without the admin-metadata keys (a
        completion in flight or lost) are postponed, so that a batch of them at the head of
        the sweep's ORDER BY deadline cannot hide a real expired extend behind them."""
        stale = []
        for i in range(20):
            vid = self.insert_volume(size=1, status="extending", previous_status="in-use")
            # expired for the first time: started one timeout before its deadline
            self.sql("INSERT INTO volmgr_pending_extends (volume_id, project_id, new_size, "
                     "reservations, instance_uuid, started_at, deadline) SELECT %s, %s, 2, "
                     "'[]', NULL, d - make_interval(secs => %s), d FROM (SELECT now() AT TIME "
                     "ZONE 'utc' - interval '1 hour' - make_interval(secs => %s) AS d) t",
                     (vid, self.PROJECT, self.extend_feedback_timeout, i))
            stale.append(vid)
        real = self.insert_volume(size=1, status="extending", previous_status="in-use",
                                  admin_md={EXTEND_NEW_SIZE: "2", EXTEND_RESERVATIONS: "[]"})
        self.sql("INSERT INTO volmgr_pending_extends (volume_id, project_id, new_size, "
                 "reservations, instance_uuid, started_at, deadline) VALUES "
                 "(%s, %s, 2, '[]', NULL, now() AT TIME ZONE 'utc' - interval '2 minutes', "
                 "now() AT TIME ZONE 'utc' - interval '1 minute')", (real, self.PROJECT))
        self.wait_status(real, "error_extending", timeout=10)
        self.assertIsNone(self.pending_extend(real))
        self.assertEqual(self.volume_row(real)["size"], 1)
        # the stale ones are left extending, their deadlines pushed out of the past once
        self.assertEqual({self.status_of(v) for v in stale}, {"extending"})
        self.assertEqual(self.sql_value(
            "SELECT count(*) FROM volmgr_pending_extends WHERE volume_id = ANY(%s)",
            (stale,)), 20)

    def test_lost_completion_is_rolled_back_after_a_second_timeout(self):
        """The API removed the keys and cast a completion that never arrives (dead-lettered,
        purged): after the deadline the row is postponed once, after the second the manager
        rolls the extend back with the row's own reservations."""
        vid, _ = self.attached_volume()
        usages = self.gb_usages()
        self.start_pending(vid, 2)
        reserved = self.gb_usages()
        self.assertNotEqual(reserved, usages)
        # the API's half of a completion, without its cast
        self.sql("UPDATE volume_admin_metadata SET deleted = true WHERE volume_id = %s "
                 "AND key IN (%s, %s)", (vid, EXTEND_NEW_SIZE, EXTEND_RESERVATIONS))
        self.wait_status(vid, "error_extending", timeout=4 * self.extend_feedback_timeout + 10)
        self.assertEqual(self.gb_usages(), usages, "the reservations were rolled back")
        self.assertIsNone(self.pending_extend(vid))
        self.assertEqual(self.volume_row(vid)["size"], 1)
