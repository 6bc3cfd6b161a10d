"""The flows that stand on snapshots (docs/cinder.md §17): revert to the latest snapshot, a
volume created from a snapshot or from another volume, DELETE ?cascade=true and
os-force_delete, checked in the rows, the files' bytes (holes included) and the quota usages.
"""

import os
import uuid

from harness import GIB
import test_snapshots

MIB = test_snapshots.MIB


class SnapshotFlowsTest(test_snapshots.SnapshotTestBase):

    def test_revert_to_latest_snapshot(self):
        vid = self.create_volume(size=1)
        self.write_at(vid, 3 * MIB, b"before" * 1000)
        old = self.create_snapshot(vid)
        self.write_at(vid, 7 * MIB, b"middle" * 1000)
        sid = self.create_snapshot(vid)
        want = self.digest(self.snapshot_file(sid))
        self.write_at(vid, 3 * MIB, b"after!" * 1000)
        self.write_at(vid, 900 * MIB, b"late" * 1000)
        self.assertNotEqual(self.digest(self.backing_file(vid)), want)

        # only the latest, only from 3.40, only in status available
        st, _, doc = self.action(vid, {"revert": {"snapshot_id": old}}, version="3.40")
        self.assertFault(st, doc, 400, "badRequest", "Specified snapshot %s is None or not the "
                         "latest one of volume %s." % (old, vid))
        st, _, doc = self.action(vid, {"revert": {"snapshot_id": sid}}, version="3.39")
        self.assertFault(st, doc, 404, "itemNotFound")
        self.sql("UPDATE volumes SET status = 'in-use' WHERE id = %s", (vid,))
        st, _, doc = self.action(vid, {"revert": {"snapshot_id": sid}}, version="3.40")
        self.assertFault(st, doc, 409, "conflictingRequest", "Volume's status must be "
                         "'available'.")
        self.sql("UPDATE volumes SET status = 'available' WHERE id = %s", (vid,))
        self.assertEqual(self.snapshot_status(sid), "available")

        st, _, doc = self.action(vid, {"revert": {"snapshot_id": sid}}, version="3.40")
        self.assertEqual(st, 202, doc)
        self.wait_status(vid, "available")
        self.wait_snapshot(sid, "available")
        self.assertEqual(self.digest(self.backing_file(vid)), want)
        self.assertEqual(self.file_size(vid), GIB)
        self.assert_no_drift()

        # a volume extended after its snapshot cannot be reverted (Cinder's size check)
        self.sql("UPDATE volumes SET size = 2 WHERE id = %s", (vid,))
        st, _, doc = self.action(vid, {"revert": {"snapshot_id": sid}}, version="3.40")
        self.assertFault(st, doc, 400, "badRequest", "The volume size must be equal to the "
                         "snapshot size.")
        self.sql("UPDATE volumes SET size = 1 WHERE id = %s", (vid,))
        other = self.create_volume(size=1)
        st, _, doc = self.action(other, {"revert": {"snapshot_id": sid}}, version="3.40")
        self.assertFault(st, doc, 400, "badRequest", "Volume %s doesn't have any snapshots."
                         % other)

    def test_create_from_snapshot_and_from_volume(self):
        vid = self.create_volume(size=1, name="src")
        self.write_at(vid, 1 * MIB, b"source" * 2000)
        sid = self.create_snapshot(vid)
        self.write_at(vid, 2 * MIB, b"later" * 2000)
        usages = (self.usage("volumes"), self.usage("gigabytes"))

        st, _, doc = self.http("POST", "/v3/%s/volumes" % self.PROJECT,
                               body={"volume": {"snapshot_id": sid, "size": 2}})
        self.assertEqual(st, 202, doc)
        v2 = doc["volume"]["id"]
        self.assertEqual((doc["volume"]["size"], doc["volume"]["snapshot_id"]), (2, sid))
        self.wait_status(v2, "available")
        self.assertEqual(self.file_size(v2), 2 * GIB)
        with open(self.backing_file(v2), "rb") as f:
            f.seek(1 * MIB)
            self.assertEqual(f.read(12000), b"source" * 2000)
            f.seek(2 * MIB)
            self.assertEqual(f.read(10), b"\0" * 10)
        self.assertLess(self.allocated(self.backing_file(v2)), 16 * MIB)

        # The new volume takes its source's cluster with its backend.
        self.sql("UPDATE volumes SET cluster_name = 'cl@filestore' WHERE id = %s", (vid,))
        st, _, doc = self.http("POST", "/v3/%s/volumes" % self.PROJECT,
                               body={"volume": {"source_volid": vid}})
        self.assertEqual(st, 202, doc)
        v3 = doc["volume"]["id"]
        self.assertEqual(self.sql_value("SELECT cluster_name FROM volumes WHERE id = %s",
                                        (v3,)), "cl@filestore")
        self.assertEqual((doc["volume"]["size"], doc["volume"]["source_volid"]), (1, vid))
        self.wait_status(v3, "available")
        self.assertEqual(self.digest(self.backing_file(v3)),
                         self.digest(self.backing_file(vid)))
        host = self.host_of(vid)
        self.assertEqual(self.sql("SELECT snapshot_id, source_volid, host FROM volumes WHERE "
                                  "id IN (%s, %s) ORDER BY size DESC", (v2, v3)),
                         [(sid, None, host), (None, vid, host)])
        self.assertEqual(self.usage("volumes")[0], usages[0][0] + 2)
        self.assertEqual(self.usage("gigabytes")[0], usages[1][0] + 3)
        self.assert_no_drift()

        # Cinder's refusals, nothing created
        count = self.sql_value("SELECT count(*) FROM volumes")
        for body, code, text in (
                ({"snapshot_id": sid, "size": 1, "source_volid": vid}, 400,
                 "May specify only one of backup, imageRef, snapshot, source volume"),
                ({"snapshot_id": str(uuid.uuid4())}, 404, "could not be found"),
                ({"source_volid": str(uuid.uuid4())}, 404, "could not be found"),
                ({"snapshot_id": "nope"}, 400, "is not valid under any of the given schemas"),
                ({"snapshot_id": sid, "availability_zone": "elsewhere"}, 400,
                 "Availability zone 'elsewhere' is invalid.")):
            st, _, doc = self.http("POST", "/v3/%s/volumes" % self.PROJECT,
                                   body={"volume": body})
            self.assertFault(st, doc, code, None, text)
        self.sql("UPDATE volumes SET size = 2 WHERE id = %s", (vid,))
        st, _, doc = self.http("POST", "/v3/%s/volumes" % self.PROJECT,
                               body={"volume": {"source_volid": vid, "size": 1}})
        self.assertFault(st, doc, 400, "badRequest", "Volume size '1'GB cannot be smaller than "
                         "original volume size  2GB. They must be >= original volume size.")
        self.sql("UPDATE volumes SET size = 1 WHERE id = %s", (vid,))
        self.sql("UPDATE snapshots SET status = 'error' WHERE id = %s", (sid,))
        st, _, doc = self.http("POST", "/v3/%s/volumes" % self.PROJECT,
                               body={"volume": {"snapshot_id": sid}})
        self.assertFault(st, doc, 400, "badRequest", "Invalid snapshot: Originating snapshot "
                         "status must be one of 'available' values")
        self.assertEqual(self.sql_value("SELECT count(*) FROM volumes"), count)
        self.assert_no_drift()

    def test_delete_cascade_and_force_delete(self):
        vid = self.create_volume(size=1)
        s1 = self.create_snapshot(vid)
        s2 = self.create_snapshot(vid)
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertFault(st, doc, 400, "badRequest", "have snapshots")
        self.assertEqual(self.status_of(vid), "available")
        st, _, doc = self.http("DELETE", self.vpath(vid, suffix="?cascade=yes-please"))
        self.assertFault(st, doc, 400, "badRequest", "is not a boolean")
        st, _, doc = self.http("DELETE", self.vpath(vid, suffix="?cascade=true"))
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["deleted"], timeout=10)
        for sid in (s1, s2):
            self.assertEqual((self.snapshot_status(sid), self.snapshot_row(sid)["deleted"]),
                             ("deleted", True))
            self.assertFalse(os.path.exists(self.snapshot_file(sid)))
        self.assertFalse(os.path.exists(self.backing_file(vid)))
        self.assertEqual(self.usage("snapshots"), (0, 0))
        self.assertEqual(self.usage("volumes"), (0, 0))
        self.assertEqual(self.usage("gigabytes"), (0, 0))
        self.assert_no_drift()

        # os-force_delete: a volume in a status delete refuses
        v2 = self.create_volume(size=1)
        self.sql("UPDATE volumes SET status = 'error_deleting' WHERE id = %s", (v2,))
        st, _, doc = self.http("DELETE", self.vpath(v2))
        self.assertFault(st, doc, 400, "badRequest", "Volume status must be available")
        st, _, doc = self.action(v2, {"os-force_delete": {}})
        self.assertFault(st, doc, 403, "forbidden", "volume_extension:volume_admin_actions:"
                         "force_delete")
        st, _, doc = self.admin_action(v2, {"os-force_delete": {}})
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(v2)["deleted"], timeout=10)
        self.assertFalse(os.path.exists(self.backing_file(v2)))
        self.assertEqual(self.usage("volumes"), (0, 0))
        self.assert_no_drift()
        # from 3.23 DELETE ?force=true is the same, for an admin only
        v4 = self.create_volume(size=1)
        self.sql("UPDATE volumes SET status = 'creating' WHERE id = %s", (v4,))
        st, _, doc = self.http("DELETE", self.vpath(v4, suffix="?force=true"), version="3.23")
        self.assertFault(st, doc, 403, "forbidden", "volume:force_delete")
        st, _, doc = self.admin("DELETE", self.vpath(v4, suffix="?force=true"), version="3.23")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(v4)["deleted"], timeout=10)
        self.assert_no_drift()
        # a volume force-deleted while its create never ran was never counted in its pool
        v5 = self.insert_volume(size=3, status="creating")
        self.sql("UPDATE volumes SET launched_at = NULL, use_quota = false WHERE id = %s",
                 (v5,))
        pool = self.pool_allocated()
        st, _, doc = self.admin("DELETE", self.vpath(v5, suffix="?force=true"), version="3.23")
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(v5)["deleted"], timeout=10)
        self.assertEqual(self.pool_allocated(), pool, "pool allocated unchanged")
        # still not when it has snapshots (Cinder's force without cascade)
        v3 = self.create_volume(size=1)
        self.create_snapshot(v3)
        st, _, doc = self.admin_action(v3, {"os-force_delete": {}})
        self.assertFault(st, doc, 400, "badRequest", "Invalid volume: Volume  must not be "
                         "migrating")
        self.assertEqual(self.status_of(v3), "available")
