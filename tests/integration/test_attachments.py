"""The attachments API (issue 12): POST/GET/PUT/DELETE /attachments and os-complete, their
views, filters and pages, both front doors on one volume, and bad input answered with
Cinder's errors and nothing changed in the database.
"""

import uuid

from harness import StackTestCase

CONNECTOR = {"host": "compute1", "ip": "127.0.0.1", "initiator": None, "platform": "x86_64",
             "os_type": "linux", "multipath": False, "mountpoint": "/dev/vdb"}
SERVICE = {"X-Service-Token": "nova:service", "X-Service-Roles": "service"}


class AttachmentsCase(StackTestCase):
    """Helpers for the attachments API; no tests of its own."""

    stub_auto_complete = True

    def apath(self, suffix="", project=None):
        return "/v3/%s/attachments%s" % (project or self.PROJECT, suffix)

    def att(self, method, suffix="", body=None, version="3.44", project=None, token=None,
            headers=None):
        project = project or self.PROJECT
        return self.http(method, self.apath(suffix, project), body=body, version=version,
                         token=token or "%s:%s" % (self.USER, project), headers=headers)

    def create(self, vid, instance=None, connector=None, mode=None, version="3.44", code=200,
               **kw):
        body = {"volume_uuid": vid}
        if instance is not None:
            body["instance_uuid"] = instance
        if connector is not None:
            body["connector"] = connector
        if mode is not None:
            body["mode"] = mode
        st, _, doc = self.att("POST", body={"attachment": body}, version=version, **kw)
        self.assertEqual(st, code, "attachment create: %s %s" % (st, doc))
        return doc["attachment"] if code == 200 else doc

    def update(self, aid, connector=None, version="3.44", code=200, **kw):
        st, _, doc = self.att("PUT", "/" + aid, {"attachment": {"connector": connector or
                                                                CONNECTOR}},
                              version=version, **kw)
        self.assertEqual(st, code, "attachment update: %s %s" % (st, doc))
        return doc["attachment"] if code == 200 else doc

    def complete_att(self, aid, version="3.44", code=204, **kw):
        st, _, doc = self.att("POST", "/%s/action" % aid, {"os-complete": None},
                              version=version, **kw)
        self.assertEqual(st, code, "os-complete: %s %s" % (st, doc))
        return doc

    def delete(self, aid, version="3.44", code=200, **kw):
        st, _, doc = self.att("DELETE", "/" + aid, version=version, **kw)
        self.assertEqual(st, code, "attachment delete: %s %s" % (st, doc))
        return doc

    def att_row(self, aid):
        rows = self.sql("SELECT volume_id, instance_uuid, attach_status, attach_mode, "
                        "attached_host, mountpoint, connection_info IS NOT NULL, deleted "
                        "FROM volume_attachment WHERE id = %s", (aid,))
        return rows[0] if rows else None

    def multiattach_type(self):
        """A volume type whose volumes are multiattach; returns its id."""
        return self.volctl_ok("type-create", "multi-%s-%s" % (self.rand, uuid.uuid4().hex[:8]),
                              "--extra-spec", "multiattach=<is> True").strip().splitlines()[-1]

    def statuses(self, vid):
        row = self.volume_row(vid)
        return row["status"], row["attach_status"]

    def snapshot(self, vid):
        """What a refused request must leave unchanged."""
        return (self.volume_row(vid),
                self.sql("SELECT id, attach_status, attach_mode, deleted, connection_info "
                         "FROM volume_attachment WHERE volume_id = %s ORDER BY id", (vid,)),
                self.admin_md(vid))


