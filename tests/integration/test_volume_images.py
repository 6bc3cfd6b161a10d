"""Volumes and images end to end with the throwaway Glance (docs/cinder.md §18):
os-volume_upload_image (the volume's bytes become the image's), create from imageRef (the
image's bytes become the volume's, bootable, image metadata copied), os-reimage (3.68), their
refusals with Cinder's codes and messages and nothing changed, python-cinderclient's
upload-to-image, create --image, reimage and set-bootable, and the casts in both wire formats.
After every flow the quota usages equal the rows.
"""

import hashlib
import os
import uuid

from harness import GIB, StackTestCase, cast_message, context_dict, file_digest
from harness_glance import GlanceMixin
from test_cinderclient import UUID_ROW, run_cinder

MIB = 1024 * 1024
CHUNK = 4 * MIB


class ImagesBase(GlanceMixin, StackTestCase):
    """Helpers of the image tests."""

    def setUp(self):
        super().setUp()
        self.payload = os.urandom(3 * MIB + 123)

    # ---- helpers ----

    def glance_md(self, vid):
        return dict(self.sql("SELECT key, value FROM volume_glance_metadata WHERE volume_id = "
                             "%s AND deleted = false", (vid,)))

    def bootable(self, vid):
        return self.sql_value("SELECT bootable FROM volumes WHERE id = %s", (vid,))

    def volume_head(self, vid, n):
        with open(self.backing_file(vid), "rb") as f:
            return f.read(n)

    def assert_holds(self, vid, data):
        """The volume's file starts with data and reads as zeros up to its end (sampled)."""
        self.assertEqual(self.volume_head(vid, len(data)), data)
        with open(self.backing_file(vid), "rb") as f:
            f.seek(len(data))
            self.assertEqual(f.read(MIB), bytes(MIB), "zeros after the image")
            f.seek(GIB - MIB)
            self.assertEqual(f.read(MIB), bytes(MIB), "zeros at the end")
        self.assertEqual(self.file_size(vid), GIB)

    def create_from_image(self, image_ref, size=1, key="imageRef", version=None):
        return self.http("POST", "/v3/%s/volumes" % self.PROJECT,
                         body={"volume": {"size": size, "name": "from-image", key: image_ref}},
                         version=version)

    def upload(self, vid, version=None, **inner):
        inner.setdefault("image_name", "up-" + vid[:8])
        return self.action(vid, {"os-volume_upload_image": inner}, version=version)

    def reimage(self, vid, image_id, version="3.68", **inner):
        inner["image_id"] = image_id
        return self.action(vid, {"os-reimage": inner}, version=version)

    def write_volume(self, vid, data, offset=0):
        with open(self.backing_file(vid), "r+b") as f:
            f.seek(offset)
            f.write(data)

    def stream_image_md5(self, image_id):
        """(md5, length) of the image's data as Glance sends it, read in chunks."""
        import urllib.request
        h, n = hashlib.md5(), 0
        with urllib.request.urlopen("%s/v2/images/%s/file" % (self.glance_url, image_id),
                                    timeout=120) as r:
            for block in iter(lambda: r.read(CHUNK), b""):
                h.update(block)
                n += len(block)
        return h.hexdigest(), n


