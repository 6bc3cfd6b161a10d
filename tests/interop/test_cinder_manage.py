"""Manage and unmanage driven by Cinder's own code (docs/cinder.md §20): Cinder's VolumeAPI
casts delete_volume with unmanage_only and manage_existing, and calls get_manageable_volumes,
to volmgr's manager; the results are read back through Cinder's objects and quota engine.

The stack (Cinder's database, two managers) is test_cinder's; only the tests of this module
run here (load_tests), not test_cinder's again.
"""

import os
import secrets
import unittest

import test_cinder
from test_cinder import BACKEND, QUOTAS, USER, poll, pool_host

from cinder import exception, objects


class ManageInteropTest(test_cinder.OsloCinderTest):

    def filestore_file(self, name, data=b"", size=None):
        path = os.path.join(self.manager.filestore, name)
        with open(path, "wb") as f:
            f.write(data)
        if size is not None:
            os.truncate(path, size)
        return path

    def managing_volume(self):
        """A volume as Cinder's API manage flow leaves it: size 0, "managing" on manager 1,
        volumes +1 (and gigabytes +0) reserved and committed."""
        reserve_opts = {"volumes": 1, "gigabytes": 0}
        QUOTAS.add_volume_type_opts(self.ctx, reserve_opts, self.volume_type.id)
        reservations = QUOTAS.reserve(self.ctx, project_id=self.project, **reserve_opts)
        vol = objects.Volume(context=self.ctx, size=0, user_id=USER, project_id=self.project,
                             host=pool_host(self.host), status="managing",
                             attach_status="detached", availability_zone="nova",
                             volume_type_id=self.volume_type.id, display_name="managed")
        vol.create()
        QUOTAS.commit(self.ctx, reservations, project_id=self.project)
        return vol

    def service(self):
        return objects.Service.get_by_args(self.ctx, "%s@%s" % (self.host, BACKEND),
                                           "cinder-volume")

    def test_unmanage_keeps_the_file(self):
        vid = self.create()
        path = os.path.join(self.manager.filestore, "volume-%s" % vid)
        vol = self.volume(vid)
        self.assertTrue(vol.conditional_update({"status": "unmanaging"},
                                               {"status": "available"}))
        self.api.delete_volume(self.ctx, self.volume(vid), unmanage_only=True, cascade=False)
        poll(lambda: self._gone(vid), "volume %s unmanaged" % vid)
        self.assertTrue(os.path.exists(path), "the file is kept")
        self.assertEqual(self.usage("volumes"), (0, 0))
        self.assertEqual(self.usage("gigabytes"), (0, 0))

    def test_manage_existing_cast(self):
        name = "import-%s.img" % secrets.token_hex(4)
        self.filestore_file(name, b"interop", size=(1 << 30) + 1)
        vol = self.managing_volume()
        self.api.manage_existing(self.ctx, vol, {"source-name": name})
        self.status_is(vol.id, "available")
        vol = self.volume(vol.id)
        self.assertEqual(vol.size, 2)
        self.assertIsNotNone(vol.launched_at)
        path = os.path.join(self.manager.filestore, "volume-%s" % vol.id)
        self.assertFalse(os.path.exists(os.path.join(self.manager.filestore, name)))
        with open(path, "rb") as f:
            self.assertEqual(f.read(7), b"interop")
        self.assertEqual(os.path.getsize(path), 2 << 30)
        self.assertEqual(self.usage("volumes"), (1, 0))
        self.assertEqual(self.usage("gigabytes"), (2, 0))

    def test_manage_existing_of_nothing_is_error_managing(self):
        vol = self.managing_volume()
        self.api.manage_existing(self.ctx, vol, {"source-name": "no-such-file"})
        self.status_is(vol.id, "error_managing")
        self.assertEqual(self.volume(vol.id).size, 0)
        self.assertEqual(self.usage("gigabytes"), (0, 0))

    def test_get_manageable_volumes_call(self):
        owned = self.create()
        tag = secrets.token_hex(4)
        names = ["a-%s" % tag, "b-%s" % tag]
        for n in names:
            self.filestore_file(n, size=100)
        svc = self.service()
        got = self.api.get_manageable_volumes(self.ctx, svc, None, 1000, 0, ["reference"],
                                              ["asc"])
        # Cinder's serializer made objects of the ManageableVolumeList primitive.
        self.assertIsInstance(got, objects.ManageableVolumeList)
        entries = {e.reference["source-name"]: e for e in got}
        for n in names:
            self.assertEqual((entries[n].size, entries[n].safe_to_manage,
                              entries[n].cinder_id), (1, True, None))
        mine = entries["volume-%s" % owned]
        self.assertEqual((mine.safe_to_manage, mine.reason_not_safe, mine.cinder_id),
                         (False, "Volume already managed.", owned))
        refs = [e.reference["source-name"] for e in got]
        self.assertEqual(refs, sorted(refs))

        # A page after a marker, as Cinder's API passes it (a JSON string).
        page = self.api.get_manageable_volumes(self.ctx, svc, '{"source-name": "%s"}'
                                               % names[0], 1, 0, ["reference"], ["asc"])
        self.assertEqual([e.reference["source-name"] for e in page], [names[1]])
        with self.assertRaises(exception.InvalidInput) as cm:
            self.api.get_manageable_volumes(self.ctx, svc, '{"source-name": "none"}', 1, 0,
                                            ["reference"], ["asc"])
        self.assertIn("marker not found", str(cm.exception))


def load_tests(loader, tests, pattern):
    """Only this module's tests: the inherited ones run in test_cinder."""
    own = sorted(n for n in vars(ManageInteropTest) if n.startswith("test_"))
    return unittest.TestSuite(ManageInteropTest(n) for n in own)
