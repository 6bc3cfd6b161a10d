"""os-extend_volume_completion through the api-shim (docs/cinder.md §2.3, §3.2, §4.3,
§8.1, §8.4 items 1-5).

As in Cinder's AdminActionsTest, the volumes are set up directly in the database: status
extending with the two admin-metadata keys. The requests carry no microversion header (the
action has no microversion gate). The backing file is grown beforehand where the manager is
expected to finalize, since the filestore verifies the size before committing.
"""

import json
import threading
import uuid

from harness import EXTEND_NEW_SIZE, EXTEND_RESERVATIONS, GIB, StackTestCase

RESERVATION = "563e9e70-5f46-4265-9a92-f7bca28d896c"
KEYS = {EXTEND_NEW_SIZE: "2", EXTEND_RESERVATIONS: '["%s"]' % RESERVATION}
MALFORMED = "Invalid volume: Required volume admin metadata is malformed or missing."


class CompletionTest(StackTestCase):

    # ---- helpers ----

    def setUp(self):
        super().setUp()
        self.keys = {}

    def extending(self, size=1, status="extending", md=None, file_gib=None):
        """A volume with the admin-metadata keys md; by default those of an extend 1 -> 2 GiB
        whose reservation is live, as os-extend and the manager leave them."""
        if md is None:
            md = {EXTEND_NEW_SIZE: "2", EXTEND_RESERVATIONS: json.dumps([self.live_reservation()])}
        vid = self.insert_volume(size=size, status=status, previous_status="available",
                                 admin_md=md, file_gib=file_gib)
        self.keys[vid] = md
        return vid

    def assert_refused(self, vid, st, doc, code=400, contains=None, md=None, status="extending"):
        """A refused completion changes nothing: status, size and keys stay."""
        name = {400: "badRequest", 403: "forbidden", 404: "itemNotFound"}[code]
        self.assertFault(st, doc, code, name, contains)
        self.assertEqual(self.status_of(vid), status)
        self.assertEqual(self.admin_md(vid), self.keys[vid] if md is None else md, "keys kept")

    def assert_finalized(self, vid, new_size=2, status="available"):
        self.wait_status(vid, (status, "error_extending"))
        self.assertEqual(self.status_of(vid), status, "finalized, not rolled back")
        self.assertEqual(self.volume_row(vid)["size"], new_size)
        notes = self.notifications(vid)
        self.assertEqual([n["size"] for n in notes], [new_size], "one resize.end")
        self.assertEqual(self.user_messages(vid), [])

    def assert_rolled_back(self, vid, size=1):
        self.wait_status(vid, ("error_extending", "available", "in-use"))
        self.assertEqual(self.status_of(vid), "error_extending")
        self.assertEqual(self.volume_row(vid)["size"], size, "size unchanged")
        self.assertEqual(self.notifications(vid), [], "no resize.end")
        self.poll(lambda: self.user_messages(vid), timeout=5, msg="a user message")
        self.assertEqual(self.user_messages(vid), [("007", "010", "VOLUME_VOLUME_007_010")])

    # ---- §8.1 ----

    def test_accepted_success(self):
        vid = self.extending(file_gib=2)
        pool = self.pool_allocated()
        st, _, doc = self.complete(vid, False)
        self.assertEqual(st, 202, doc)
        self.assertIn(doc, (None, ""), "202 has no body")
        # §3.2 step 6: the shim removed both keys before the cast
        self.assertEqual(self.admin_md(vid), {}, "keys removed before the cast")
        self.assert_finalized(vid)
        self.assertEqual(self.pool_allocated(), pool + 1, "pool allocated += 1")
        self.assertEqual(self.file_size(vid), 2 * GIB)
        self.assertEqual(self.volume_row(vid)["previous_status"], "available",
                         "previous_status left as the API set it")
        self.assertEqual(self.stub_events(), [], "no compute event from a completion")
        rows = self.sql("SELECT method FROM volmgr_processed_messages "
                        "WHERE method = 'extend_volume_completion'")
        self.assertTrue(rows, "the completion cast is recorded as processed")

    def test_accepted_failure(self):
        vid = self.extending(file_gib=1)
        pool = self.pool_allocated()
        st, _, doc = self.complete(vid, True)
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.admin_md(vid), {}, "keys removed before the cast")
        self.assert_rolled_back(vid)
        self.assertEqual(self.pool_allocated(), pool, "pool stats unchanged")
        # the user sees it through GET /messages (microversion 3.3)
        st, _, doc = self.http("GET", "/v3/%s/messages" % self.PROJECT, version="3.3")
        self.assertEqual(st, 200, doc)
        mine = [m for m in doc["messages"] if m.get("resource_uuid") == vid]
        self.assertEqual(len(mine), 1, doc)
        self.assertEqual(mine[0]["event_id"], "VOLUME_VOLUME_007_010")
        self.assertEqual(mine[0]["message_level"], "ERROR")
        self.assertEqual(mine[0]["resource_type"], "VOLUME")
        self.assertIn("extend volume", mine[0].get("user_message", ""))

    def test_wrong_status_400(self):
        vid = self.extending(status="in-use")
        st, _, doc = self.complete(vid, False)
        self.assert_refused(vid, st, doc, contains="Invalid volume: Volume is not being extended.",
                            status="in-use")

    def test_missing_metadata_400(self):
        vid = self.extending(md={})
        st, _, doc = self.complete(vid, False)
        self.assert_refused(vid, st, doc, contains=MALFORMED, md={})

    def test_wrong_size_400_keeps_keys(self):
        vid = self.extending(size=2, md={EXTEND_NEW_SIZE: "1",
                                         EXTEND_RESERVATIONS: KEYS[EXTEND_RESERVATIONS]})
        st, _, doc = self.complete(vid, False)
        self.assert_refused(vid, st, doc, contains="smaller or equal to the current volume size",
                            md={EXTEND_NEW_SIZE: "1",
                                EXTEND_RESERVATIONS: KEYS[EXTEND_RESERVATIONS]})

    def test_equal_size_400_keeps_keys(self):
        md = {EXTEND_NEW_SIZE: "2", EXTEND_RESERVATIONS: KEYS[EXTEND_RESERVATIONS]}
        vid = self.extending(size=2, md=md)
        st, _, doc = self.complete(vid, False)
        self.assert_refused(vid, st, doc, md=md)

    # ---- §8.4 item 3: the API side ----

    def test_non_admin_403(self):
        vid = self.extending()
        st, _, doc = self.action(vid, {"os-extend_volume_completion": {"error": False}})
        self.assert_refused(vid, st, doc, code=403,
                            contains="Policy doesn't allow volume_extension:volume_admin_actions:"
                                     "extend_volume_completion to be performed.")

    def test_admin_role_header_is_admin(self):
        vid = self.extending(file_gib=2)
        st, _, doc = self.action(vid, {"os-extend_volume_completion": {"error": False}},
                                 token="operator:%s" % self.PROJECT, roles="admin")
        self.assertEqual(st, 202, doc)
        self.assert_finalized(vid)

    def test_missing_volume_404(self):
        missing = str(uuid.uuid4())
        st, _, doc = self.complete(missing, False)
        self.assertFault(st, doc, 404, "itemNotFound", "Volume %s could not be found." % missing)

    def test_malformed_new_size_400(self):
        for value in ("abc", "", "2.5", "-"):
            with self.subTest(extend_new_size=value):
                md = {EXTEND_NEW_SIZE: value, EXTEND_RESERVATIONS: KEYS[EXTEND_RESERVATIONS]}
                vid = self.extending(md=md)
                st, _, doc = self.complete(vid, False)
                self.assert_refused(vid, st, doc, contains=MALFORMED, md=md)

    def test_only_one_key_400(self):
        for md in ({EXTEND_NEW_SIZE: "2"}, {EXTEND_RESERVATIONS: KEYS[EXTEND_RESERVATIONS]}):
            with self.subTest(md=md):
                vid = self.extending(md=md)
                st, _, doc = self.complete(vid, False)
                self.assert_refused(vid, st, doc, contains=MALFORMED, md=md)

    def test_invalid_json_reservations_400(self):
        md = {EXTEND_NEW_SIZE: "2", EXTEND_RESERVATIONS: '["563e9e70-5f46'}
        vid = self.extending(md=md)
        st, _, doc = self.complete(vid, False)
        self.assert_refused(vid, st, doc, contains=MALFORMED, md=md)

    def test_reservations_not_a_list_400(self):
        for value in ('{"a": "563e9e70-5f46-4265-9a92-f7bca28d896c"}', '"x"', "7"):
            with self.subTest(extend_reservations=value):
                md = {EXTEND_NEW_SIZE: "2", EXTEND_RESERVATIONS: value}
                vid = self.extending(md=md)
                st, _, doc = self.complete(vid, False)
                self.assert_refused(vid, st, doc,
                                    contains="The stored quota reservations for extending the "
                                             "volume must be in a list format.", md=md)

    # ---- §8.4 item 4: schema ----

    def test_empty_object_finalizes(self):
        vid = self.extending(file_gib=2)
        st, _, doc = self.complete(vid, Ellipsis)    # {"os-extend_volume_completion": {}}
        self.assertEqual(st, 202, doc)
        self.assert_finalized(vid)

    def test_null_error_finalizes(self):
        vid = self.extending(file_gib=2)
        st, _, doc = self.complete(vid, None)
        self.assertEqual(st, 202, doc)
        self.assert_finalized(vid)

    def test_schema_refusals_400(self):
        bodies = {
            "extra property": {"os-extend_volume_completion": {"error": False, "foo": 1}},
            "error as number 1": {"os-extend_volume_completion": {"error": 1}},
            "error as number 0": {"os-extend_volume_completion": {"error": 0}},
            "error as list": {"os-extend_volume_completion": {"error": [True]}},
            "not an object": {"os-extend_volume_completion": True},
            "second top-level key": {"os-extend_volume_completion": {},
                                     "os-extend": {"new_size": 3}},
        }
        vid = self.extending()
        for what, body in bodies.items():
            with self.subTest(what):
                st, _, doc = self.admin_action(vid, body)
                self.assert_refused(vid, st, doc)
        st, _, doc = self.admin_action(vid, b'{"os-extend_volume_completion": {"error": fal')
        self.assert_refused(vid, st, doc)

    def test_no_microversion_gate(self):
        for version in ("3.0", "3.70", "3.71"):
            with self.subTest(version=version):
                vid = self.extending(file_gib=2)
                st, _, doc = self.complete(vid, False, version=version)
                self.assertEqual(st, 202, doc)
                self.assert_finalized(vid)

    # ---- §8.4 item 5: error given as a string ----

    def test_error_string_false_finalizes_safe_reading_not_upstream_truthiness(self):
        # Upstream rolls back on any non-empty string (Python truthiness); volmgr reads
        # strings with Cinder's boolean-string rules, so "false" means false.
        for value in ("false", "0", "no", ""):
            with self.subTest(error=value):
                vid = self.extending(file_gib=2)
                st, _, doc = self.complete(vid, value)
                self.assertEqual(st, 202, doc)
                self.assert_finalized(vid)

    def test_error_string_true_rolls_back(self):
        for value in ("true", "True", "1", "yes"):
            with self.subTest(error=value):
                vid = self.extending(file_gib=1)
                st, _, doc = self.complete(vid, value)
                self.assertEqual(st, 202, doc)
                self.assert_rolled_back(vid)

    def test_error_string_unknown_never_finalizes(self):
        vid = self.extending(file_gib=2)
        st, _, doc = self.complete(vid, "maybe")
        if st == 202:
            self.assert_rolled_back(vid)
        else:
            self.assert_refused(vid, st, doc)

    # ---- §8.4 item 1: success of an attached volume ----

    def test_success_with_attachment_goes_in_use(self):
        vid = self.extending(file_gib=2)
        self.insert_attachment(vid, str(uuid.uuid4()), mark_in_use=False)
        st, _, doc = self.complete(vid, False)
        self.assertEqual(st, 202, doc)
        self.assert_finalized(vid, status="in-use")
        self.assertEqual(self.stub_events(), [], "no compute event from a completion")

    def test_success_without_grown_file_is_an_error(self):
        # The filestore verifies the backing file before committing a completion.
        vid = self.extending(file_gib=1)
        st, _, doc = self.complete(vid, False)
        self.assertEqual(st, 202, doc)
        self.assert_rolled_back(vid)

    # ---- compare-and-swap ----

    def test_concurrent_completions_only_one_accepted(self):
        for attempt in range(3):
            with self.subTest(attempt=attempt):
                vid = self.extending(file_gib=2)
                n = 4
                barrier = threading.Barrier(n)
                results = [None] * n

                def go(i):
                    barrier.wait(5)
                    results[i] = self.complete(vid, False)[0]

                threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(20)
                self.assertEqual(sorted(results), [202] + [400] * (n - 1), results)
                self.assert_finalized(vid)