class CastFlows:
    """The flows that cast (create_volume with an image, copy_volume_to_image, reimage),
    run in each wire format."""

    # ---- create from an image ----

    def test_create_from_image(self):
        image = self.create_image(self.payload, name="cirros-test", hw_disk_bus="scsi",
                                  os_distro="debian", min_disk=1)
        st, _, doc = self.create_from_image(image)
        self.assertEqual(st, 202, doc)
        vid = doc["volume"]["id"]
        self.wait_status(vid, "available", timeout=30)
        self.assert_holds(vid, self.payload)
        self.assertTrue(self.bootable(vid))
        md = self.glance_md(vid)
        self.assertEqual(md["image_id"], image)
        self.assertEqual(md["image_name"], "cirros-test")
        self.assertEqual(md["hw_disk_bus"], "scsi")
        self.assertEqual(md["os_distro"], "debian")
        self.assertEqual(md["disk_format"], "raw")
        self.assertEqual(md["container_format"], "bare")
        self.assertEqual(md["size"], str(len(self.payload)))
        self.assertEqual(md["min_disk"], "1")
        self.assertEqual(md["checksum"], hashlib.md5(self.payload).hexdigest())
        self.assertNotIn("status", md)
        shown = self.get_volume(vid, admin=False)
        self.assertEqual(shown["bootable"], "true")
        self.assertEqual(shown["volume_image_metadata"]["image_id"], image)
        # image_id is Cinder's other spelling, and a compute API URL ends with the id.
        st, _, doc = self.create_from_image("http://glance/v2/images/" + image, key="image_id")
        self.assertEqual(st, 202, doc)
        self.wait_status(doc["volume"]["id"], "available", timeout=30)
        self.assert_holds(doc["volume"]["id"], self.payload)
        self.assertUsagesMatchRows()

    def test_create_from_unwritable_image(self):
        """An image the manager cannot write (not raw): the volume ends in error with
        Cinder's copy-image-to-volume user message, as its create flow leaves it."""
        image = self.create_image(b"QFI\xfb" + bytes(508), name="qcow", disk_format="qcow2")
        st, _, doc = self.create_from_image(image)
        self.assertEqual(st, 202, doc)
        vid = doc["volume"]["id"]
        self.wait_status(vid, "error", timeout=30)
        self.assertEqual(self.user_messages(vid), [("005", "001",
                                                    "VOLUME_VOLUME_005_001")])
        self.assertEqual(self.glance_md(vid), {})
        self.assertUsagesMatchRows()

    # ---- upload ----

    def test_upload_to_image(self):
        vid = self.create_volume()
        self.write_volume(vid, self.payload)
        self.write_volume(vid, b"tail of the volume", offset=GIB - 18)
        self.sql("INSERT INTO volume_glance_metadata (created_at, deleted, volume_id, key, "
                 "value) VALUES (now(), false, %s, 'hw_qemu_guest_agent', 'yes'), "
                 "(now(), false, %s, 'image_name', 'old'), "
                 "(now(), false, %s, 'os_glance_x', 'reserved')", (vid, vid, vid))
        st, _, doc = self.upload(vid, version="3.1", image_name="uploaded",
                                 visibility="private", protected=False)
        self.assertEqual(st, 202, doc)
        body = doc["os-volume_upload_image"]
        image_id = body["image_id"]
        self.forget_image(image_id)
        self.assertEqual((body["id"], body["status"], body["size"], body["image_name"],
                          body["disk_format"], body["container_format"],
                          body["visibility"], body["protected"]),
                         (vid, "uploading", 1, "uploaded", "raw", "bare", "private", False))
        self.wait_status(vid, "available", timeout=60)
        image = self.poll(lambda: (lambda i: i if i and i["status"] == "active" else None)(
            self.image(image_id)), timeout=30, msg="image active")
        self.assertEqual(image["size"], GIB)
        self.assertEqual(image["hw_qemu_guest_agent"], "yes", "custom property merged")
        self.assertNotIn("os_glance_x", image)
        md5, n = self.stream_image_md5(image_id)
        self.assertEqual(n, GIB)
        self.assertEqual(md5, file_digest(self.backing_file(vid), "md5"),
                         "the image is the volume")
        self.assertEqual(image["checksum"], md5)
        self.assertUsagesMatchRows()
        # The same cast again (an earlier delivery's COMMIT lost): the image is already
        # active with the volume's bytes, which counts as done, not as a failed upload.
        self.sql("UPDATE volumes SET status = 'uploading' WHERE id = %s", (vid,))
        msg = cast_message("copy_volume_to_image", {
            "volume_id": vid, "image_meta": {"id": image_id, "disk_format": "raw",
                                             "container_format": "bare"}},
            context=context_dict(self.USER, self.PROJECT))
        self.publish(msg)
        self.assertEqual(self.poll(lambda: self.processed(msg["_unique_id"]),
                                   msg="redelivered upload handled"),
                         [("copy_volume_to_image", "uploaded")])
        self.assertEqual(self.status_of(vid), "available")
        self.assertEqual(self.user_messages(vid), [], "no failure recorded")

    # ---- reimage ----

    def test_reimage(self):
        first = self.create_image(self.payload, name="first", os_distro="one")
        second_bytes = os.urandom(MIB + 7)
        second = self.create_image(second_bytes, name="second", hw_machine_type="q35")
        st, _, doc = self.create_from_image(first)
        vid = doc["volume"]["id"]
        self.wait_status(vid, "available", timeout=30)
        st, _, body = self.reimage(vid, second)
        self.assertEqual((st, body), (202, None))
        self.assertIn(self.status_of(vid), ("downloading", "available"))
        self.wait_status(vid, "available", timeout=30)
        self.assert_holds(vid, second_bytes)
        md = self.glance_md(vid)
        self.assertEqual((md["image_id"], md["image_name"], md["hw_machine_type"]),
                         (second, "second", "q35"))
        self.assertNotIn("os_distro", md, "the first image's metadata is gone")
        self.assertEqual(self.volume_row(vid)["previous_status"], "available")
        # reimage_reserved lets a reserved volume through, and it comes back reserved.
        self.sql("UPDATE volumes SET status = 'reserved' WHERE id = %s", (vid,))
        st, _, doc = self.reimage(vid, first)
        self.assertFault(st, doc, 400, "badRequest", contains=(
            "Invalid volume: Volume %s status must be available or error, but current status "
            "is reserved." % vid))
        st, _, _ = self.reimage(vid, first, reimage_reserved=True)
        self.assertEqual(st, 202)
        self.wait_status(vid, "reserved", timeout=30)
        self.assert_holds(vid, self.payload)
        self.assertUsagesMatchRows()


