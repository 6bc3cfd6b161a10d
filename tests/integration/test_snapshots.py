"""Snapshots through the API (docs/cinder.md §17): create, list, show, update and delete,
their metadata and their actions, with the manager's create_snapshot and delete_snapshot,
checked in the rows, in the snapshot files' bytes (holes included) and in the quota usages,
which must equal the rows after every flow.
"""

import os
import uuid

from harness import GIB, StackTestCase, sparse_digest

MIB = 1 << 20


class SnapshotTestBase(StackTestCase):
    """Helpers shared by the snapshot suites."""

    def spath(self, snapshot_id="", suffix="", project=None):
        base = "/v3/%s/snapshots" % (project or self.PROJECT)
        return base + ("/" + snapshot_id if snapshot_id else "") + suffix

    def snapshot_file(self, snapshot_id):
        return os.path.join(self.filestore_dir, "snapshot-%s" % snapshot_id)

    def snapshot_row(self, snapshot_id):
        rows = self.sql("SELECT status, progress, volume_size, deleted, provider_location, "
                        "display_name, display_description FROM snapshots WHERE id = %s",
                        (snapshot_id,))
        if not rows:
            return None
        keys = ("status", "progress", "volume_size", "deleted", "provider_location",
                "display_name", "display_description")
        return dict(zip(keys, rows[0]))

    def snapshot_status(self, snapshot_id):
        row = self.snapshot_row(snapshot_id)
        return row and row["status"]

    def wait_snapshot(self, snapshot_id, status, timeout=10):
        self.poll(lambda: self.snapshot_status(snapshot_id) == status, timeout=timeout,
                  msg="snapshot %s %s (now %r)" % (snapshot_id, status,
                                                   self.snapshot_status(snapshot_id)))

    def create_snapshot(self, volume_id, wait=True, version=None, **fields):
        body = {"snapshot": dict({"volume_id": volume_id, "name": "snap"}, **fields)}
        st, _, doc = self.http("POST", self.spath(), body=body, version=version)
        self.assertEqual(st, 202, "create snapshot: %s %s" % (st, doc))
        sid = doc["snapshot"]["id"]
        if wait:
            self.wait_snapshot(sid, "available")
        return sid

    def host_of(self, volume_id):
        return self.sql_value("SELECT host FROM volumes WHERE id = %s", (volume_id,))

    def write_at(self, volume_id, offset, data):
        with open(self.backing_file(volume_id), "r+b") as f:
            f.seek(offset)
            f.write(data)

    @staticmethod
    def digest(path):
        return sparse_digest(path)

    @staticmethod
    def allocated(path):
        return os.stat(path).st_blocks * 512

    def assert_no_drift(self):
        """The usages equal what the volumes and snapshots rows say (volctl quota check)."""
        rc, out = self.volctl("quota", "check", "--project", self.PROJECT)
        self.assertEqual(rc, 0, "quota drift: %s" % (out,))


