"""Snapshots through the API (docs/cinder.md §17): create, list, show, update and delete,
their metadata and their actions, with the manager's create_snapshot and delete_snapshot,
checked in the rows, in the snapshot files' bytes (holes included) and in the quota usages,
which must equal the rows after every flow.
"""

import hashlib
import os

from harness import GIB, StackTestCase

MIB = 1 << 20
BLOCK = 4096


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

    def write_at(self, volume_id, offset, data):
        with open(self.backing_file(volume_id), "r+b") as f:
            f.seek(offset)
            f.write(data)

    @staticmethod
    def digest(path):
        """sha256 of the file's bytes, reading only its data extents (a hole reads as
        zeros, so two files with the same digest and size hold the same bytes)."""
        h = hashlib.sha256()
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            off = 0
            while off < size:
                try:
                    start = os.lseek(fd, off, os.SEEK_DATA)
                except OSError:
                    break
                end = os.lseek(fd, start, os.SEEK_HOLE)
                pos = start
                pos -= pos % BLOCK
                while pos < end:
                    chunk = os.pread(fd, min(MIB, end - pos), pos)
                    # per block, so that extents cut differently still compare: an all-zero
                    # block reads as a hole would
                    for i in range(0, len(chunk), BLOCK):
                        block = chunk[i:i + BLOCK]
                        if block.strip(b"\0"):
                            h.update(b"%d:" % (pos + i) + block)
                    pos += len(chunk)
                off = end
            h.update(b"size:%d" % size)
        finally:
            os.close(fd)
        return h.hexdigest()

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
