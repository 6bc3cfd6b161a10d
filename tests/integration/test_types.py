"""The volume type resource and its extra specs (api-shim/types.c, api-shim/vtype.c) through
the shim: admins write, members read what Cinder lets them see, every refusal with Cinder's
code and message and nothing changed, the rows in PostgreSQL."""

import uuid

from harness import StackTestCase


class VolumeTypesTest(StackTestCase):

    def tpath(self, suffix=""):
        return "/v3/%s/types%s" % (self.PROJECT, suffix)

    def create_type(self, name=None, **fields):
        body = {"volume_type": dict(name=name or "t-" + uuid.uuid4().hex[:8], **fields)}
        st, _, doc = self.admin("POST", self.tpath(), body=body)
        self.assertEqual(st, 200, doc)
        return doc["volume_type"]

    def live_type(self, type_id):
        rows = self.sql("SELECT name, description, is_public FROM volume_types WHERE id = %s "
                        "AND NOT deleted", (type_id,))
        return tuple(rows[0]) if rows else None

    def specs(self, type_id):
        return dict(self.sql("SELECT key, value FROM volume_type_extra_specs WHERE "
                             "volume_type_id = %s AND NOT deleted", (type_id,)))

    def grant(self, type_id, project):
        self.sql("INSERT INTO volume_type_projects (created_at, volume_type_id, project_id, "
                 "deleted) VALUES (now(), %s, %s, 0)", (type_id, project))

    def test_create_show_list_as_admin_and_member(self):
        t = self.create_type(description="fast", extra_specs={
            "volume_backend_name": "filestore", "multiattach": "<is> True", "RESKEY k": None})
        self.assertEqual(t["extra_specs"], {"volume_backend_name": "filestore",
                                            "multiattach": "<is> True", "RESKEY k": None})
        self.assertEqual((t["description"], t["is_public"]), ("fast", True))
        self.assertEqual(self.live_type(t["id"]), (t["name"], "fast", True))
        self.assertEqual(self.specs(t["id"]), {"volume_backend_name": "filestore",
                                               "multiattach": "<is> True", "RESKEY k": None})
        # A member sees the type and only Cinder's user-visible specs; no qos_specs_id.
        st, _, doc = self.http("GET", self.tpath("/" + t["id"]))
        self.assertEqual((st, doc), (200, {"volume_type": {
            "id": t["id"], "name": t["name"], "is_public": True, "description": "fast",
            "extra_specs": {"multiattach": "<is> True"},
            "os-volume-type-access:is_public": True}}))
        st, _, doc = self.admin("GET", self.tpath("/" + t["id"]))
        self.assertEqual(doc["volume_type"]["qos_specs_id"], None)
        self.assertEqual(len(doc["volume_type"]["extra_specs"]), 3)
        # The default type, by the configured name.
        st, _, doc = self.http("GET", self.tpath("/default"))
        self.assertEqual((st, doc["volume_type"]["id"]), (200, self.default_type_id()))
        # A private type: listed and shown to admins, to members only with access.
        private = self.create_type(**{"os-volume-type-access:is_public": False})
        self.assertFalse(private["is_public"])
        st, _, doc = self.http("GET", self.tpath())
        member_ids = [v["id"] for v in doc["volume_types"]]
        self.assertIn(t["id"], member_ids)
        self.assertNotIn(private["id"], member_ids)
        st, _, doc = self.http("GET", self.tpath("/" + private["id"]))
        self.assertFault(st, doc, 404, "itemNotFound",
                         "Volume type %s could not be found." % private["id"])
        st, _, doc = self.admin("GET", self.tpath("?is_public=false"))
        self.assertEqual([v["id"] for v in doc["volume_types"]], [private["id"]])
        st, _, doc = self.admin("GET", self.tpath("?is_public=none"))
        self.assertIn(private["id"], [v["id"] for v in doc["volume_types"]])
        st, _, doc = self.admin("GET", self.tpath("?is_public=bogus"))
        self.assertFault(st, doc, 400, "badRequest", "Invalid is_public filter [bogus]")
        self.grant(private["id"], self.PROJECT)
        st, _, doc = self.http("GET", self.tpath())
        self.assertIn(private["id"], [v["id"] for v in doc["volume_types"]])
        st, _, doc = self.http("GET", self.tpath("/" + private["id"]))
        self.assertEqual(st, 200, doc)
        # A member without access cannot create a volume of a private type either.
        other = self.create_type(**{"os-volume-type-access:is_public": False})
        st, _, doc = self.http("POST", "/v3/%s/volumes" % self.PROJECT,
                               body={"volume": {"size": 1, "volume_type": other["name"]}})
        self.assertFault(st, doc, 404, "itemNotFound",
                         "Volume type with name %s could not be found." % other["name"])

    def test_list_pages(self):
        for _ in range(3):
            self.create_type()
        st, _, doc = self.admin("GET", self.tpath("?is_public=none&sort=name:asc&limit=2"))
        self.assertEqual(st, 200, doc)
        names = [v["name"] for v in doc["volume_types"]]
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(names), 2)
        link = doc["volume_type_links"][0]
        self.assertEqual(link["rel"], "next")
        marker = doc["volume_types"][-1]["id"]
        self.assertIn("marker=" + marker, link["href"])
        st, _, doc = self.admin("GET", self.tpath("?is_public=none&sort=name:asc&marker=" +
                                                  marker))
        rest = [v["name"] for v in doc["volume_types"]]
        self.assertTrue(rest and rest[0] > names[-1], (names, rest))
        st, _, doc = self.admin("GET", self.tpath("?marker=" + str(uuid.uuid4())))
        self.assertFault(st, doc, 404, "itemNotFound")
        st, _, doc = self.admin("GET", self.tpath("?sort=bogus"))
        self.assertFault(st, doc, 400, "badRequest", "Invalid sort key")

    def test_update_and_quota_rename(self):
        t = self.create_type(name="before-" + uuid.uuid4().hex[:6])
        self.sql("INSERT INTO quota_usages (created_at, deleted, project_id, resource, in_use, "
                 "reserved) VALUES (now(), false, %s, %s, 1, 0)",
                 (self.PROJECT, "gigabytes_" + t["name"]))
        new = "after-" + uuid.uuid4().hex[:6]
        # A deleted type of the new name left its rows: the renamed type's replace them.
        self.sql("INSERT INTO quota_usages (created_at, deleted, project_id, resource, in_use, "
                 "reserved) VALUES (now(), false, %s, %s, 7, 0)",
                 (self.PROJECT, "gigabytes_" + new))
        self.sql("INSERT INTO quotas (created_at, deleted, project_id, resource, hard_limit) "
                 "VALUES (now(), false, %s, %s, 3)", (self.PROJECT, "gigabytes_" + new))
        st, _, doc = self.admin("PUT", self.tpath("/" + t["id"]), body={"volume_type": {
            "name": new, "description": "d2", "is_public": "false"}})
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.sql_value(
            "SELECT count(*) FROM quota_usages WHERE resource = %s AND NOT deleted",
            ("gigabytes_" + new,)), 1)
        self.assertEqual(self.sql_value(
            "SELECT count(*) FROM quotas WHERE resource = %s AND NOT deleted",
            ("gigabytes_" + new,)), 0)
        self.assertEqual((doc["volume_type"]["name"], doc["volume_type"]["is_public"]),
                         (new, False))
        self.assertEqual(self.live_type(t["id"]), (new, "d2", False))
        self.assertEqual(self.usage("gigabytes_" + new), (1, 0))
        self.assertEqual(self.usage("gigabytes_" + t["name"]), (0, 0))
        taken = self.create_type()
        for body, code, piece in (
                ({"volume_type": {"name": taken["name"]}}, 409,
                 "Volume Type %s already exists." % taken["name"]),
                ({"volume_type": {"name": "   "}}, 400, "Volume type name can not be empty."),
                ({"volume_type": {}}, 400, "Specify volume type name, description, is_public "
                 "or a combination thereof."),
                ({"volume_type": {"is_public": "maybe"}}, 400, "'maybe' is not one of"),
                ({"volume_type": {"extra_specs": {}}}, 400,
                 "Additional properties are not allowed ('extra_specs' was unexpected)")):
            st, _, doc = self.admin("PUT", self.tpath("/" + t["id"]), body=body)
            self.assertFault(st, doc, code, contains=piece)
        self.assertEqual(self.live_type(t["id"]), (new, "d2", False))
        st, _, doc = self.admin("PUT", self.tpath("/" + str(uuid.uuid4())),
                                body={"volume_type": {"description": "x"}})
        self.assertFault(st, doc, 404, "itemNotFound", "could not be found")

    def test_create_refusals(self):
        t = self.create_type()
        before = self.sql_value("SELECT count(*) FROM volume_types")
        for body, code, piece in (
                ({"volume_type": {"name": t["name"]}}, 409,
                 "Volume Type %s already exists." % t["name"]),
                ({"volume_type": {"name": ""}}, 400, "'' is too short"),
                ({"volume_type": {"name": "  "}}, 400,
                 "An invalid 'name' value was provided. The 'name' can not be empty."),
                ({"volume_type": {"name": "x" * 256}}, 400, "is too long"),
                ({"volume_type": {"description": "d"}}, 400, "'name' is a required property"),
                ({"volume_type": {"name": "n", "extra_specs": {"k" * 256: "v"}}}, 400,
                 "Additional properties are not allowed"),
                ({"volume_type": {"name": "n", "extra_specs": {"k": 5}}}, 400,
                 "5 is not of type 'string', 'null'"),
                ({"volume_types": {"name": "n"}}, 400, "'volume_type' is a required property")):
            st, _, doc = self.admin("POST", self.tpath(), body=body)
            self.assertFault(st, doc, code, contains=piece)
        st, _, doc = self.http("POST", self.tpath(), body={"volume_type": {"name": "mine"}})
        self.assertFault(st, doc, 403, "forbidden",
                         "Policy doesn't allow volume_extension:type_create to be performed.")
        self.assertEqual(self.sql_value("SELECT count(*) FROM volume_types"), before)

    def test_delete(self):
        t = self.create_type(extra_specs={"a": "1"})
        default_id = self.default_type_id()
        st, _, doc = self.http("DELETE", self.tpath("/" + t["id"]))
        self.assertFault(st, doc, 403, "forbidden",
                         "Policy doesn't allow volume_extension:type_delete to be performed.")
        st, _, doc = self.admin("DELETE", self.tpath("/" + default_id))
        self.assertFault(st, doc, 400, "badRequest", "The volume type %s is a default volume "
                         "type and cannot be deleted." % default_id)
        vid = self.insert_volume(volume_type_id=t["id"])
        st, _, doc = self.admin("DELETE", self.tpath("/" + t["id"]))
        self.assertFault(st, doc, 400, "badRequest", "Target volume type is still in use.")
        self.assertIsNotNone(self.live_type(t["id"]))
        self.sql("UPDATE volumes SET deleted = true WHERE id = %s", (vid,))
        st, _, doc = self.admin("DELETE", self.tpath("/" + t["id"]))
        self.assertEqual(st, 202, doc)
        self.assertIsNone(self.live_type(t["id"]))
        self.assertEqual(self.specs(t["id"]), {})
        st, _, doc = self.admin("DELETE", self.tpath("/" + t["id"]))
        self.assertFault(st, doc, 404, "itemNotFound",
                         "Volume type %s could not be found." % t["id"])

    def test_extra_specs(self):
        t = self.create_type(extra_specs={"multiattach": "<is> False"})
        sp = self.tpath("/%s/extra_specs" % t["id"])
        st, _, doc = self.admin("POST", sp, body={"extra_specs": {"RESKEY:x": "1",
                                                                  "replication_enabled": "t"}})
        self.assertEqual((st, doc), (200, {"extra_specs": {"RESKEY:x": "1",
                                                           "replication_enabled": "t"}}))
        st, _, doc = self.admin("PUT", sp + "/RESKEY:x", body={"RESKEY:x": "2"})
        self.assertEqual((st, doc), (200, {"RESKEY:x": "2"}))
        self.assertEqual(self.specs(t["id"]), {"multiattach": "<is> False", "RESKEY:x": "2",
                                               "replication_enabled": "t"})
        st, _, doc = self.admin("GET", sp)
        self.assertEqual(doc["extra_specs"], self.specs(t["id"]))
        # Members read the user-visible specs only, and write none.
        st, _, doc = self.http("GET", sp)
        self.assertEqual((st, doc), (200, {"extra_specs": {"multiattach": "<is> False",
                                                           "replication_enabled": "t"}}))
        st, _, doc = self.http("GET", sp + "/multiattach")
        self.assertEqual((st, doc), (200, {"multiattach": "<is> False"}))
        st, _, doc = self.http("GET", sp + "/RESKEY:x")
        self.assertFault(st, doc, 404, "itemNotFound", "Volume Type %s has no extra specs "
                         "with key RESKEY:x." % t["id"])
        for method, path, body, policy in (
                ("POST", sp, {"extra_specs": {"a": "b"}}, "create"),
                ("PUT", sp + "/RESKEY:x", {"RESKEY:x": "3"}, "update"),
                ("DELETE", sp + "/RESKEY:x", None, "delete")):
            st, _, doc = self.http(method, path, body=body)
            self.assertFault(st, doc, 403, "forbidden", "Policy doesn't allow "
                             "volume_extension:types_extra_specs:%s to be performed." % policy)
        # Refusals of admins.
        for method, path, body, code, piece in (
                ("PUT", sp + "/RESKEY:x", {"other": "3"}, 400, "Request body and URI mismatch"),
                ("PUT", sp + "/RESKEY:x", {"RESKEY:x": "3", "b": "4"}, 400,
                 "has too many properties"),
                ("POST", sp, {"extra_specs": {"a b": "1"}}, 400,
                 "Additional properties are not allowed ('a b' was unexpected)"),
                ("POST", sp, {"extra_specs": {"cacheable": "<is> True",
                                             "multiattach": "<is> True"}}, 400,
                 "cacheable cannot be set with multiattach."),
                ("DELETE", sp + "/nokey", None, 404,
                 "Volume Type %s has no extra specs with key nokey." % t["id"])):
            st, _, doc = self.admin(method, path, body=body)
            self.assertFault(st, doc, code, contains=piece)
        self.assertEqual(self.specs(t["id"])["RESKEY:x"], "2")
        st, _, doc = self.admin("DELETE", sp + "/RESKEY:x")
        self.assertEqual(st, 202, doc)
        self.assertNotIn("RESKEY:x", self.specs(t["id"]))
        # No spec changes while a volume has the type.
        self.insert_volume(volume_type_id=t["id"])
        st, _, doc = self.admin("POST", sp, body={"extra_specs": {"a": "b"}})
        self.assertFault(st, doc, 400, "badRequest", "Volume Type is currently in use.")
        st, _, doc = self.admin("DELETE", sp + "/multiattach")
        self.assertFault(st, doc, 400, "badRequest", "Volume Type is currently in use.")
        self.assertEqual(self.specs(t["id"]), {"multiattach": "<is> False",
                                               "replication_enabled": "t"})

    def test_type_access(self):
        private = self.create_type(**{"os-volume-type-access:is_public": False})
        public = self.create_type()
        self.assertEqual(public["os-volume-type-access:is_public"], True)
        member = str(uuid.uuid4())
        act = self.tpath("/%s/action" % private["id"])
        access = self.tpath("/%s/os-volume-type-access" % private["id"])
        st, _, doc = self.admin("POST", act, body={"addProjectAccess": {"project": member}})
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.sql_value("SELECT count(*) FROM volume_type_projects WHERE "
                                        "volume_type_id = %s AND project_id = %s AND "
                                        "deleted = 0", (private["id"], member)), 1)
        st, _, doc = self.admin("GET", access)
        self.assertEqual((st, doc), (200, {"volume_type_access": [
            {"volume_type_id": private["id"], "project_id": member}]}))
        # The member's project now sees the type.
        st, _, doc = self.http("GET", "/v3/%s/types/%s" % (member, private["id"]),
                               token="user:%s" % member)
        self.assertEqual(st, 200, doc)
        self.assertFalse(doc["volume_type"]["os-volume-type-access:is_public"])
        for token, body, code, piece in (
                ("admin", {"addProjectAccess": {"project": member}}, 409,
                 "Volume type access for %s / %s combination already exists."
                 % (private["id"], member)),
                ("admin", {"addProjectAccess": {"project": "not-a-uuid"}}, 400,
                 "'not-a-uuid' is not a 'uuid'"),
                ("admin", {"grantAccess": {"project": member}}, 400,
                 "There is no such action: grantAccess"),
                (None, {"removeProjectAccess": {"project": member}}, 403,
                 "Policy doesn't allow volume_extension:volume_type_access:removeProjectAccess")):
            st, _, doc = self.http("POST", act, body=body, token=token and "%s:%s" % (
                token, self.PROJECT) or "%s:%s" % (self.USER, self.PROJECT))
            self.assertFault(st, doc, code, contains=piece)
        st, _, doc = self.admin("POST", self.tpath("/%s/action" % public["id"]),
                                body={"addProjectAccess": {"project": member}})
        self.assertFault(st, doc, 400, "badRequest", "Invalid volume type: Type access "
                         "modification is not applicable to public volume type.")
        st, _, doc = self.admin("GET", self.tpath("/%s/os-volume-type-access" % public["id"]))
        self.assertFault(st, doc, 404, "itemNotFound",
                         "Access list not available for public volume types.")
        st, _, doc = self.http("GET", access)
        self.assertFault(st, doc, 403, "forbidden")
        st, _, doc = self.admin("POST", act, body={"removeProjectAccess": {"project": member}})
        self.assertEqual(st, 202, doc)
        st, _, doc = self.admin("POST", act, body={"removeProjectAccess": {"project": member}})
        self.assertFault(st, doc, 404, "itemNotFound", "Volume type access not found")
        st, _, doc = self.http("GET", "/v3/%s/types/%s" % (member, private["id"]),
                               token="user:%s" % member)
        self.assertFault(st, doc, 404, "itemNotFound")
