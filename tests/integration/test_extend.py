"""os-extend through the api-shim, end to end (docs/cinder.md §3.1, §4.2, §8.3).

The filestore here grows attached volumes itself (filestore_compute_feedback = false), so
every accepted extend is finalized by the manager at once; the compute-feedback loop is in
test_feedback.py.
"""

import os
import uuid

from harness import GIB, DEFAULT_TYPE, StackTestCase


class ExtendTest(StackTestCase):
    compute_feedback = False

    # ---- helpers ----

    def assert_unchanged_after_refusal(self, vid, status, size, usages_before):
        """A refused extend leaves no trace: status rolled back, size, quota, reservations."""
        row = self.volume_row(vid)
        self.assertEqual(row["status"], status, "status rolled back")
        self.assertEqual(row["size"], size)
        self.assertEqual(self.gb_usages(), usages_before, "quota usage untouched")
        self.assertEqual(self.live_reservations(), [], "no live reservation left")

    def mark_reservations(self):
        """Remembers the newest reservation row: the extend's come after it."""
        self.reservation_mark = self.sql_value("SELECT coalesce(max(id), 0) FROM reservations")

    def assert_committed(self, vid, old_size, new_size, usages_before, pool_before, status):
        inc = new_size - old_size
        row = self.volume_row(vid)
        self.assertEqual(row["status"], status)
        self.assertEqual(row["size"], new_size)
        self.assertEqual(self.file_size(vid), new_size * GIB, "backing file grown")
        for res, (in_use, reserved) in usages_before.items():
            self.assertEqual(self.usage(res), (in_use + inc, reserved),
                             "%s: in_use +%d, reserved back" % (res, inc))
        self.assertEqual(self.live_reservations(), [], "reservations committed (soft-deleted)")
        done = self.sql("SELECT resource, delta FROM reservations WHERE project_id = %s AND "
                        "deleted AND id > %s ORDER BY resource",
                        (self.PROJECT, self.reservation_mark))
        self.assertEqual(done, [("gigabytes", inc), ("gigabytes_" + DEFAULT_TYPE, inc)],
                         "both reservations of the extend soft-deleted")
        notes = self.notifications(vid)
        self.assertEqual(len(notes), 1, "one volume.resize.end: %r" % (notes,))
        self.assertEqual(notes[0]["size"], new_size)
        self.assertEqual(notes[0]["_publisher_id"], "volume." + self.service_host)
        self.assertEqual(notes[0]["tenant_id"], self.PROJECT)
        self.assertEqual(self.pool_allocated(), pool_before + inc, "pool allocated += inc")

    # ---- the success path ----

    def test_extend_available_volume(self):
        vid = self.create_volume(1)
        self.assertEqual(self.file_size(vid), 1 * GIB)
        usages = self.gb_usages()
        self.assertEqual(usages["gigabytes"], (1, 0))
        pool = self.pool_allocated()
        self.mark_reservations()

        st, _, doc = self.extend(vid, 3)
        self.assertEqual(st, 202, doc)
        self.assertIn(doc, (None, ""), "202 has no body")
        self.wait_status(vid, "available")
        self.assert_committed(vid, 1, 3, usages, pool, "available")
        self.assertEqual(self.volume_row(vid)["previous_status"], "available")
        vol = self.get_volume(vid)
        self.assertEqual((vol["size"], vol["status"]), (3, "available"))
        self.assertEqual(self.stub_events(), [], "no compute event for a detached volume")

    def test_extend_with_string_new_size(self):
        vid = self.create_volume(1)
        st, _, doc = self.action(vid, {"os-extend": {"new_size": "2"}})
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")
        self.wait_status(vid, "available")

    def test_extend_in_use_volume_at_3_42_notifies_compute(self):
        vid = self.create_volume(1)
        _, instance = self.attach(vid)
        self.assertEqual(self.status_of(vid), "in-use")
        usages, pool = self.gb_usages(), self.pool_allocated()
        self.mark_reservations()
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")
        self.wait_status(vid, "in-use")
        self.assert_committed(vid, 1, 2, usages, pool, "in-use")
        self.assertEqual(self.volume_row(vid)["previous_status"], "in-use")
        events = self.poll(self.stub_events, timeout=5, msg="compute got the event")
        self.assertEqual(events, [{"name": "volume-extended", "server_uuid": instance,
                                   "tag": vid}])

    def test_compute_notify_failure_still_extended(self):
        # §2.6 / §8.4 item 7: a failed volume-extended send only leaves user message 007/009
        self.stub_mode("fail")
        vid = self.create_volume(1)
        self.attach(vid)
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")
        self.wait_status(vid, "in-use")
        self.poll(lambda: self.user_messages(vid), timeout=5, msg="a user message")
        self.assertEqual([(a, d) for a, d, _ in self.user_messages(vid)], [("007", "009")])
        self.assertEqual(len(self.stub_events()), 1, "the event was attempted")

    def test_extend_glance_store_attachment_sends_no_event(self):
        vid = self.create_volume(1)
        self.insert_attachment(vid, instance_uuid=None)
        st, _, doc = self.extend(vid, 2, version="3.42")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")
        self.wait_status(vid, "in-use")
        self.assertEqual(self.stub_events(), [], "no compute event without an instance")

    def test_in_use_rule_by_microversion(self):
        # §8.3 test_extend_attached_volume ddt: {3.41, 3.42} x {available, in-use}
        for version, attached, expected in (("3.41", False, 202), ("3.42", False, 202),
                                            ("3.41", True, 400), ("3.42", True, 202)):
            with self.subTest(version=version, attached=attached):
                vid = self.create_volume(1)
                if attached:
                    self.attach(vid, register=False)
                status = "in-use" if attached else "available"
                usages = self.gb_usages()
                st, _, doc = self.extend(vid, 2, version=version)
                if expected == 400:
                    self.assertFault(st, doc, 400, "badRequest",
                                     ["Invalid volume", vid, "available", "in-use"])
                    self.assert_unchanged_after_refusal(vid, status, 1, usages)
                else:
                    self.assertEqual(st, 202, doc)
                    self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")
                    self.wait_status(vid, status)

    # ---- refusals ----

    def test_new_size_equal_400(self):
        vid = self.create_volume(2)
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 2)
        self.assertFault(st, doc, 400, "badRequest",
                         "New size for extend must be greater than current size. "
                         "(current: 2, extended: 2)")
        self.assert_unchanged_after_refusal(vid, "available", 2, usages)

    def test_new_size_smaller_400(self):
        vid = self.create_volume(2)
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 1)
        self.assertFault(st, doc, 400, "badRequest",
                         "New size for extend must be greater than current size. "
                         "(current: 2, extended: 1)")
        self.assert_unchanged_after_refusal(vid, "available", 2, usages)

    def test_schema_refusals_400(self):
        vid = self.create_volume(1)
        usages = self.gb_usages()
        bodies = {
            "non-numeric string": {"os-extend": {"new_size": "fake"}},
            "negative": {"os-extend": {"new_size": -1}},
            "zero": {"os-extend": {"new_size": 0}},
            "float": {"os-extend": {"new_size": 2.5}},
            "above 0x7FFFFFFF": {"os-extend": {"new_size": 2147483648}},
            "null": {"os-extend": {"new_size": None}},
            "missing new_size": {"os-extend": {}},
            "extra property": {"os-extend": {"new_size": 2, "foo": "bar"}},
            "not an object": {"os-extend": 2},
            "second top-level key": {"os-extend": {"new_size": 2}, "os-reset_status": {}},
        }
        for what, body in bodies.items():
            with self.subTest(what):
                st, _, doc = self.action(vid, body)
                self.assertFault(st, doc, 400, "badRequest")
        self.assert_unchanged_after_refusal(vid, "available", 1, usages)

    def test_missing_volume_404(self):
        missing = str(uuid.uuid4())
        st, _, doc = self.extend(missing, 2)
        self.assertFault(st, doc, 404, "itemNotFound",
                         "Volume %s could not be found." % missing)

    def test_other_projects_volume_404(self):
        vid = self.create_volume(1)
        owner = self.PROJECT
        usages = self.gb_usages()
        other = "other" + owner
        st, _, doc = self.action(vid, {"os-extend": {"new_size": 2}}, project=other,
                                 token="user2:%s" % other)
        self.assertFault(st, doc, 404, "itemNotFound",
                         "Volume %s could not be found." % vid)
        self.assert_unchanged_after_refusal(vid, "available", 1, usages)

    def test_wrong_status_400(self):
        for status in ("reserved", "error_extending", "error", "extending", "creating"):
            with self.subTest(status=status):
                vid = self.create_volume(1)
                self.sql("UPDATE volumes SET status = %s WHERE id = %s", (status, vid))
                usages = self.gb_usages()
                st, _, doc = self.extend(vid, 2, version="3.42")
                self.assertFault(st, doc, 400, "badRequest",
                                 ["Invalid volume", "currently %s" % status])
                self.assert_unchanged_after_refusal(vid, status, 1, usages)

    def test_volume_type_max_size_400(self):
        # §8.3 test_extend_volume_with_volume_type_limit: max 3 → extend to 3 works, 5 fails.
        name = "small" + self.rand
        out = self.volctl_ok("type-create", name, "--extra-spec", "provisioning:max_vol_size=3")
        type_id = out.strip().splitlines()[-1].strip()
        self.assertEqual(self.sql_value("SELECT name FROM volume_types WHERE id = %s",
                                        (type_id,)), name, "volctl printed the type id")
        vid = self.insert_volume(size=1, volume_type_id=type_id, file_gib=1)
        st, _, doc = self.extend(vid, 3)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 3, msg="size 3")
        self.wait_status(vid, "available")
        self.assertEqual(self.usage("gigabytes_" + name)[1], 0, "per-type reserved back")
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 5)
        self.assertFault(st, doc, 400, "badRequest",
                         "Specified volume size of '5' is greater than the maximum allowable "
                         "size of '3' for volume type '%s'." % name)
        self.assert_unchanged_after_refusal(vid, "available", 3, usages)

    def test_quota_exceeded_413(self):
        self.volctl_ok("quota-set", self.PROJECT, "gigabytes", "2")
        vid = self.create_volume(1)
        usages = self.gb_usages()
        st, hd, doc = self.extend(vid, 4)
        msg = self.assertFault(st, doc, 413, "overLimit",
                               ["exceeds allowed gigabytes quota",
                                "Requested 3G, quota is 2G and 1G has been consumed."])
        self.assertTrue(msg.startswith("VolumeSizeExceedsAvailableQuota: "), msg)
        self.assertEqual(doc["overLimit"].get("retryAfter"), "0", doc)
        self.assertEqual(hd.get("Retry-After"), "0")
        self.assert_unchanged_after_refusal(vid, "available", 1, usages)
        # within the quota it still works
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")

    def test_per_type_quota_exceeded_413_reports_global_figures(self):
        self.volctl_ok("quota-set", self.PROJECT, "gigabytes_" + DEFAULT_TYPE, "2")
        vid = self.create_volume(1)
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 3)
        self.assertFault(st, doc, 413, "overLimit",
                         "Requested 2G, quota is 1000G and 1G has been consumed.")
        self.assert_unchanged_after_refusal(vid, "available", 1, usages)

    def test_per_volume_gigabytes_413(self):
        self.volctl_ok("quota-set", self.PROJECT, "per_volume_gigabytes", "2")
        vid = self.create_volume(1)
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 3)
        self.assertFault(st, doc, 413, "overLimit",
                         "Requested volume size 3G is larger than maximum allowed limit 2G.")
        self.assert_unchanged_after_refusal(vid, "available", 1, usages)

    # ---- driver failure (§8.3 _test_extend_volume_manager_fails_with_exception) ----

    def test_driver_failure_error_extending(self):
        vid = self.create_volume(1)
        usages, pool = self.gb_usages(), self.pool_allocated()
        # Root ignores file modes, but nobody can truncate a directory: replace the backing
        # file with one so that the filestore's extend fails.
        path = self.backing_file(vid)
        os.unlink(path)
        os.mkdir(path)
        self.addCleanup(lambda: os.path.isdir(path) and os.rmdir(path))
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.wait_status(vid, "error_extending")
        row = self.volume_row(vid)
        self.assertEqual(row["size"], 1, "size unchanged")
        self.assertEqual(self.gb_usages(), usages, "reservations rolled back")
        self.assertEqual(self.live_reservations(), [])
        self.assertIn(("007", "010", "VOLUME_VOLUME_007_010"), self.user_messages(vid))
        self.assertEqual(self.notifications(vid), [], "no resize.end")
        self.assertEqual(self.pool_allocated(), pool, "pool stats unchanged")

    def test_delete_volume_in_error_extending(self):
        vid = self.create_volume(1)
        usages = self.gb_usages()
        self.sql("UPDATE volumes SET status = 'error_extending' WHERE id = %s", (vid,))
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["deleted"], msg="volume row soft-deleted")
        self.poll(lambda: self.file_size(vid) is None, timeout=5, msg="backing file removed")
        self.poll(lambda: self.usage("gigabytes") == (usages["gigabytes"][0] - 1, 0),
                  timeout=5, msg="gigabytes in_use given back")
