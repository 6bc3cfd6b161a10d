"""volmgr's manager serving Cinder's image casts (docs/cinder.md §18), driven by Cinder's own
VolumeAPI (cinder.volume.rpcapi) as test_cinder's deployment sets it up, against the throwaway
Glance that tests/interop/run.py starts: copy_volume_to_image, reimage, and create_volume
with a request spec naming an image. Bytes are compared on both sides; rows are read back
through Cinder's objects and db API.
"""

import os
import secrets
import sys
import unittest

import test_cinder  # noqa: E402  (its directory is on the path: discovery's top level)

sys.path.insert(0, os.path.join(test_cinder.REPO, "tests", "integration"))
from harness_db import file_digest  # noqa: E402
from harness_glance import glance_request, load_glance_env  # noqa: E402

from oslo_db.sqlalchemy import enginefacade  # noqa: E402

from cinder import db  # noqa: E402
from cinder.db.sqlalchemy import api as sqla_api  # noqa: E402

MIB = 1 << 20


class ImageInterop(test_cinder.OsloCinderTest):
    """test_cinder's deployment, its managers pointed at the throwaway Glance; only the tests
    of this class run here (load_tests), not test_cinder's again."""

    @classmethod
    def setUpClass(cls):
        cls.glance_url = load_glance_env()["VOLMGR_GLANCE_URL"]
        # The managers take [glance] api_servers from the environment they inherit.
        os.environ["VOLMGR_GLANCE_URL"] = cls.glance_url
        # Cinder's database engine is made once per process, on the first class's database:
        # a fresh factory makes this class's objects read its own (set-up points
        # [database] connection at it before the first query).
        cls.restore_factory = sqla_api.main_context_manager.patch_factory(
            enginefacade._TransactionFactory())
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.restore_factory()
        os.environ.pop("VOLMGR_GLANCE_URL", None)

    def setUp(self):
        super().setUp()
        self.images = []
        self.addCleanup(lambda: [self.glance("DELETE", "/v2/images/" + i) for i in self.images])

    def glance(self, method, path, body=None, data=None):
        return glance_request(self.glance_url, method, path, body=body, data=data)

    def new_image(self, data, **props):
        """An image in Glance (raw, bare), its bytes uploaded unless data is None; returns its
        record as Cinder's image service would hand it over (the id and formats)."""
        body = {"name": "interop-" + secrets.token_hex(3), "disk_format": "raw",
                "container_format": "bare"}
        body.update(props)
        st, image = self.glance("POST", "/v2/images", body=body)
        self.assertEqual(st, 201, image)
        self.images.append(image["id"])
        if data is not None:
            st, _ = self.glance("PUT", "/v2/images/%s/file" % image["id"], data=data)
            self.assertEqual(st, 204)
        return {k: image[k] for k in ("id", "name", "disk_format", "container_format")}

    def image_status(self, image_id):
        st, image = self.glance("GET", "/v2/images/" + image_id)
        return image["status"] if st == 200 else None

    def volume_file(self, vid):
        return os.path.join(self.manager.filestore, "volume-%s" % vid)

    def assert_holds(self, vid, data):
        with open(self.volume_file(vid), "rb") as f:
            self.assertEqual(f.read(len(data)), data)
            self.assertEqual(f.read(MIB), bytes(MIB), "zeros after the image")

    def glance_metadata(self, vid):
        return {m.key: m.value for m in db.volume_glance_metadata_get(self.ctx, vid)}

    def test_copy_volume_to_image(self):
        vid = self.create()
        with open(self.volume_file(vid), "r+b") as f:
            f.write(secrets.token_bytes(MIB))
        image = self.new_image(None)
        vol = self.volume(vid)
        self.assertTrue(vol.conditional_update({"status": "uploading",
                                                "previous_status": "available"},
                                               {"status": "available"}))
        self.api.copy_volume_to_image(self.ctx, self.volume(vid), image)
        self.status_is(vid, "available")
        test_cinder.poll(lambda: self.image_status(image["id"]) == "active", "image active")
        st, record = self.glance("GET", "/v2/images/" + image["id"])
        self.assertEqual(record["size"], 1 << 30)
        self.assertEqual(record["checksum"], file_digest(self.volume_file(vid), "md5"))

    def test_reimage(self):
        data = secrets.token_bytes(2 * MIB + 5)
        image = self.new_image(data, os_distro="interop")
        vid = self.create()
        vol = self.volume(vid)
        self.assertTrue(vol.conditional_update({"status": "downloading",
                                                "previous_status": "available"},
                                               {"status": "available"}))
        self.api.reimage(self.ctx, self.volume(vid), image)
        self.status_is(vid, "available")
        self.assert_holds(vid, data)
        vol = self.volume(vid)
        self.assertTrue(vol.bootable)
        md = self.glance_metadata(vid)
        self.assertEqual((md["image_id"], md["os_distro"], md["size"]),
                         (image["id"], "interop", str(len(data))))

    def test_create_volume_from_image(self):
        data = secrets.token_bytes(3 * MIB)
        image = self.new_image(data, hw_disk_bus="virtio")
        reserve_opts = {"volumes": 1, "gigabytes": 1}
        test_cinder.QUOTAS.add_volume_type_opts(self.ctx, reserve_opts, self.volume_type.id)
        reservations = test_cinder.QUOTAS.reserve(self.ctx, project_id=self.project,
                                                  **reserve_opts)
        vol = test_cinder.objects.Volume(
            context=self.ctx, size=1, user_id=test_cinder.USER, project_id=self.project,
            host=test_cinder.pool_host(self.host), status="creating",
            attach_status="detached", availability_zone="nova",
            volume_type_id=self.volume_type.id, display_name="interop-from-image")
        vol.create()
        test_cinder.QUOTAS.commit(self.ctx, reservations, project_id=self.project)
        self.api.create_volume(self.ctx, vol, {"image_id": image["id"]}, {},
                               allow_reschedule=True)
        self.status_is(vol.id, "available")
        self.assert_holds(vol.id, data)
        self.assertTrue(self.volume(vol.id).bootable)
        md = self.glance_metadata(vol.id)
        self.assertEqual((md["image_id"], md["image_name"], md["hw_disk_bus"]),
                         (image["id"], image["name"], "virtio"))
        self.assertEqual(self.usage("volumes"), (1, 0))
        self.assertEqual(self.usage("gigabytes"), (1, 0))


def load_tests(loader, tests, pattern):
    """Only the tests ImageInterop defines: the ones it inherits run in test_cinder."""
    return unittest.TestSuite(ImageInterop(name) for name in loader.getTestCaseNames(ImageInterop)
                              if name in ImageInterop.__dict__)
