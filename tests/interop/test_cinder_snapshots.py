"""Snapshots between Cinder's own code and volmgr's manager (docs/cinder.md §17): Cinder's
VolumeAPI (cinder.volume.rpcapi) casts create_snapshot, delete_snapshot, revert_to_snapshot,
create_volume of a volume with snapshot_id or source_volid and delete_volume with cascade to
volmgr's manager, with the rows and reservations made as Cinder's volume API makes them; the
results are read back through Cinder's objects and quota engine, and in the files' bytes.

(Named test_cinder_snapshots: the integration suite, on the path, has a test_snapshots.)
The class is test_cinder's deployment once more (its set-up gives every class a database, an
exchange and managers of its own) and runs only the tests it defines itself (load_tests below),
not the inherited ones a second time.
"""

import os
import unittest

import test_cinder
from harness import sparse_digest
from cinder import exception, objects
from cinder.objects import fields

MIB = 1 << 20


def load_tests(loader, tests, pattern):
    """Only this module's own tests: the inherited ones run in test_cinder."""
    names = sorted(n for n in vars(CinderSnapshotInteropTest) if n.startswith("test_"))
    return unittest.TestSuite(CinderSnapshotInteropTest(n) for n in names)


class CinderSnapshotInteropTest(test_cinder.OsloCinderTest):

    def path(self, kind, rid):
        return os.path.join(self.manager.filestore, "%s-%s" % (kind, rid))

    def write_at(self, vid, offset, data):
        with open(self.path("volume", vid), "r+b") as f:
            f.seek(offset)
            f.write(data)

    def digest(self, path):
        return sparse_digest(path)

    def snapshot(self, sid):
        return objects.Snapshot.get_by_id(self.ctx, sid)

    def snapshot_is(self, sid, status):
        return test_cinder.poll(lambda: self.snapshot(sid).status == status,
                                "snapshot %s %s" % (sid, status))

    def snapshot_gone(self, sid):
        try:
            self.snapshot(sid)
        except exception.SnapshotNotFound:
            return True
        return False

    def create_snapshot(self, vid):
        """A snapshot of vid as Cinder's create_snapshot_in_db makes it (quota reserved for
        snapshots and gigabytes with the type's, the row, the commit), then Cinder's
        create_snapshot cast; returns its id once the manager made it available."""
        vol = self.volume(vid)
        reserve_opts = {"snapshots": 1, "gigabytes": vol.size}
        test_cinder.QUOTAS.add_volume_type_opts(self.ctx, reserve_opts, vol.volume_type_id)
        reservations = test_cinder.QUOTAS.reserve(self.ctx, project_id=self.project,
                                                  **reserve_opts)
        snap = objects.Snapshot(context=self.ctx, volume_id=vid, user_id=test_cinder.USER,
                                project_id=self.project,
                                status=fields.SnapshotStatus.CREATING, progress="0%",
                                volume_size=vol.size, volume_type_id=vol.volume_type_id,
                                display_name="interop", metadata={})
        snap.create()
        test_cinder.QUOTAS.commit(self.ctx, reservations, project_id=self.project)
        self.api.create_snapshot(self.ctx, vol, snap)
        self.snapshot_is(snap.id, fields.SnapshotStatus.AVAILABLE)
        return snap.id

    def test_create_and_delete_snapshot(self):
        vid = self.create()
        self.write_at(vid, 3 * MIB, b"interop" * 100)
        sid = self.create_snapshot(vid)
        snap = self.snapshot(sid)
        self.assertEqual((snap.progress, snap.provider_location),
                         ("100%", self.path("snapshot", sid)))
        self.assertEqual(self.digest(self.path("snapshot", sid)),
                         self.digest(self.path("volume", vid)))
        self.assertEqual(self.usage("snapshots"), (1, 0))
        self.assertEqual(self.usage("gigabytes"), (2, 0))

        self.assertTrue(snap.conditional_update({"status": "deleting"},
                                                {"status": "available"}))
        self.api.delete_snapshot(self.ctx, self.snapshot(sid), unmanage_only=False)
        test_cinder.poll(lambda: self.snapshot_gone(sid), "snapshot %s deleted" % sid)
        self.assertFalse(os.path.exists(self.path("snapshot", sid)))
        self.assertEqual(self.usage("snapshots"), (0, 0))
        self.assertEqual(self.usage("gigabytes"), (1, 0))

    def test_revert_to_snapshot(self):
        vid = self.create()
        self.write_at(vid, 5 * MIB, b"before" * 100)
        sid = self.create_snapshot(vid)
        want = self.digest(self.path("snapshot", sid))
        self.write_at(vid, 5 * MIB, b"after!" * 100)
        vol, snap = self.volume(vid), self.snapshot(sid)
        self.assertTrue(vol.conditional_update({"status": "reverting"},
                                               {"status": "available"}))
        self.assertTrue(snap.conditional_update({"status": "restoring"},
                                                {"status": "available"}))
        self.api.revert_to_snapshot(self.ctx, self.volume(vid), self.snapshot(sid))
        self.status_is(vid, "available")
        self.snapshot_is(sid, fields.SnapshotStatus.AVAILABLE)
        self.assertEqual(self.digest(self.path("volume", vid)), want)

    def test_create_volume_from_snapshot_and_from_volume(self):
        vid = self.create()
        self.write_at(vid, 7 * MIB, b"source" * 100)
        sid = self.create_snapshot(vid)
        from_snap = self.create(snapshot_id=sid)
        clone = self.create(source_volid=vid)
        for new in (from_snap, clone):
            self.assertEqual(self.digest(self.path("volume", new)),
                             self.digest(self.path("volume", vid)))
        self.assertEqual((self.volume(from_snap).snapshot_id,
                          self.volume(clone).source_volid), (sid, vid))

    def test_delete_volume_with_cascade(self):
        vid = self.create()
        sids = [self.create_snapshot(vid) for _ in range(2)]
        vol = self.volume(vid)
        self.assertTrue(vol.conditional_update({"status": "deleting"},
                                               {"status": "available"}))
        for sid in sids:
            self.assertTrue(self.snapshot(sid).conditional_update({"status": "deleting"},
                                                                  {"status": "available"}))
        self.api.delete_volume(self.ctx, self.volume(vid), unmanage_only=False, cascade=True)
        test_cinder.poll(lambda: self._gone(vid), "volume %s deleted" % vid)
        for sid in sids:
            self.assertTrue(self.snapshot_gone(sid))
            self.assertFalse(os.path.exists(self.path("snapshot", sid)))
        self.assertFalse(os.path.exists(self.path("volume", vid)))
        for resource in ("volumes", "snapshots", "gigabytes"):
            self.assertEqual(self.usage(resource), (0, 0), resource)
