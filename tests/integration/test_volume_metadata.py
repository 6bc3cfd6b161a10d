"""PUT /volumes/{id} and the volume metadata resource (api-shim/metadata.c) through the shim:
the rows written, Cinder's answers and refusals, and nothing changed by a refusal."""

import hashlib
import json

from harness import StackTestCase


class VolumeUpdateMetadataTest(StackTestCase):

    def md_path(self, vid, key=None, project=None):
        return self.vpath(vid, project, "/metadata" + ("/" + key if key else ""))

    def md_rows(self, vid):
        """The live user metadata rows of vid, as a dict."""
        return dict(self.sql("SELECT key, value FROM volume_metadata WHERE volume_id = %s "
                             "AND NOT deleted", (vid,)))

    def names(self, vid):
        return tuple(self.sql("SELECT display_name, display_description FROM volumes "
                              "WHERE id = %s", (vid,))[0])

    def other_user(self, method, path, body=None):
        """The request as a member of another project (admin=False under noauth)."""
        return self.http(method, path.replace(self.PROJECT, "other"), body=body,
                         token="intruder:other")

    # ---- PUT /volumes/{id} ----

    def test_update_name_description_metadata(self):
        vid = self.insert_volume()
        self.sql("INSERT INTO volume_metadata (created_at, deleted, volume_id, key, value) "
                 "VALUES (now(), false, %s, 'old', 'x')", (vid,))
        st, _, doc = self.http("PUT", self.vpath(vid), body={"volume": {
            "name": "  renamed  ", "display_description": "desc", "metadata": {"k": "v"}}})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["volume"]["name"], "renamed")
        self.assertEqual(doc["volume"]["description"], "desc")
        self.assertEqual(doc["volume"]["metadata"], {"k": "v"})
        self.assertEqual(doc["volume"]["id"], vid)
        self.assertEqual(self.names(vid), ("renamed", "desc"))
        # The volume's metadata is replaced, as Cinder's Volume.save does.
        self.assertEqual(self.md_rows(vid), {"k": "v"})
        # name wins over display_name; null clears.
        st, _, doc = self.http("PUT", self.vpath(vid), body={"volume": {
            "display_name": "legacy", "name": "new", "description": None}})
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.names(vid), ("new", None))
        self.assertEqual(self.md_rows(vid), {"k": "v"}, "metadata not sent, not touched")
        # An empty volume object is fine before 3.53 and refused from it.
        st, _, doc = self.http("PUT", self.vpath(vid), body={"volume": {}})
        self.assertEqual(st, 200, doc)
        st, _, doc = self.http("PUT", self.vpath(vid), body={"volume": {}}, version="3.53")
        self.assertFault(st, doc, 400, "badRequest",
                         "{} is not valid under any of the given schemas")

    def test_update_refusals_change_nothing(self):
        vid = self.insert_volume()
        before = self.names(vid)
        for body, piece in (
                ({"volume": {"size": 2}}, "Additional properties are not allowed ('size' was "
                 "unexpected)"),
                ({"volume": {"name": "x" * 256}}, "name has 256 characters, more than 255"),
                ({"volume": {"metadata": None}}, "None is not of type 'object'"),
                ({"volume": {"metadata": {"k" * 256: "v"}}},
                 "Additional properties are not allowed"),
                ({"volume": {"metadata": {"k": 1}}}, "1 is not of type 'string'"),
                ({}, "'volume' is a required property")):
            st, _, doc = self.http("PUT", self.vpath(vid), body=body)
            self.assertFault(st, doc, 400, "badRequest", piece)
        st, _, doc = self.http("PUT", self.vpath("0" * 8 + "-0000-4000-8000-" + "0" * 12),
                               body={"volume": {"name": "n"}})
        self.assertFault(st, doc, 404, "itemNotFound", "could not be found")
        st, _, doc = self.other_user("PUT", self.vpath(vid), body={"volume": {"name": "n"}})
        self.assertFault(st, doc, 404, "itemNotFound", "Volume %s could not be found." % vid)
        maint = self.insert_volume(status="maintenance")
        st, _, doc = self.http("PUT", self.vpath(maint), body={"volume": {"name": "n"}})
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid volume: The volume cannot be updated during maintenance.")
        self.assertEqual(self.names(vid), before)
        self.assertEqual(self.md_rows(vid), {})

    def test_admin_updates_another_projects_volume(self):
        vid = self.insert_volume()
        st, _, doc = self.admin("PUT", self.vpath(vid), body={"volume": {"name": "by-admin"}})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["volume"]["os-vol-tenant-attr:tenant_id"], self.PROJECT)
        self.assertEqual(self.names(vid)[0], "by-admin")

    # ---- /volumes/{id}/metadata ----

    def test_metadata_create_update_all_show_update_delete(self):
        vid = self.insert_volume()
        st, _, doc = self.http("POST", self.md_path(vid), body={"metadata": {"a": "1", "b": "2"}})
        self.assertEqual((st, doc), (200, {"metadata": {"a": "1", "b": "2"}}))
        # POST merges.
        st, _, doc = self.http("POST", self.md_path(vid), body={"metadata": {"b": "3", "c": "4"}})
        self.assertEqual((st, doc), (200, {"metadata": {"a": "1", "b": "3", "c": "4"}}))
        self.assertEqual(self.md_rows(vid), {"a": "1", "b": "3", "c": "4"})
        st, _, doc = self.http("GET", self.md_path(vid))
        self.assertEqual((st, doc), (200, {"metadata": {"a": "1", "b": "3", "c": "4"}}))
        # PUT replaces.
        st, _, doc = self.http("PUT", self.md_path(vid), body={"metadata": {"c": "5", "d": "6"}})
        self.assertEqual((st, doc), (200, {"metadata": {"c": "5", "d": "6"}}))
        self.assertEqual(self.md_rows(vid), {"c": "5", "d": "6"})
        st, _, doc = self.http("GET", self.md_path(vid, "c"))
        self.assertEqual((st, doc), (200, {"meta": {"c": "5"}}))
        st, _, doc = self.http("PUT", self.md_path(vid, "e"), body={"meta": {"e": "7"}})
        self.assertEqual((st, doc), (200, {"meta": {"e": "7"}}))
        st, _, doc = self.http("DELETE", self.md_path(vid, "c"))
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.md_rows(vid), {"d": "6", "e": "7"})
        # The volume's view shows them.
        self.assertEqual(self.get_volume(vid)["metadata"], {"d": "6", "e": "7"})

    def test_metadata_refusals_change_nothing(self):
        vid = self.insert_volume()
        self.http("POST", self.md_path(vid), body={"metadata": {"k": "v"}})
        for method, path, body, code, piece in (
                ("POST", self.md_path(vid), {"metadata": {"k" * 256: "v"}}, 400,
                 "Additional properties are not allowed ('%s' was unexpected)" % ("k" * 256)),
                ("POST", self.md_path(vid), {"metadata": {"k": "v" * 256}}, 400,
                 "is too long"),
                ("POST", self.md_path(vid), {"meta": {"k": "v"}}, 400,
                 "'metadata' is a required property"),
                ("PUT", self.md_path(vid), {"metadata": None}, 400,
                 "None is not of type 'object'"),
                ("PUT", self.md_path(vid, "k"), {"meta": {"j": "v"}}, 400,
                 "Request body and URI mismatch"),
                ("PUT", self.md_path(vid, "k"), {"meta": {"k": "v", "j": "w"}}, 400,
                 "has too many properties"),
                ("PUT", self.md_path(vid, "k"), {"meta": {}}, 400,
                 "{} does not have enough properties"),
                ("POST", self.md_path(vid), {"metadata": {"k%d" % i: "v" for i in range(64)}},
                 400, "at most 64 metadata items are supported"),
                ("GET", self.md_path(vid, "nokey"), None, 404,
                 "Volume %s has no metadata with key nokey." % vid),
                ("DELETE", self.md_path(vid, "nokey"), None, 404,
                 "Volume %s has no metadata with key nokey." % vid)):
            st, _, doc = self.http(method, path, body=body)
            self.assertFault(st, doc, code, contains=piece)
        for method, body in (("GET", None), ("POST", {"metadata": {"x": "y"}})):
            st, _, doc = self.other_user(method, self.md_path(vid), body=body)
            self.assertFault(st, doc, 404, "itemNotFound", "Volume %s could not be found." % vid)
        for status in ("maintenance", "uploading"):
            self.sql("UPDATE volumes SET status = %s WHERE id = %s", (status, vid))
            st, _, doc = self.http("POST", self.md_path(vid), body={"metadata": {"x": "y"}})
            self.assertFault(st, doc, 400, "badRequest", "Invalid volume: Updating volume "
                             "metadata is not allowed for volumes in %s status." % status)
            st, _, doc = self.http("DELETE", self.md_path(vid, "k"))
            self.assertFault(st, doc, 400, "badRequest", "Invalid volume: Deleting volume "
                             "metadata is not allowed for volumes in %s status." % status)
        self.assertEqual(self.md_rows(vid), {"k": "v"})

    def test_etag_and_if_match(self):
        vid = self.insert_volume()
        self.http("POST", self.md_path(vid), body={"metadata": {"a": "1", "c": "ü€"}})
        st, hd, doc = self.http("GET", self.md_path(vid), version="3.14")
        self.assertEqual(st, 200, doc)
        self.assertIsNone(hd.get("Etag"))
        st, hd, doc = self.http("GET", self.md_path(vid), version="3.15")
        etag = hd.get("Etag")
        # Cinder's ETag: the MD5 of the body as Python's json.dumps writes it.
        self.assertEqual(etag, hashlib.md5(json.dumps(doc).encode()).hexdigest())
        # A stale ETag is refused with 412 and nothing changes; the current one passes.
        for path, body in ((self.md_path(vid), {"metadata": {"b": "2"}}),
                           (self.md_path(vid, "a"), {"meta": {"a": "9"}})):
            st, _, doc = self.http("PUT", path, body=body, version="3.15",
                                   headers={"If-Match": '"0123"'})
            self.assertEqual(st, 412, doc)
        self.assertEqual(self.md_rows(vid), {"a": "1", "c": "ü€"})
        st, _, doc = self.http("PUT", self.md_path(vid, "a"), body={"meta": {"a": "9"}},
                               version="3.15", headers={"If-Match": '"%s"' % etag})
        self.assertEqual(st, 200, doc)
        # Before 3.15 the header means nothing.
        st, _, doc = self.http("PUT", self.md_path(vid), body={"metadata": {"b": "2"}},
                               version="3.14", headers={"If-Match": '"%s"' % etag})
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.md_rows(vid), {"b": "2"})