class ImagesTest(CastFlows, ImagesBase):
    """msgpack, the default wire format, and the refusals and the client."""

    def test_create_from_image_refusals(self):
        queued = self.create_image(None, name="queued")
        big = self.create_image(b"x" * 10, name="min-disk", min_disk=5)
        before = self.sql_value("SELECT count(*) FROM volumes")
        usages = (self.usage("volumes"), self.usage("gigabytes"))
        for ref, message in (
                (str(uuid.uuid4()), "Invalid image identifier or unable to access requested "
                                    "image."),
                ("not-an-image", "Invalid image identifier or unable to access requested "
                                 "image."),
                (queued, "Invalid input received: Image %s is not active." % queued),
                (big, "Invalid input received: Volume size 1GB cannot be smaller than the "
                      "image minDisk size 5GB.")):
            st, _, doc = self.create_from_image(ref)
            self.assertFault(st, doc, 400, "badRequest", contains=message)
        st, _, doc = self.create_from_image(12)
        self.assertFault(st, doc, 400, "badRequest", contains="Invalid imageRef provided.")
        self.assertEqual(self.sql_value("SELECT count(*) FROM volumes"), before,
                         "no volume row")
        self.assertEqual((self.usage("volumes"), self.usage("gigabytes")), usages)

    def test_upload_refusals(self):
        vid = self.create_volume()
        self.attach(vid)
        self.assertEqual(self.status_of(vid), "in-use")
        for body, message in (
                ({}, "Invalid volume: Volume %s status must be available" % vid),
                ({"force": True}, "Invalid volume: Volume %s status must be available" % vid),
                ({"disk_format": "iso"}, "'iso' is not one of ['raw', 'vmdk', 'vdi', 'qcow2', "
                                         "'vhd', 'vhdx', 'ploop']"),
                ({"image_name": ""}, "'' is too short"),
                ({"force": "maybe"}, "maybe")):
            st, _, doc = self.upload(vid, **body)
            self.assertFault(st, doc, 400, "badRequest", contains=message)
        st, _, doc = self.action(vid, {"os-volume_upload_image": {"force": True}})
        self.assertFault(st, doc, 400, "badRequest", contains="'image_name' is a required "
                         "property")
        st, _, doc = self.upload(vid, visibility="private")
        self.assertFault(st, doc, 400, "badRequest", contains="Additional properties are not "
                         "allowed ('visibility' was unexpected)")
        other = self.create_volume()
        st, _, doc = self.upload(other, version="3.1", visibility="public")
        self.assertFault(st, doc, 403, "forbidden", contains="volume_extension:volume_actions:"
                         "upload_public")
        # Glance refuses a container format it does not know: the volume is back.
        st, _, doc = self.upload(other, container_format="tarball")
        self.assertEqual(st, 400, doc)
        self.assertEqual((self.status_of(vid), self.status_of(other)), ("in-use", "available"))
        st, images = self.glance("GET", "/v2/images?name=up-" + other[:8])
        self.assertEqual(images["images"], [], "no image left behind")
        self.assertUsagesMatchRows()

    def test_reimage_refusals(self):
        vid = self.create_volume()
        image = self.create_image(self.payload)
        st, _, doc = self.reimage(vid, image, version="3.67")
        self.assertFault(st, doc, 404, contains="API version 3.67 is not supported")
        missing = str(uuid.uuid4())
        st, _, doc = self.reimage(vid, missing)
        self.assertFault(st, doc, 404, "itemNotFound",
                         contains="Image %s could not be found." % missing)
        st, _, doc = self.reimage(vid, "nope")
        self.assertFault(st, doc, 400, "badRequest", contains="is not a 'uuid'")
        queued = self.create_image(None)
        st, _, doc = self.reimage(vid, queued)
        self.assertFault(st, doc, 400, "badRequest",
                         contains="Invalid input received: Image %s is not active." % queued)
        self.attach(vid)
        st, _, doc = self.reimage(vid, image)
        self.assertFault(st, doc, 400, "badRequest", contains=(
            "Invalid volume: Volume %s status must be available or error, but current status "
            "is in-use." % vid))
        self.assertEqual(self.status_of(vid), "in-use")
        self.assertEqual(self.glance_md(vid), {})
        self.assertEqual(self.volume_head(vid, 16), bytes(16), "the volume is untouched")

    def test_cinderclient(self):
        image = self.create_image(self.payload, name="cc-image")
        _, out = run_cinder(self, "create", "--image", image, "--name", "cc", "1")
        vid = UUID_ROW.search(out).group(1)
        self.wait_status(vid, "available", timeout=30)
        self.assert_holds(vid, self.payload)
        run_cinder(self, "set-bootable", vid, "false")
        self.assertFalse(self.bootable(vid))
        second = self.create_image(b"second image", name="cc-second")
        run_cinder(self, "reimage", vid, second)
        self.wait_status(vid, "available", timeout=30)
        self.assert_holds(vid, b"second image")
        self.assertTrue(self.bootable(vid), "a reimaged volume is bootable")
        _, out = run_cinder(self, "upload-to-image", vid, "cc-upload")
        self.assertIn("cc-upload", out)
        self.wait_status(vid, "available", timeout=60)
        st, images = self.glance("GET", "/v2/images?name=cc-upload")
        self.assertEqual(len(images["images"]), 1, images)
        uploaded = images["images"][0]
        self.forget_image(uploaded["id"])
        self.poll(lambda: self.image(uploaded["id"])["status"] == "active", timeout=30)
        self.assertEqual(self.image(uploaded["id"])["checksum"],
                         file_digest(self.backing_file(vid), "md5"))
        self.assertUsagesMatchRows()


class ImagesJsonWireTest(CastFlows, ImagesBase):
    """The same casts in oslo's JSON wire format, with a dead image server listed first:
    every call of the shim and the manager goes on to the next one."""

    rpc_wire_format = "json"
    glance_dead_server_first = True
