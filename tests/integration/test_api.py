"""The api-shim's HTTP surface other than extend: version discovery and microversions,
authentication, volume create/show/list/delete, messages, quota sets, fault bodies and
os-reset_status (docs/cinder.md §4.1, §4.4, §4.5; issue 2, "api-shim")."""

import uuid

from harness import DEFAULT_TYPE, GIB, StackTestCase

MAX_VERSION = "3.71"


class ApiTest(StackTestCase):

    # ---- version discovery ----

    def find_v3(self, doc):
        versions = doc.get("versions") if isinstance(doc, dict) else None
        self.assertIsInstance(versions, list, doc)
        v3 = [v for v in versions if v.get("id") == "v3.0"]
        self.assertEqual(len(v3), 1, doc)
        return v3[0]

    def test_root_lists_versions_300(self):
        st, _, doc = self.http("GET", "/", token=None)
        self.assertEqual(st, 300, doc)
        v3 = self.find_v3(doc)
        self.assertEqual(v3["version"], MAX_VERSION)
        self.assertEqual(v3["min_version"], "3.0")
        self.assertEqual(v3["status"], "CURRENT")

    def test_v3_root(self):
        st, _, doc = self.http("GET", "/v3/", token=None)
        self.assertEqual(st, 200, doc)
        v3 = self.find_v3(doc)
        self.assertEqual(v3["version"], MAX_VERSION)
        self.assertEqual(v3["min_version"], "3.0")

    # ---- microversions ----

    def list_path(self):
        return "/v3/%s/volumes" % self.PROJECT

    def test_microversion_echo_and_vary(self):
        for sent, echoed in ((None, "3.0"), ("3.0", "3.0"), ("3.42", "3.42"),
                             (MAX_VERSION, MAX_VERSION), ("latest", MAX_VERSION)):
            with self.subTest(version=sent):
                st, hd, doc = self.http("GET", self.list_path(), version=sent)
                self.assertEqual(st, 200, doc)
                self.assertEqual(hd.get("OpenStack-API-Version"), "volume " + echoed)
                self.assertIn("OpenStack-API-Version", hd.get("Vary") or "")

    def test_bad_microversion_400(self):
        for bad in ("3", "3.x", "three", "3.0.1"):
            with self.subTest(version=bad):
                st, hd, doc = self.http("GET", self.list_path(), version=bad)
                self.assertFault(st, doc, 400, "badRequest")

    def test_microversion_out_of_range_406(self):
        for far in ("3.72", "2.0", "4.0"):
            with self.subTest(version=far):
                st, hd, doc = self.http("GET", self.list_path(), version=far)
                self.assertEqual(st, 406, doc)
                self.assertIn("OpenStack-API-Version", hd.get("Vary") or "")

    def test_fault_echoes_microversion(self):
        missing = str(uuid.uuid4())
        st, hd, doc = self.http("GET", self.vpath(missing), version="3.50")
        self.assertFault(st, doc, 404, "itemNotFound", "Volume %s could not be found." % missing)
        self.assertEqual(hd.get("OpenStack-API-Version"), "volume 3.50")
        self.assertIn("OpenStack-API-Version", hd.get("Vary") or "")

    # ---- authentication ----

    def test_no_token_401(self):
        st, _, doc = self.http("GET", self.list_path(), token=None)
        self.assertFault(st, doc, 401, "unauthorized")

    def test_malformed_token_401(self):
        st, _, doc = self.http("GET", self.list_path(), token="no-colon-here")
        self.assertIn(st, (400, 401), doc)

    def test_project_less_urls(self):
        # Cinder accepts /v3/<resource> without the project (3.67 advertises it); the
        # project is the token's. python-cinderclient's noauth plugin with --os-endpoint
        # http://host:port/v3 sends exactly these.
        vid = self.insert_volume(size=1, file_gib=1)
        st, _, doc = self.http("GET", "/v3/volumes/%s" % vid, version="3.70")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["volume"]["id"], vid)
        st, _, doc = self.http("GET", "/v3/volumes/detail", version="3.70")
        self.assertEqual(st, 200, doc)
        self.assertEqual([v["id"] for v in doc["volumes"]], [vid])
        st, _, doc = self.http("POST", "/v3/volumes/%s/action" % vid, version="3.70",
                               body={"os-extend": {"new_size": 2}})
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")

    def test_project_mismatch_400(self):
        st, _, doc = self.http("GET", "/v3/otherproject/volumes",
                               token="%s:%s" % (self.USER, self.PROJECT))
        self.assertFault(st, doc, 400, "badRequest")

    # ---- volumes ----

    def test_create_show_list_delete(self):
        st, _, doc = self.http("POST", self.list_path(),
                               body={"volume": {"size": 1, "name": "apivol",
                                                "description": "made by test_api"}})
        self.assertEqual(st, 202, doc)
        vol = doc["volume"]
        vid = vol["id"]
        self.assertEqual(str(uuid.UUID(vid)), vid)
        self.assertEqual(vol["size"], 1)
        self.assertEqual(vol["name"], "apivol")
        self.wait_status(vid, "available")
        self.assertEqual(self.file_size(vid), 1 * GIB, "backing file created")
        self.assertEqual(self.usage("volumes"), (1, 0))
        self.assertEqual(self.usage("gigabytes"), (1, 0))
        self.assertEqual(self.usage("gigabytes_" + DEFAULT_TYPE), (1, 0))
        row = self.sql("SELECT project_id, user_id, host, availability_zone, volume_type_id "
                       "FROM volumes WHERE id = %s", (vid,))[0]
        self.assertEqual(row[:4], (self.PROJECT, self.USER, self.volume_host, "nova"))
        self.assertEqual(row[4], self.default_type_id())

        st, _, doc = self.http("GET", self.vpath(vid))
        self.assertEqual(st, 200, doc)
        shown = doc["volume"]
        self.assertEqual((shown["id"], shown["size"], shown["status"], shown["name"]),
                         (vid, 1, "available", "apivol"))
        self.assertEqual(shown["description"], "made by test_api")
        self.assertEqual(shown["availability_zone"], "nova")
        self.assertEqual(shown["volume_type"], DEFAULT_TYPE)
        self.assertEqual(shown["attachments"], [])
        self.assertIsInstance(shown["metadata"], dict)

        st, _, doc = self.http("GET", self.list_path())
        self.assertEqual(st, 200, doc)
        self.assertIn(vid, [v["id"] for v in doc["volumes"]])
        st, _, doc = self.http("GET", self.list_path() + "/detail")
        self.assertEqual(st, 200, doc)
        detail = [v for v in doc["volumes"] if v["id"] == vid]
        self.assertEqual(len(detail), 1, doc)
        self.assertEqual((detail[0]["size"], detail[0]["status"]), (1, "available"))

        # another project sees nothing of it
        other = "other" + self.PROJECT
        st, _, doc = self.http("GET", "/v3/%s/volumes/%s" % (other, vid),
                               token="user2:%s" % other)
        self.assertFault(st, doc, 404, "itemNotFound")
        st, _, doc = self.http("GET", "/v3/%s/volumes/detail" % other, token="user2:%s" % other)
        self.assertEqual(st, 200, doc)
        self.assertNotIn(vid, [v["id"] for v in doc["volumes"]])

        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["deleted"], msg="volume row soft-deleted")
        self.poll(lambda: self.file_size(vid) is None, timeout=5, msg="backing file removed")
        self.poll(lambda: self.usage("gigabytes") == (0, 0), timeout=5, msg="gigabytes back")
        self.assertEqual(self.usage("volumes"), (0, 0))
        st, _, doc = self.http("GET", self.vpath(vid))
        self.assertFault(st, doc, 404, "itemNotFound")

    def test_multibyte_text_at_the_column_limit(self):
        """varchar(255) counts characters: 200 x "é" (400 bytes) is a valid name and metadata
        value. Show must return it intact, and the extend cast (which carries the name in the
        Volume primitive) must reach the manager as valid UTF-8."""
        text = "\u00e9" * 200
        st, _, doc = self.http("POST", self.list_path(),
                               body={"volume": {"size": 1, "name": text,
                                                "metadata": {"note": text}}})
        self.assertEqual(st, 202, doc)
        vid = doc["volume"]["id"]
        self.assertEqual(doc["volume"]["name"], text)
        self.wait_status(vid, "available")

        shown = self.get_volume(vid, admin=False)
        self.assertEqual(shown["name"], text)
        self.assertEqual(shown["metadata"].get("note"), text)

        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="extended to 2 GiB")
        self.wait_status(vid, "available")
        self.assertEqual(self.file_size(vid), 2 * GIB)
        self.assertEqual(self.get_volume(vid)["size"], 2)

    def test_create_refusals(self):
        for what, body in (("size 0", {"volume": {"size": 0}}),
                           ("size string", {"volume": {"size": "big"}}),
                           ("no volume key", {"size": 1}),
                           ("not JSON", b"{volume")):
            with self.subTest(what):
                st, _, doc = self.http("POST", self.list_path(), body=body)
                self.assertFault(st, doc, 400, "badRequest")

    def test_create_over_quota_413(self):
        self.volctl_ok("quota-set", self.PROJECT, "gigabytes", "1")
        st, hd, doc = self.http("POST", self.list_path(), body={"volume": {"size": 2}})
        self.assertFault(st, doc, 413, "overLimit")

    def test_delete_missing_404(self):
        st, _, doc = self.http("DELETE", self.vpath(str(uuid.uuid4())))
        self.assertFault(st, doc, 404, "itemNotFound")

    def test_delete_extending_400(self):
        vid = self.create_volume(1)
        self.sql("UPDATE volumes SET status = 'extending' WHERE id = %s", (vid,))
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertFault(st, doc, 400, "badRequest")
        self.assertEqual(self.status_of(vid), "extending")
        self.assertIsNotNone(self.file_size(vid))

    # ---- messages ----

    def test_messages_need_3_3(self):
        st, _, doc = self.http("GET", "/v3/%s/messages" % self.PROJECT, version="3.2")
        self.assertFault(st, doc, 404, "itemNotFound")
        st, _, doc = self.http("GET", "/v3/%s/messages" % self.PROJECT)
        self.assertFault(st, doc, 404, "itemNotFound")
        st, _, doc = self.http("GET", "/v3/%s/messages" % self.PROJECT, version="3.3")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["messages"], [])

    # ---- quota sets ----

    def test_quota_set_with_usage(self):
        self.volctl_ok("quota-set", self.PROJECT, "gigabytes", "50")
        self.create_volume(2)
        st, _, doc = self.http("GET", "/v3/%s/os-quota-sets/%s?usage=true"
                               % (self.PROJECT, self.PROJECT))
        self.assertEqual(st, 200, doc)
        qs = doc["quota_set"]
        self.assertEqual(qs["id"], self.PROJECT)
        self.assertEqual((qs["gigabytes"]["limit"], qs["gigabytes"]["in_use"],
                          qs["gigabytes"]["reserved"]), (50, 2, 0))
        self.assertEqual((qs["volumes"]["limit"], qs["volumes"]["in_use"]), (10, 1))
        self.assertEqual(qs["per_volume_gigabytes"]["limit"], -1)
        per_type = qs["gigabytes_" + DEFAULT_TYPE]
        self.assertEqual((per_type["limit"], per_type["in_use"]), (-1, 2))

    def test_quota_set_without_usage(self):
        st, _, doc = self.http("GET", "/v3/%s/os-quota-sets/%s" % (self.PROJECT, self.PROJECT))
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["quota_set"]["gigabytes"], 1000)
        self.assertEqual(doc["quota_set"]["volumes"], 10)

    # ---- generic action handling and fault bodies ----

    def test_action_body_refusals(self):
        vid = self.create_volume(1)
        cases = {
            "unknown action": ({"os-frobnicate": {}}, "There is no such action: os-frobnicate"),
            "empty object": ({}, None),
            "not JSON": (b"{os-extend", None),
            "JSON list": ([{"os-extend": {"new_size": 2}}], None),
        }
        for what, (body, contains) in cases.items():
            with self.subTest(what):
                st, _, doc = self.action(vid, body)
                self.assertFault(st, doc, 400, "badRequest", contains)
        self.assertEqual(self.status_of(vid), "available")

    def test_unknown_route_404(self):
        st, _, doc = self.http("GET", "/v3/%s/frobnicators" % self.PROJECT)
        self.assertEqual(st, 404, doc)

    # ---- os-reset_status ----

    def test_reset_status(self):
        vid = self.create_volume(1)
        st, _, doc = self.reset_status(vid, "error")
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.status_of(vid), "error")
        st, _, doc = self.reset_status(vid, "available")
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.status_of(vid), "available")

    def test_reset_status_non_admin_403(self):
        vid = self.create_volume(1)
        st, _, doc = self.action(vid, {"os-reset_status": {"status": "error"}})
        self.assertFault(st, doc, 403, "forbidden",
                         "Policy doesn't allow volume_extension:volume_admin_actions:"
                         "reset_status to be performed.")
        self.assertEqual(self.status_of(vid), "available")

    def test_reset_status_deleting_400(self):
        vid = self.create_volume(1)
        st, _, doc = self.reset_status(vid, "deleting")
        self.assertFault(st, doc, 400, "badRequest")
        self.assertEqual(self.status_of(vid), "available")

    def test_reset_status_in_use_without_attachments_400(self):
        vid = self.create_volume(1)
        st, _, doc = self.reset_status(vid, "in-use")
        self.assertFault(st, doc, 400, "badRequest")
        self.assertEqual(self.status_of(vid), "available")
        self.attach(vid, register=False)
        self.sql("UPDATE volumes SET status = 'error' WHERE id = %s", (vid,))
        st, _, doc = self.reset_status(vid, "in-use")
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.status_of(vid), "in-use")

    def test_reset_status_missing_volume_404(self):
        st, _, doc = self.reset_status(str(uuid.uuid4()), "available")
        self.assertFault(st, doc, 404, "itemNotFound")

    def test_reset_status_of_sql_extending_volume(self):
        # from extending: the pending reservations are rolled back and the keys removed
        vid = self.create_volume(1)
        usages = self.gb_usages()
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2")
        self.sql("UPDATE volumes SET status = 'extending' WHERE id = %s", (vid,))
        self.set_admin_md(vid, "extend_new_size", "3")
        self.set_admin_md(vid, "extend_reservations", '["%s"]' % uuid.uuid4())
        st, _, doc = self.reset_status(vid, "available")
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.status_of(vid), "available")
        md = self.admin_md(vid)
        self.assertNotIn("extend_new_size", md)
        self.assertNotIn("extend_reservations", md)
        self.assertEqual(self.usage("gigabytes"), (usages["gigabytes"][0] + 1, 0))

    # ---- the manager's service record ----

    def test_manager_heartbeat(self):
        def beat():
            return self.sql("SELECT report_count, updated_at FROM services WHERE host = %s "
                            "AND deleted IS NOT TRUE", (self.service_host,))
        first = beat()
        self.assertEqual(len(first), 1, "one services row for %s" % self.service_host)
        self.poll(lambda: beat()[0] != first[0], timeout=5,
                  msg="the heartbeat refreshes the services row (report_interval 1)")
        row = self.sql('SELECT "binary", topic, disabled FROM services WHERE host = %s',
                       (self.service_host,))[0]
        self.assertEqual(row[0], "cinder-volume")


