"""Manage and unmanage end to end (docs/cinder.md §20): os-unmanage keeps the file and gives
the quota back; POST os-volume-manage / manageable_volumes adopts a file of the filestore
directory as a new volume (the same bytes, renamed after the volume) that extends, attaches
and deletes like any other; the API's and the manager's refusals; the manageable list with its
sorting and pagination; get_manageable_volumes and manage_existing in both wire formats.
"""

import hashlib
import json
import os
import uuid

from harness import (GIB, JSON, MSGPACK, StackTestCase, cast_message, context_dict,
                     oslo_body, pack, volume_primitive)


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ManageTest(StackTestCase):

    # ---- helpers ----

    def manage(self, body, version=None, path="os-volume-manage", token=None):
        return self.http("POST", "/v3/%s/%s" % (self.PROJECT, path), body=body,
                         token=token or "admin:%s" % self.PROJECT, version=version)

    def manage_ok(self, ref, **fields):
        volume = {"host": self.volume_host, "ref": ref}
        volume.update(fields)
        st, _, doc = self.manage({"volume": volume})
        self.assertEqual(st, 202, doc)
        return doc["volume"]

    def unmanage(self, vid, token=None):
        return self.action(vid, {"os-unmanage": None},
                           token=token or "admin:%s" % self.PROJECT)

    def listing(self, query, detail=False, version="3.8", path="manageable_volumes"):
        return self.admin("GET", "/v3/%s/%s%s?%s" % (self.PROJECT, path,
                                                    "/detail" if detail else "", query),
                          version=version)

    def write_file(self, name, data=b"", size=None):
        path = os.path.join(self.filestore_dir, name)
        with open(path, "wb") as f:
            f.write(data)
        if size is not None:
            os.truncate(path, size)
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        return path

    def volume_count(self):
        return self.sql_value("SELECT count(*) FROM volumes WHERE NOT deleted")

    # ---- os-unmanage, then manage back ----

    def test_unmanage_then_manage_back(self):
        vid = self.create_volume(1)
        data = os.urandom(1 << 20)
        with open(self.backing_file(vid), "r+b") as f:
            f.seek(4096)
            f.write(data)
        before = digest(self.backing_file(vid))

        # Only an admin may unmanage; the volume stays as it was.
        st, _, doc = self.unmanage(vid, token="%s:%s" % (self.USER, self.PROJECT))
        self.assertFault(st, doc, 403)
        self.assertEqual(self.status_of(vid), "available")

        st, _, doc = self.unmanage(vid)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["deleted"], msg="the unmanaged row is gone")
        self.assertEqual(self.sql_value("SELECT status FROM volumes WHERE id = %s", (vid,)),
                         "deleted")
        self.assertEqual(digest(self.backing_file(vid)), before, "the file is kept")
        self.assertUsagesMatchRows()
        st, _, doc = self.admin("GET", self.vpath(vid))
        self.assertFault(st, doc, 404)

        # Manage it back by the name unmanage left: a new volume with the same bytes.
        pool_before = self.pool_allocated()
        vol = self.manage_ok({"source-name": "volume-%s" % vid}, name=" back ",
                             description="adopted", bootable="yes",
                             metadata={"origin": "unmanaged"})
        new = vol["id"]
        self.assertNotEqual(new, vid)
        self.assertEqual(vol["status"], "managing")
        self.assertEqual(vol["size"], 0)
        self.assertEqual(vol["name"], "back")
        self.assertEqual(vol["bootable"], "true")
        self.assertEqual(vol["metadata"], {"origin": "unmanaged"})
        self.wait_status(new, "available")
        self.assertEqual(self.volume_row(new)["size"], 1)
        self.assertFalse(os.path.exists(self.backing_file(vid)), "renamed away")
        self.assertEqual(digest(self.backing_file(new)), before)
        self.assertEqual(self.pool_allocated() - pool_before, 1)
        self.assertUsagesMatchRows()

        # It extends, attaches and deletes like any volume.
        st, _, doc = self.extend(new, 2)
        self.assertEqual(st, 202, doc)
        self.wait_status(new, "available")
        self.assertEqual(self.file_size(new), 2 * GIB)
        with open(self.backing_file(new), "rb") as f:
            f.seek(4096)
            self.assertEqual(f.read(len(data)), data)
        self.attach(new)
        self.assertEqual(self.status_of(new), "in-use")
        self.sql("UPDATE volumes SET status = 'available', attach_status = 'detached' "
                 "WHERE id = %s", (new,))
        self.sql("UPDATE volume_attachment SET deleted = true WHERE volume_id = %s", (new,))
        st, _, doc = self.http("DELETE", self.vpath(new))
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.file_size(new) is None, msg="the managed file is deleted")
        # The file goes before the transaction commits: wait for the row too.
        self.poll(lambda: self.volume_row(new)["deleted"], msg="the managed row is deleted")
        self.assertUsagesMatchRows()

    def test_unmanage_refused_as_a_delete(self):
        """An attached volume is refused with the delete's message; one whose manage failed
        goes through error_managing_deleting and leaves no file behind to remove."""
        vid = self.create_volume(1)
        self.attach(vid)
        st, _, doc = self.unmanage(vid)
        self.assertFault(st, doc, 400, contains="Invalid volume: Volume status must be "
                         "available or error or error_restoring or error_extending or "
                         "error_managing and must not be migrating, attached")
        self.assertEqual(self.status_of(vid), "in-use")

        vol = self.manage_ok({"source-name": "not-there-%s" % uuid.uuid4().hex[:6]})
        self.wait_status(vol["id"], "error_managing")
        st, _, doc = self.unmanage(vol["id"])
        self.assertEqual(st, 202, doc)
        self.assertIn(self.status_of(vol["id"]), ("error_managing_deleting", "deleted"))
        self.poll(lambda: self.volume_row(vol["id"])["deleted"], msg="unmanaged")
        self.assertUsagesMatchRows()

    def test_manage_a_foreign_file_rounds_up(self):
        """A file that never was a volume, 1.5 GiB: a 2 GiB volume, grown sparsely, by the
        3.8 route with a cluster-less host and a source-id that does not exist first."""
        name = "import-%s.img" % uuid.uuid4().hex[:8]
        head = os.urandom(65536)
        self.write_file(name, head, size=GIB + GIB // 2)
        st, _, doc = self.manage({"volume": {"host": self.service_host,
                                             "ref": {"source-name": name}}},
                                 version="3.8", path="manageable_volumes")
        self.assertEqual(st, 202, doc)
        new = doc["volume"]["id"]
        self.wait_status(new, "available")
        row = self.volume_row(new)
        self.assertEqual(row["size"], 2)
        self.assertEqual(self.sql_value("SELECT host FROM volumes WHERE id = %s", (new,)),
                         self.volume_host)
        self.assertEqual(self.file_size(new), 2 * GIB)
        with open(self.backing_file(new), "rb") as f:
            self.assertEqual(f.read(len(head)), head)
        self.assertFalse(os.path.exists(os.path.join(self.filestore_dir, name)))
        self.assertUsagesMatchRows()
        st, _, doc = self.http("DELETE", self.vpath(new))
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.file_size(new) is None)
        self.assertUsagesMatchRows()

    # ---- refusals ----

    def test_manage_refusals(self):
        live = self.create_volume(1)
        count = self.volume_count()
        volumes_in_use = self.usage("volumes")[0]
        cases = [
            # (body, version, status, message)
            ({"volume": {"host": self.volume_host,
                         "ref": {"source-name": "volume-%s" % live}}}, None, 400,
             "Invalid volume: Unable to manage existing volume. The volume is already "
             "managed"),
            ({"volume": {"host": "nohost@nowhere", "ref": {"source-name": "x"}}}, None, 400,
             "Host 'nohost@nowhere' not found"),
            ({"volume": {"ref": {"source-name": "x"}}}, None, 400,
             "Invalid input received: Host field is missing."),
            ({"volume": {"host": self.volume_host, "cluster": "c",
                         "ref": {"source-name": "x"}}}, "3.16", 400,
             "Invalid input received: One and only one of cluster and host must be set."),
            ({"volume": {"host": self.volume_host, "ref": {"source-name": "x"},
                         "volume_type": "no-such-type"}}, None, 400,
             "Invalid volume type: Cannot find requested 'no-such-type' volume type"),
            ({"volume": {"host": self.volume_host}}, None, 400,
             "Invalid input for field/attribute volume. Value: {'host': '%s'}. 'ref' is a "
             "required property" % self.volume_host),
            ({"volume": {"host": self.volume_host, "ref": {"source-name": "x"},
                         "size": 1}}, None, 400, "Additional properties are not allowed"),
            ({"volume": {"host": "bad host", "ref": {"source-name": "x"}}}, None, 400,
             "does not match"),
        ]
        for body, version, code, message in cases:
            st, _, doc = self.manage(body, version=version)
            self.assertFault(st, doc, code, contains=message)
        # A plain user may not manage; nor is the route there before 3.8.
        st, _, doc = self.manage({"volume": {"host": self.volume_host,
                                             "ref": {"source-name": "x"}}},
                                 token="%s:%s" % (self.USER, self.PROJECT))
        self.assertFault(st, doc, 403)
        st, _, doc = self.manage({"volume": {"host": self.volume_host,
                                             "ref": {"source-name": "x"}}},
                                 version="3.7", path="manageable_volumes")
        self.assertFault(st, doc, 404)
        # A service that is down.
        self.sql("INSERT INTO services (created_at, updated_at, deleted, host, \"binary\", "
                 "topic, report_count, disabled) VALUES (now() AT TIME ZONE 'utc' - "
                 "interval '1 day', now() AT TIME ZONE 'utc' - interval '1 day', false, "
                 "'gone@filestore', 'cinder-volume', 'cinder-volume', 0, false)")
        self.addCleanup(self.sql, "DELETE FROM services WHERE host = 'gone@filestore'")
        st, _, doc = self.manage({"volume": {"host": "gone@filestore",
                                             "ref": {"source-name": "x"}}})
        self.assertFault(st, doc, 400, contains="Service is unavailable at this time.")
        self.assertEqual(self.volume_count(), count, "nothing was created")
        self.assertEqual(self.usage("volumes")[0], volumes_in_use)

    def test_manager_refusals_leave_error_managing(self):
        """What only the backend can tell: no such file, a file a live volume owns (by
        source-id), a reference of neither form. The volume is error_managing, deletable,
        and the quota ends equal to the rows."""
        live = self.create_volume(1)
        before = digest(self.backing_file(live))
        for ref in ({"source-name": "no-such-file"}, {"source-id": live},
                    {"source-name": "../etc"}, {"other": "x"}, "a-string"):
            vol = self.manage_ok(ref)
            self.wait_status(vol["id"], "error_managing")
            self.assertEqual(self.volume_row(vol["id"])["size"], 0)
            self.assertUsagesMatchRows()
            st, _, doc = self.http("DELETE", self.vpath(vol["id"]))
            self.assertEqual(st, 202, doc)
            self.poll(lambda: self.volume_row(vol["id"])["deleted"],
                      msg="error_managing volume deleted")
            self.assertUsagesMatchRows()
        self.assertEqual(digest(self.backing_file(live)), before, "the owned file is intact")
        self.assertEqual(self.status_of(live), "available")

    # ---- manageable list ----

    def test_manageable_list(self):
        owned = self.create_volume(1)
        tag = uuid.uuid4().hex[:6]
        small, big = "a-%s.img" % tag, "b-%s.img" % tag
        self.write_file(small, b"x", size=100)
        self.write_file(big, size=3 * GIB + 1)
        link = os.path.join(self.filestore_dir, "link-%s" % tag)
        os.symlink(small, link)
        self.addCleanup(os.unlink, link)

        st, _, doc = self.listing("host=%s" % self.volume_host, detail=True)
        self.assertEqual(st, 200, doc)
        entries = {e["reference"]["source-name"]: e for e in doc["manageable-volumes"]}
        self.assertEqual(entries[small], {"reference": {"source-name": small}, "size": 1,
                                          "safe_to_manage": True, "reason_not_safe": None,
                                          "cinder_id": None, "extra_info": None})
        self.assertEqual(entries[big]["size"], 4)
        self.assertEqual(entries["volume-%s" % owned],
                         {"reference": {"source-name": "volume-%s" % owned}, "size": 1,
                          "safe_to_manage": False,
                          "reason_not_safe": "Volume already managed.", "cinder_id": owned,
                          "extra_info": None})
        self.assertNotIn("link-%s" % tag, entries, "links are never volumes")
        # A copy in progress (fs_clone's "<name>.tmp") belongs to its volume.
        tmp = "volume-%s.tmp" % owned
        self.write_file(tmp, size=100)
        st, _, listed = self.listing("host=%s" % self.volume_host, detail=True)
        self.assertEqual(st, 200, listed)
        entry = [e for e in listed["manageable-volumes"]
                 if e["reference"]["source-name"] == tmp]
        self.assertEqual([(e["safe_to_manage"], e["cinder_id"]) for e in entry],
                         [(False, owned)])
        os.unlink(os.path.join(self.filestore_dir, tmp))
        names = sorted(entries)
        # Cinder's default order: reference, descending.
        self.assertEqual([e["reference"]["source-name"] for e in doc["manageable-volumes"]],
                         names[::-1])

        st, _, doc = self.listing("host=%s" % self.service_host)
        self.assertEqual(st, 200, doc)
        self.assertEqual(sorted(doc["manageable-volumes"][0]),
                         ["reference", "safe_to_manage", "size"])

        # Pages: sort by reference ascending, a marker, offset and limit.
        st, _, doc = self.listing("host=%s&sort=reference:asc&limit=1" % self.service_host)
        self.assertEqual([e["reference"]["source-name"] for e in doc["manageable-volumes"]],
                         names[:1])
        marker = json.dumps({"source-name": names[0]})
        st, _, doc = self.listing("host=%s&sort_key=reference&sort_dir=asc&limit=2&offset=1"
                                  "&marker=%s" % (self.service_host,
                                                  marker.replace(" ", "%20")
                                                  .replace('"', "%22")))
        self.assertEqual(st, 200, doc)
        self.assertEqual([e["reference"]["source-name"] for e in doc["manageable-volumes"]],
                         names[2:4])
        st, _, doc = self.listing("host=%s&sort=size:asc,reference:asc" % self.service_host)
        sizes = [e["size"] for e in doc["manageable-volumes"]]
        self.assertEqual(sizes, sorted(sizes))

        # The old route has the same list (3.0).
        st, _, doc = self.listing("host=%s" % self.service_host, version="3.0",
                                  path="os-volume-manage")
        self.assertEqual(st, 200, doc)
        self.assertIn(small, [e["reference"]["source-name"]
                              for e in doc["manageable-volumes"]])

        for query, code, message in (
                ("", 400, "Invalid input received: Host field is missing."),
                ("host=nohost@x", 404,
                 "Service cinder-volume could not be found on host nohost@x."),
                ("host=%s&sort_key=name" % self.service_host, 400,
                 "Invalid sort keys passed: name"),
                ("host=%s&sort_dir=up" % self.service_host, 400,
                 "Invalid sort dirs passed: up"),
                ("host=%s&sort_key=%s" % (self.service_host, ",".join(["size"] * 9)), 400,
                 "Invalid input received: at most 8 sort keys are supported."),
                ("host=%s&sort=%s" % (self.service_host, ",".join(["size:asc"] * 9)), 400,
                 "Invalid input received: at most 8 sort keys are supported."),
                ("host=%s&limit=-1" % self.service_host, 400, "limit param must be positive"),
                ("host=%s&offset=-1" % self.service_host, 400, "offset must be >= 0"),
                ("host=%s&marker=%%7B%%7D" % self.service_host, 400,
                 "Invalid input received: marker not found: {}"),
                ("host=%s&marker=nojson" % self.service_host, 400,
                 "Invalid input received: marker nojson can not be analysed, please use "
                 "json like format")):
            st, _, doc = self.listing(query)
            self.assertFault(st, doc, code, contains=message)
        # Up to eight keys are served (more than the four the list once had room for).
        st, _, doc = self.listing("host=%s&sort=%s" % (self.service_host,
                                                       ",".join(["size:asc", "reference"] * 4)))
        self.assertEqual(st, 200, doc)
        st, _, doc = self.http("GET", "/v3/%s/manageable_volumes?host=%s"
                               % (self.PROJECT, self.service_host), version="3.8")
        self.assertFault(st, doc, 403)
        st, _, doc = self.listing("host=%s" % self.service_host, version="3.7")
        self.assertFault(st, doc, 404)

    # ---- the RPC methods in both wire formats ----

    def test_get_manageable_volumes_both_formats(self):
        name = "w-%s.img" % uuid.uuid4().hex[:8]
        self.write_file(name, size=5)
        ctx = context_dict("admin", self.PROJECT, is_admin=True)
        reply_q = self.reply_queue()
        for content_type in (MSGPACK, JSON):
            msg = cast_message("get_manageable_volumes",
                               {"marker": None, "limit": 1000, "offset": 0,
                                "sort_keys": ["reference"], "sort_dirs": ["asc"],
                                "want_objects": content_type == JSON},
                               version="3.10", context=ctx)
            msg["_msg_id"] = uuid.uuid4().hex
            msg["_reply_q"] = reply_q
            msg["_timeout"] = 10
            got_type, reply = self.call_manager(msg, reply_q, content_type=content_type)
            self.assertEqual(got_type, content_type)
            self.assertIsNone(reply.get("failure"), reply)
            result = reply["result"]
            if content_type == JSON:
                self.assertEqual(result["versioned_object.name"], "ManageableVolumeList")
                result = [o["versioned_object.data"]
                          for o in result["versioned_object.data"]["objects"]]
            mine = [e for e in result if e["reference"] == {"source-name": name}]
            self.assertEqual(mine, [{"reference": {"source-name": name}, "size": 1,
                                     "safe_to_manage": True, "reason_not_safe": None,
                                     "cinder_id": None, "extra_info": None}])

    def test_manage_existing_cast_both_formats(self):
        for content_type in (MSGPACK, JSON):
            name = "c-%s.img" % uuid.uuid4().hex[:8]
            self.write_file(name, b"y" * 10)
            vid = self.insert_volume(size=0, status="managing")
            msg = cast_message("manage_existing",
                               {"ref": {"source-name": name},
                                "volume": volume_primitive(vid)},
                               context=context_dict(self.USER, self.PROJECT))
            body = oslo_body(msg) if content_type == JSON else pack(msg)
            self.publish(body, unique_id=msg["_unique_id"], content_type=content_type)
            self.wait_status(vid, "available")
            self.assertEqual(self.volume_row(vid)["size"], 1)
            with open(self.backing_file(vid), "rb") as f:
                self.assertEqual(f.read(10), b"y" * 10)
            # Redelivered: a duplicate, nothing changes.
            self.publish(body, unique_id=msg["_unique_id"], content_type=content_type)
            self.manager_barrier()
            self.assertEqual(self.status_of(vid), "available")
            self.assertEqual(self.file_size(vid), GIB)