class AttachmentsApiTest(AttachmentsCase):

    def test_reserve_complete_delete_without_connector(self):
        vid = self.create_volume()
        instance = str(uuid.uuid4())
        a = self.create(vid, instance)
        self.assertEqual((a["status"], a["instance"], a["volume_id"]),
                         ("reserved", instance, vid))
        self.assertEqual(a["connection_info"], {})
        self.assertEqual(a["attach_mode"], "null")
        self.assertEqual((a["attached_at"], a["detached_at"]), ("", ""))
        self.assertEqual(self.statuses(vid), ("reserved", "detached"))
        self.assertEqual(self.att_row(a["id"])[2], "reserved")
        # a second reservation of a single-attach volume is refused; the same server's is not
        doc = self.create(vid, str(uuid.uuid4()), code=400)
        self.assertFault(400, doc, 400, "badRequest",
                         "status must be available or downloading to reserve, but the "
                         "current status is reserved")
        st, _, doc = self.att("GET", "/" + a["id"])
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["attachment"]["id"], a["id"])
        self.complete_att(a["id"])
        self.assertEqual(self.statuses(vid), ("in-use", "attached"))
        self.assertEqual(self.att_row(a["id"])[2], "attached")
        vol = self.get_volume(vid)
        self.assertEqual([x["attachment_id"] for x in vol["attachments"]], [a["id"]])
        doc = self.delete(a["id"])
        self.assertEqual(doc, {"attachments": []})
        self.assertEqual(self.statuses(vid), ("available", "detached"))
        row = self.att_row(a["id"])
        self.assertEqual((row[2], row[7]), ("detached", True))
        self.assertEqual(self.get_volume(vid)["attachments"], [])

    def test_mode_from_354(self):
        vid = self.create_volume()
        a = self.create(vid, str(uuid.uuid4()), mode="ro", version="3.54")
        self.assertEqual(a["attach_mode"], "ro")
        self.assertEqual(self.att_row(a["id"])[3], "ro")
        self.delete(a["id"], version="3.54")
        # readonly volumes get ro whatever the caller asks
        self.set_admin_md(vid, "readonly", "True")
        a = self.create(vid, str(uuid.uuid4()), mode="rw", version="3.54")
        self.assertEqual(a["attach_mode"], "ro")

    def test_lists_filters_pages(self):
        v1, v2 = self.create_volume(), self.create_volume()
        i1, i2 = str(uuid.uuid4()), str(uuid.uuid4())
        a1 = self.create(v1, i1)
        a2 = self.create(v2, i2)
        st, _, doc = self.att("GET")
        self.assertEqual(st, 200, doc)
        self.assertEqual({x["id"] for x in doc["attachments"]}, {a1["id"], a2["id"]})
        self.assertEqual(set(doc["attachments"][0]), {"id", "status", "instance", "volume_id"})
        st, _, doc = self.att("GET", "/detail?volume_id=" + v2)
        self.assertEqual([x["id"] for x in doc["attachments"]], [a2["id"]])
        self.assertIn("connection_info", doc["attachments"][0])
        st, _, doc = self.att("GET", "?instance_id=" + i1)
        self.assertEqual([x["id"] for x in doc["attachments"]], [a1["id"]])
        st, _, doc = self.att("GET", "?attach_status=attached")
        self.assertEqual(doc["attachments"], [])
        # Cinder filters "status" on a column attachments lack: nothing matches
        st, _, doc = self.att("GET", "?status=reserved")
        self.assertEqual((st, doc["attachments"]), (200, []))
        st, _, doc = self.att("GET", "?sort=created_at:asc&limit=1")
        self.assertEqual([x["id"] for x in doc["attachments"]], [a1["id"]])
        self.assertIn("marker=" + a1["id"], doc["attachments_links"][0]["href"])
        st, _, doc = self.att("GET", "?sort=created_at:asc&limit=1&marker=" + a1["id"])
        self.assertEqual([x["id"] for x in doc["attachments"]], [a2["id"]])
        st, _, doc = self.att("GET", "?bogus=1")
        self.assertFault(st, doc, 400, "badRequest", "Invalid filters bogus")
        # another project sees none of them; an admin with all_tenants sees them all
        st, _, doc = self.att("GET", project="other")
        self.assertEqual(doc["attachments"], [])
        st, _, doc = self.att("GET", "?all_tenants=1", project="other", token="admin:other")
        self.assertTrue({a1["id"], a2["id"]} <= {x["id"] for x in doc["attachments"]})
        st, _, doc = self.att("GET", version="3.26")
        self.assertEqual(st, 404)

    def test_multiattach_two_reservations(self):
        tid = self.multiattach_type()
        vid = self.create_volume(volume_type=tid)
        a1 = self.create(vid, str(uuid.uuid4()))
        self.complete_att(a1["id"])
        a2 = self.create(vid, str(uuid.uuid4()))
        self.assertEqual(self.statuses(vid), ("reserved", "attached"))
        doc = self.delete(a2["id"])
        self.assertEqual([x["id"] for x in doc["attachments"]], [a1["id"]])
        self.assertEqual(self.statuses(vid), ("in-use", "attached"))
        # a bootable multiattach volume in use needs volume:multiattach_bootable_volume,
        # which its owner has
        self.sql("UPDATE volumes SET bootable = true WHERE id = %s", (vid,))
        a3 = self.create(vid, str(uuid.uuid4()))
        self.delete(a3["id"])