class PublishFailureTest(StackTestCase):
    """A cast the broker does not confirm is never answered 202: the shim rolls the status
    transition and the reservation back and answers 503 (issue 2, os-extend)."""

    def restore_exchange(self):
        with self.amqp() as ch:
            ch.exchange_declare(exchange=self.exchange, exchange_type="topic", durable=True)
            for q in self.service_queues:
                ch.queue_bind(queue=q, exchange=self.exchange, routing_key=q)

    def test_create_taken_by_manager_despite_failed_publish_202(self):
        """When the create's publish is not confirmed but the manager took the volume anyway
        (no longer creating when the shim comes to undo it), the create stands: 202 with the
        volume, no 503 that a client would retry into a second volume. A trigger plays the
        manager that won the race."""
        self.sql("CREATE FUNCTION it_taken() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                 "IF NEW.display_name = 'taken-by-manager' THEN NEW.status := 'available'; "
                 "END IF; RETURN NEW; END $$")
        self.sql("CREATE TRIGGER it_taken BEFORE INSERT ON volumes FOR EACH ROW "
                 "EXECUTE FUNCTION it_taken()")
        try:
            with self.amqp() as ch:
                ch.exchange_delete(exchange=self.exchange)
            st, _, doc = self.http("POST", "/v3/%s/volumes" % self.PROJECT,
                                   body={"volume": {"size": 1, "name": "taken-by-manager"}})
        finally:
            self.sql("DROP TRIGGER it_taken ON volumes")
            self.sql("DROP FUNCTION it_taken()")
            self.restore_exchange()
        self.assertEqual(st, 202, doc)
        vid = doc["volume"]["id"]
        self.assertEqual(doc["volume"]["status"], "available")
        self.assertEqual(self.volume_row(vid)["deleted"], False)
        self.assertEqual(self.usage("volumes"), (1, 0), "quota kept for the volume")

    def test_unconfirmed_publish_503_then_recovers(self):
        vid = self.insert_volume(size=1, file_gib=1)
        usages = self.gb_usages()
        with self.amqp() as ch:
            ch.exchange_delete(exchange=self.exchange)
        st, _, doc = self.extend(vid, 2)
        self.assertFault(st, doc, 503, "serviceUnavailable")
        self.assertEqual(self.status_of(vid), "available", "transition rolled back")
        self.assertEqual(self.gb_usages(), usages, "reservation rolled back")
        self.assertEqual(self.live_reservations(), [])

        # the broker is back: the shim publishes again
        self.restore_exchange()
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="extended after recovery")
        self.wait_status(vid, "available")
