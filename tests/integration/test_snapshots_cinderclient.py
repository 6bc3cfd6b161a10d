"""python-cinderclient 9.1 against the snapshot routes and the flows on them: snapshot-create,
snapshot-list, snapshot-show, snapshot-metadata, snapshot-reset-state, snapshot-delete,
revert-to-snapshot, create --snapshot-id / --source-volid, delete --cascade and force-delete,
each checked in the rows, the files and the quota usages.
"""

import os

import test_cinderclient
import test_snapshots

MIB = test_snapshots.MIB
UUID_ROW = test_cinderclient.UUID_ROW


class SnapshotsCinderClientTest(test_snapshots.SnapshotTestBase):

    def cinder(self, *args, user=None, ok=True):
        return test_cinderclient.run_cinder(self, *args, user=user, ok=ok)

    def new_id(self, out):
        m = UUID_ROW.search(out)
        self.assertIsNotNone(m, "the output names the id:\n" + out)
        return m.group(1)

    def test_snapshot_commands(self):
        vid = self.create_volume(size=1)
        self.write_at(vid, 4 * MIB, b"client" * 1000)
        _, out = self.cinder("snapshot-create", "--name", "ccsnap", "--metadata", "a=1", vid)
        sid = self.new_id(out)
        self.wait_snapshot(sid, "available")
        self.assertEqual(self.digest(self.snapshot_file(sid)),
                         self.digest(self.backing_file(vid)))

        _, out = self.cinder("snapshot-list")
        self.assertIn(sid, out)
        self.assertIn("ccsnap", out)
        _, out = self.cinder("snapshot-show", sid)
        self.assertRegex(out, r"\|\s*status\s*\|\s*available\s*\|")
        self.assertRegex(out, r"os-extended-snapshot-attributes:progress\s*\|\s*100%")

        self.cinder("snapshot-metadata", sid, "set", "b=2")
        self.cinder("snapshot-metadata", sid, "unset", "a")
        self.assertEqual(self.sql("SELECT key, value FROM snapshot_metadata WHERE snapshot_id "
                                  "= %s AND NOT deleted", (sid,)), [("b", "2")])

        rc, out = self.cinder("snapshot-reset-state", "--state", "error", sid, ok=False)
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(self.snapshot_status(sid), "available")
        self.cinder("snapshot-reset-state", "--state", "error", sid, user="admin")
        self.assertEqual(self.snapshot_status(sid), "error")
        self.cinder("snapshot-reset-state", "--state", "available", sid, user="admin")

        self.write_at(vid, 4 * MIB, b"change" * 1000)
        self.cinder("revert-to-snapshot", sid)
        self.wait_snapshot(sid, "available")
        self.wait_status(vid, "available")
        self.assertEqual(self.digest(self.backing_file(vid)),
                         self.digest(self.snapshot_file(sid)))

        _, out = self.cinder("create", "--snapshot-id", sid, "--name", "fromsnap")
        v2 = self.new_id(out)
        _, out = self.cinder("create", "--source-volid", vid, "--name", "clone")
        v3 = self.new_id(out)
        for v in (v2, v3):
            self.wait_status(v, "available")
            self.assertEqual(self.digest(self.backing_file(v)),
                             self.digest(self.backing_file(vid)))

        self.cinder("snapshot-delete", sid)
        self.poll(lambda: self.snapshot_row(sid)["deleted"], timeout=10)
        self.assertFalse(os.path.exists(self.snapshot_file(sid)))
        self.assert_no_drift()

        # delete --cascade, then force-delete (admin)
        _, out = self.cinder("snapshot-create", v2)
        s2 = self.new_id(out)
        self.wait_snapshot(s2, "available")
        self.cinder("delete", "--cascade", v2)
        self.poll(lambda: self.volume_row(v2)["deleted"], timeout=10)
        self.assertTrue(self.snapshot_row(s2)["deleted"])
        self.assertFalse(os.path.exists(self.snapshot_file(s2)))
        self.sql("UPDATE volumes SET status = 'error_deleting' WHERE id = %s", (v3,))
        rc, out = self.cinder("force-delete", v3, ok=False)
        self.assertNotEqual(rc, 0, out)
        self.cinder("force-delete", v3, user="admin")
        self.poll(lambda: self.volume_row(v3)["deleted"], timeout=10)
        self.assertFalse(os.path.exists(self.backing_file(v3)))
        self.assertEqual(self.usage("snapshots"), (0, 0))
        self.assertEqual(self.usage("volumes"), (1, 0))
        self.assert_no_drift()
