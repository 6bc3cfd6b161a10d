"""A volume's image metadata (docs/cinder.md §18.1): os-set_image_metadata,
os-unset_image_metadata and os-show_image_metadata on the volume_glance_metadata rows, their
refusals with Cinder's codes and messages, and volume_image_metadata in the volume views;
python-cinderclient's image-metadata and image-metadata-show.
"""

from harness import StackTestCase
from harness_glance import GlanceMixin
from test_cinderclient import run_cinder


class ImageMetadataTest(GlanceMixin, StackTestCase):

    def rows(self, vid):
        return dict(self.sql("SELECT key, value FROM volume_glance_metadata WHERE volume_id = "
                             "%s AND deleted = false", (vid,)))

    def set_md(self, vid, md, **kw):
        return self.action(vid, {"os-set_image_metadata": {"metadata": md}}, **kw)

    def test_set_show_unset_and_views(self):
        vid = self.create_volume()
        st, _, doc = self.action(vid, {"os-show_image_metadata": None})
        self.assertFault(st, doc, 404, "itemNotFound",
                         contains="Glance metadata for volume/snapshot %s cannot be found."
                         % vid)
        self.assertNotIn("volume_image_metadata", self.get_volume(vid))

        st, _, doc = self.set_md(vid, {"image_name": "cirros", "hw_disk_bus": "scsi"})
        self.assertEqual((st, doc), (200, {"metadata": {"image_name": "cirros",
                                                        "hw_disk_bus": "scsi"}}))
        st, _, doc = self.set_md(vid, {"hw_disk_bus": "virtio", "k": ""})
        want = {"image_name": "cirros", "hw_disk_bus": "virtio", "k": ""}
        self.assertEqual((st, doc), (200, {"metadata": want}))
        self.assertEqual(self.rows(vid), want)
        self.assertEqual(self.sql_value("SELECT count(*) FROM volume_glance_metadata WHERE "
                                        "volume_id = %s AND key = 'hw_disk_bus'", (vid,)), 1,
                         "a changed value updates its row")

        st, _, doc = self.action(vid, {"os-show_image_metadata": {}})
        self.assertEqual((st, doc), (200, {"metadata": want}))
        self.assertEqual(self.get_volume(vid, admin=False)["volume_image_metadata"], want)
        st, _, doc = self.http("GET", "/v3/%s/volumes/detail" % self.PROJECT)
        self.assertEqual(st, 200)
        mine = [v for v in doc["volumes"] if v["id"] == vid]
        self.assertEqual(mine[0]["volume_image_metadata"], want)

        st, _, body = self.action(vid, {"os-unset_image_metadata": {"key": "k"}})
        self.assertEqual((st, body), (200, None))
        del want["k"]
        self.assertEqual(self.rows(vid), want)
        st, _, doc = self.action(vid, {"os-unset_image_metadata": {"key": "k"}})
        self.assertFault(st, doc, 404, "itemNotFound",
                         contains="Glance metadata for volume/snapshot %s cannot be found."
                         % vid)
        # The rows go with the volume, as Cinder's volume_destroy takes them.
        st, _, _ = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202)
        self.poll(lambda: self.rows(vid) == {}, timeout=10)

    def test_refusals(self):
        vid = self.create_volume()
        for body, message in (
                ({"os-set_image_metadata": {}},
                 "'metadata' is a required property"),
                ({"os-set_image_metadata": {"metadata": None}},
                 "None is not of type 'object'"),
                ({"os-set_image_metadata": {"metadata": {"k": 1}}},
                 "1 is not of type 'string'"),
                ({"os-set_image_metadata": {"metadata": {"bad*key": "v"}}},
                 "Additional properties are not allowed ('bad*key' was unexpected)"),
                ({"os-set_image_metadata": {"metadata": {"k": "v" * 256}}},
                 "is too long"),
                ({"os-set_image_metadata": {"metadata": {}, "x": 1}},
                 "Additional properties are not allowed ('x' was unexpected)"),
                ({"os-unset_image_metadata": {"key": ""}},
                 "'' is too short"),
                ({"os-unset_image_metadata": {}},
                 "'key' is a required property")):
            st, _, doc = self.action(vid, body)
            self.assertFault(st, doc, 400, "badRequest", contains=message)
        self.assertEqual(self.rows(vid), {})

        # Another project's user gets the 404 of a volume it may not see.
        st, _, doc = self.action(vid, {"os-show_image_metadata": None}, project="other",
                                 token="user2:other")
        self.assertEqual(st, 404)

        st, _, _ = self.set_md(vid, {"a": "b"})
        self.assertEqual(st, 200)
        for status in ("maintenance", "uploading"):
            self.sql("UPDATE volumes SET status = %s WHERE id = %s", (status, vid))
            st, _, doc = self.set_md(vid, {"a": "c"})
            self.assertFault(st, doc, 400, "badRequest", contains=(
                "Invalid volume: Updating volume metadata is not allowed for volumes in %s "
                "status." % status))
            st, _, doc = self.action(vid, {"os-unset_image_metadata": {"key": "a"}})
            self.assertFault(st, doc, 400, "badRequest", contains=(
                "Invalid volume: Deleting volume metadata is not allowed for volumes in %s "
                "status." % status))
        self.assertEqual(self.rows(vid), {"a": "b"})
        # The existing and the new keys together are bounded (64), not the body alone.
        self.sql("UPDATE volumes SET status = 'available' WHERE id = %s", (vid,))
        st, _, doc = self.set_md(vid, {"k%02d" % i: "v" for i in range(64)})
        self.assertFault(st, doc, 400, "badRequest", contains=(
            "Invalid input received: at most 64 metadata items are supported."))
        self.assertEqual(self.rows(vid), {"a": "b"})

    def test_cinderclient(self):
        vid = self.create_volume()
        run_cinder(self, "image-metadata", vid, "set", "os_distro=debian", "arch=x86_64")
        self.assertEqual(self.rows(vid), {"os_distro": "debian", "arch": "x86_64"})
        _, out = run_cinder(self, "image-metadata-show", vid)
        self.assertIn("os_distro", out)
        self.assertIn("debian", out)
        run_cinder(self, "image-metadata", vid, "unset", "arch")
        self.assertEqual(self.rows(vid), {"os_distro": "debian"})
        _, out = run_cinder(self, "show", vid)
        self.assertIn("volume_image_metadata", out)