class SnapshotApiTest(SnapshotTestBase):

    def test_create_show_list_delete_with_file_and_quota(self):
        vid = self.create_volume(size=1)
        self.write_at(vid, 5 * MIB, b"A" * 8192)
        sid = self.create_snapshot(vid, description="first", metadata={"k": "v"})
        row = self.snapshot_row(sid)
        self.assertEqual((row["status"], row["progress"], row["volume_size"]),
                         ("available", "100%", 1))
        self.assertEqual(row["provider_location"], self.snapshot_file(sid))
        # the bytes are the volume's, and the holes stayed holes
        self.assertEqual(self.digest(self.snapshot_file(sid)),
                         self.digest(self.backing_file(vid)))
        self.assertEqual(os.stat(self.snapshot_file(sid)).st_size, GIB)
        self.assertLess(self.allocated(self.snapshot_file(sid)), 16 * MIB)
        self.assertEqual(self.usage("snapshots"), (1, 0))
        self.assertEqual(self.usage("gigabytes"), (2, 0))
        self.assert_no_drift()

        st, _, doc = self.http("GET", self.spath(sid), version="3.65")
        self.assertEqual(st, 200, doc)
        snap = doc["snapshot"]
        self.assertEqual((snap["id"], snap["volume_id"], snap["status"], snap["size"],
                          snap["name"], snap["description"], snap["metadata"]),
                         (sid, vid, "available", 1, "snap", "first", {"k": "v"}))
        self.assertEqual(snap["user_id"], self.USER)
        self.assertIs(snap["consumes_quota"], True)
        self.assertIsNone(snap["group_snapshot_id"])
        self.assertEqual(snap["os-extended-snapshot-attributes:progress"], "100%")
        self.assertEqual(snap["os-extended-snapshot-attributes:project_id"], self.PROJECT)
        st, _, doc = self.http("GET", self.spath(sid), version="3.0")
        self.assertNotIn("user_id", doc["snapshot"])

        st, _, doc = self.http("GET", self.spath())
        self.assertEqual(st, 200)
        self.assertEqual([s["id"] for s in doc["snapshots"]], [sid])
        self.assertNotIn("os-extended-snapshot-attributes:progress", doc["snapshots"][0])
        st, _, doc = self.http("GET", self.spath(suffix="/detail"), version="3.45")
        self.assertEqual(doc["snapshots"][0]["os-extended-snapshot-attributes:progress"],
                         "100%")

        st, _, doc = self.http("DELETE", self.spath(sid))
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.snapshot_row(sid)["deleted"], timeout=10)
        self.assertEqual(self.snapshot_status(sid), "deleted")
        self.assertFalse(os.path.exists(self.snapshot_file(sid)))
        self.assertEqual(self.sql_value("SELECT count(*) FROM snapshot_metadata WHERE "
                                        "snapshot_id = %s AND NOT deleted", (sid,)), 0)
        self.assertEqual(self.usage("snapshots"), (0, 0))
        self.assertEqual(self.usage("gigabytes"), (1, 0))
        self.assert_no_drift()
        st, _, doc = self.http("GET", self.spath(sid))
        self.assertFault(st, doc, 404, "itemNotFound",
                         "Snapshot %s could not be found." % sid)

    def test_metadata_routes(self):
        vid = self.create_volume(size=1)
        sid = self.create_snapshot(vid, metadata={"a": "1"})
        md = self.spath(sid, "/metadata")
        st, _, doc = self.http("GET", md)
        self.assertEqual((st, doc), (200, {"metadata": {"a": "1"}}))
        st, _, doc = self.http("POST", md, body={"metadata": {"b": "2"}})
        self.assertEqual((st, doc), (200, {"metadata": {"a": "1", "b": "2"}}))
        st, _, doc = self.http("PUT", md, body={"metadata": {"c": "3", "b": "two"}})
        self.assertEqual((st, doc), (200, {"metadata": {"b": "two", "c": "3"}}))
        st, _, doc = self.http("GET", md + "/c")
        self.assertEqual((st, doc), (200, {"meta": {"c": "3"}}))
        st, _, doc = self.http("PUT", md + "/c", body={"meta": {"c": "4"}})
        self.assertEqual((st, doc), (200, {"meta": {"c": "4"}}))
        st, _, doc = self.http("DELETE", md + "/b")
        self.assertEqual(st, 200, doc)
        rows = self.sql("SELECT key, value FROM snapshot_metadata WHERE snapshot_id = %s AND "
                        "NOT deleted ORDER BY key", (sid,))
        self.assertEqual(rows, [("c", "4")])
        # Cinder's answers for the bad ones, nothing changed
        st, _, doc = self.http("GET", md + "/b")
        self.assertFault(st, doc, 404, "itemNotFound",
                         "Snapshot %s has no metadata with key b." % sid)
        st, _, doc = self.http("DELETE", md + "/b")
        self.assertFault(st, doc, 404, "itemNotFound")
        st, _, doc = self.http("PUT", md + "/c", body={"meta": {"d": "1"}})
        self.assertFault(st, doc, 400, "badRequest", "Request body and URI mismatch")
        st, _, doc = self.http("PUT", md + "/c", body={"meta": {"c": "1", "d": "1"}})
        self.assertFault(st, doc, 400, "badRequest", "Request body contains too many items")
        st, _, doc = self.http("POST", md, body={"metadata": {"k" * 256: "v"}})
        self.assertFault(st, doc, 413, None, "Invalid metadata size: Metadata property key "
                         + "k" * 256 + " greater than 255 characters.")
        st, _, doc = self.http("POST", md, body={"meta": {"x": "y"}})
        self.assertFault(st, doc, 400, "badRequest",
                         "Missing required element 'metadata' in request body.")
        self.assertEqual(self.sql("SELECT key, value FROM snapshot_metadata WHERE "
                                  "snapshot_id = %s AND NOT deleted", (sid,)), [("c", "4")])
        # The total after a merge is bounded as the volume's (64), not the body alone; a
        # replace of 64 is fine.
        many = {"k%02d" % i: "v" for i in range(64)}
        st, _, doc = self.http("POST", md, body={"metadata": many})
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid input received: at most 64 metadata items are supported.")
        st, _, doc = self.http("PUT", md, body={"metadata": many})
        self.assertEqual((st, len(doc["metadata"])), (200, 64), doc)
        st, _, doc = self.http("PUT", md, body={"metadata": {"c": "4"}})
        self.assertEqual(st, 200, doc)
        st, _, doc = self.http("GET", self.spath(str(uuid.uuid4()), "/metadata"))
        self.assertFault(st, doc, 404, "itemNotFound", "could not be found")

    def test_update_and_filters(self):
        vid = self.create_volume(size=1)
        s1 = self.create_snapshot(vid, name="one", metadata={"tier": "gold"})
        s2 = self.create_snapshot(vid, name="two")
        st, _, doc = self.http("PUT", self.spath(s2), body={"snapshot": {
            "name": "deux", "description": "second"}})
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc["snapshot"]["name"], doc["snapshot"]["description"]),
                         ("deux", "second"))
        self.assertEqual(self.snapshot_row(s2)["display_name"], "deux")
        st, _, doc = self.http("PUT", self.spath(s2), body={"snapshot": {}})
        self.assertFault(st, doc, 400, "badRequest", "is not valid under any of the given")
        st, _, doc = self.http("GET", self.spath(suffix="?name=deux"))
        self.assertEqual([s["id"] for s in doc["snapshots"]], [s2])
        st, _, doc = self.http("GET", self.spath(suffix="?metadata=%7B%27tier%27%3A+%27gold"
                                                        "%27%7D"))
        self.assertEqual([s["id"] for s in doc["snapshots"]], [s1])
        st, _, doc = self.http("GET", self.spath(suffix="/detail?sort=name:asc&limit=1"))
        self.assertEqual([s["id"] for s in doc["snapshots"]], [s2])
        self.assertIn("snapshots_links", doc)
        st, _, doc = self.http("GET", self.spath(suffix="?with_count=true"), version="3.45")
        self.assertEqual(doc["count"], 2)
        st, _, doc = self.http("GET", self.spath(suffix="?volume_id=%s&status=available"
                                                 % vid))
        self.assertEqual(sorted(s["id"] for s in doc["snapshots"]), sorted([s1, s2]))
        # another project sees none of them, an admin with all_tenants all of them
        st, _, doc = self.http("GET", "/v3/other/snapshots", token="%s:other" % self.USER)
        self.assertEqual(doc["snapshots"], [])
        st, _, doc = self.http("GET", self.spath(s1, project="other"),
                               token="%s:other" % self.USER)
        self.assertFault(st, doc, 404, "itemNotFound")
        st, _, doc = self.admin("GET", "/v3/other/snapshots?all_tenants=1&volume_id=%s" % vid,
                                project="other")
        self.assertEqual(sorted(s["id"] for s in doc["snapshots"]), sorted([s1, s2]))
        st, _, doc = self.http("GET", self.spath(suffix="?marker=%s" % uuid.uuid4()))
        self.assertFault(st, doc, 404, "itemNotFound", "Marker")

    def test_bad_creates_change_nothing(self):
        vid = self.create_volume(size=1)
        missing = str(uuid.uuid4())
        st, _, doc = self.http("POST", self.spath(), body={"snapshot": {"volume_id": missing}})
        self.assertFault(st, doc, 404, "itemNotFound", "Volume %s could not be found." % missing)
        st, _, doc = self.http("POST", self.spath(), body={"snapshot": {
            "volume_id": vid, "metadata": {"k" * 256: "v"}}})
        self.assertFault(st, doc, 400, "badRequest", "Additional properties are not allowed")
        st, _, doc = self.http("POST", self.spath(), body={"snapshot": {"name": "x"}})
        self.assertFault(st, doc, 400, "badRequest", "'volume_id' is a required property")
        st, _, doc = self.http("POST", self.spath(), body={"snapshot": {
            "volume_id": vid, "force": False}}, version="3.66")
        self.assertFault(st, doc, 400, "badRequest", "the 'force' flag is invalid")
        self.sql("UPDATE volumes SET status = 'in-use' WHERE id = %s", (vid,))
        st, _, doc = self.http("POST", self.spath(), body={"snapshot": {"volume_id": vid}},
                               version="3.65")
        self.assertFault(st, doc, 400, "badRequest", "Invalid volume: Volume %s status must be "
                         "available, but current status is: in-use." % vid)
        self.sql("UPDATE volumes SET status = 'error' WHERE id = %s", (vid,))
        st, _, doc = self.http("POST", self.spath(), body={"snapshot": {"volume_id": vid}})
        self.assertFault(st, doc, 400, "badRequest", "Invalid volume: The snapshot cannot be "
                         "created when the volume is in error status.")
        self.sql("UPDATE volumes SET status = 'available' WHERE id = %s", (vid,))
        self.volctl_ok("quota-set", self.PROJECT, "snapshots", "0")
        st, _, doc = self.http("POST", self.spath(), body={"snapshot": {"volume_id": vid}})
        self.assertFault(st, doc, 413, "overLimit",
                         "Maximum number of snapshots allowed (0) exceeded")
        self.volctl_ok("quota-set", self.PROJECT, "snapshots", "10")
        self.volctl_ok("quota-set", self.PROJECT, "gigabytes", "1")
        st, _, doc = self.http("POST", self.spath(), body={"snapshot": {"volume_id": vid}})
        self.assertFault(st, doc, 413, "overLimit", "Requested volume or snapshot exceeds "
                         "allowed gigabytes quota. Requested 1G, quota is 1G and 1G has been "
                         "consumed.")
        self.volctl_ok("quota-set", self.PROJECT, "gigabytes", "1000")
        self.assertEqual(self.sql_value("SELECT count(*) FROM snapshots WHERE volume_id = %s",
                                        (vid,)), 0)
        self.assertEqual(self.usage("snapshots"), (0, 0))
        self.assertEqual(self.live_reservations(), [])
        self.assert_no_drift()
        # in-use with force, and from 3.66 without it
        self.sql("UPDATE volumes SET status = 'in-use' WHERE id = %s", (vid,))
        self.create_snapshot(vid, force=True)
        self.create_snapshot(vid, version="3.66")
        self.assertEqual(self.usage("snapshots"), (2, 0))
        self.assert_no_drift()

    def test_snapshot_actions(self):
        vid = self.create_volume(size=1)
        sid = self.create_snapshot(vid)
        act = self.spath(sid, "/action")
        st, _, doc = self.http("POST", act, body={"os-reset_status": {"status": "error"}})
        self.assertFault(st, doc, 403, "forbidden", "volume_extension:snapshot_admin_actions:"
                         "reset_status")
        st, _, doc = self.admin("POST", act, body={"os-reset_status": {"status": "bogus"}})
        self.assertFault(st, doc, 400, "badRequest", "Snapshot status")
        st, _, doc = self.admin("POST", act, body={"os-reset_status": {"status": "CREATING"}})
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.snapshot_status(sid), "creating")
        st, _, doc = self.http("POST", act, body={"os-update_snapshot_status": {
            "status": "available", "progress": "101%"}})
        self.assertFault(st, doc, 400, "badRequest", "progress must be an integer percentage "
                         "between 0 and 100")
        st, _, doc = self.http("POST", act, body={"os-update_snapshot_status": {
            "status": "deleting"}})
        self.assertFault(st, doc, 400, "badRequest", "Provided snapshot status deleting not "
                         "allowed for snapshot with status creating.")
        st, _, doc = self.http("POST", act, body={"os-update_snapshot_status": {
            "status": "error", "progress": "50%"}})
        self.assertEqual(st, 202, doc)
        self.assertEqual((self.snapshot_row(sid)["status"], self.snapshot_row(sid)["progress"]),
                         ("error", "50%"))
        st, _, doc = self.http("POST", act, body={"os-update_snapshot_status": {
            "status": "available"}})
        self.assertFault(st, doc, 400, "badRequest", "Snapshot status error not allowed for "
                         "update_snapshot_status")
        # os-force_delete: any status, the cast, the file and the quota go
        self.admin("POST", act, body={"os-reset_status": {"status": "creating"}})
        st, _, doc = self.http("DELETE", self.spath(sid))
        self.assertFault(st, doc, 400, "badRequest", "Invalid snapshot: Snapshot status must "
                         "be available or error and must not be part of a group.")
        st, _, doc = self.http("POST", act, body={"os-force_delete": {}})
        self.assertFault(st, doc, 403, "forbidden")
        st, _, doc = self.admin("POST", act, body={"os-force_delete": {}})
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.snapshot_row(sid)["deleted"], timeout=10)
        self.assertFalse(os.path.exists(self.snapshot_file(sid)))
        self.assertEqual(self.usage("snapshots"), (0, 0))
        self.assert_no_drift()
        st, _, doc = self.admin("POST", act, body={"os-force_delete": {}})
        self.assertFault(st, doc, 404, "itemNotFound", "Snapshot %s could not be found." % sid)