class AttachmentsBadInputTest(AttachmentsCase):

    def refused(self, vid, code, name, contains, fn, *args, **kw):
        before = self.snapshot(vid)
        doc = fn(*args, code=code, **kw)
        self.assertFault(code, doc, code, name, contains)
        self.assertEqual(self.snapshot(vid), before, "a refused request changed the database")

    def test_unknown_and_foreign(self):
        vid = self.create_volume()
        a = self.create(vid, str(uuid.uuid4()))
        unknown = str(uuid.uuid4())
        self.refused(vid, 404, "itemNotFound", "Volume %s could not be found" % unknown,
                     self.create, unknown, str(uuid.uuid4()))
        for fn, args in ((self.update, (unknown,)), (self.delete, (unknown,)),
                         (self.complete_att, (unknown,))):
            self.refused(vid, 404, "itemNotFound", "attachment_id = " + unknown, fn, *args)
        st, _, doc = self.att("GET", "/" + unknown)
        self.assertFault(st, doc, 404, "itemNotFound")
        # another project's volume and attachment do not exist for this caller
        self.refused(vid, 404, "itemNotFound", "could not be found", self.create, vid,
                     project="other")
        for fn in (self.update, self.delete, self.complete_att):
            self.refused(vid, 404, "itemNotFound", "attachment_id = " + a["id"], fn, a["id"],
                         project="other")
        st, _, doc = self.att("GET", "/" + a["id"], project="other")
        self.assertFault(st, doc, 404, "itemNotFound")

    def test_bad_bodies(self):
        vid = self.create_volume()
        a = self.create(vid, str(uuid.uuid4()))
        self.refused(vid, 400, "badRequest", "is not of type", self.create, vid,
                     connector="compute1")
        self.refused(vid, 400, "badRequest", "is not of type", self.update, a["id"],
                     connector=["compute1"])
        big = dict(CONNECTOR, padding="x" * 17000)
        self.refused(vid, 400, "badRequest", "larger than 16384 bytes", self.create, vid,
                     connector=big)
        self.refused(vid, 400, "badRequest", "larger than 16384 bytes", self.update, a["id"],
                     connector=big)
        self.refused(vid, 400, "badRequest", "Additional properties", self.create, vid,
                     mode="ro", version="3.53")
        self.refused(vid, 400, "badRequest", "is not one of", self.create, vid, mode="rx",
                     version="3.54")
        for body in ({}, {"attachment": {"volume_uuid": vid}, "x": 1},
                     {"attachment": {"instance_uuid": str(uuid.uuid4())}}):
            before = self.snapshot(vid)
            st, _, doc = self.att("POST", body=body)
            self.assertFault(st, doc, 400, "badRequest")
            self.assertEqual(self.snapshot(vid), before)

    def test_error_volume_and_twice(self):
        vid = self.create_volume()
        self.reset_status(vid, "error")
        self.refused(vid, 400, "badRequest", "can not be created if the volume is in an error "
                     "state", self.create, vid, str(uuid.uuid4()))
        self.reset_status(vid, "available")
        a = self.create(vid, str(uuid.uuid4()))
        self.delete(a["id"])
        self.refused(vid, 404, "itemNotFound", "attachment_id = " + a["id"], self.delete,
                     a["id"])
        self.refused(vid, 404, "itemNotFound", "attachment_id = " + a["id"],
                     self.complete_att, a["id"])
        self.refused(vid, 404, "itemNotFound", None, self.complete_att, a["id"],
                     version="3.43")
