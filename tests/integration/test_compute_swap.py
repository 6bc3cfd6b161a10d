"""The compute stand-in's swap (Nova's swap_volume, PUT .../os-volume_attachments/{old} with
the new volume's id), on its own: the answer of each fixture knob, the hypervisor's sparse
copy between two backends' directories and the os-migrate_volume_completion it sends.

The completion here meets Cinder's shortcut (neither volume migrating: the API answers the new
id without asking a manager), so that the stand-in is tested apart from the migration engine;
tests/integration/test_migration_attached.py drives it through a real migration.
"""

import os
import uuid

from harness import GIB, StackTestCase


class ComputeSwapTest(StackTestCase):

    second_backend = True

    def setUp(self):
        super().setUp()
        self.server = str(uuid.uuid4())

    def volume_pair(self, data):
        """A source volume on the first backend whose file holds data at 0 and at 512 MiB,
        and a destination volume on the second with an empty (sparse) 1 GiB file, both
        registered with the stub (only the source attached to the server)."""
        src = self.insert_volume(file_gib=1)
        with open(self.backing_file(src), "r+b") as f:
            f.write(data)
            f.seek(512 * 1024 * 1024)
            f.write(data)
        dst = self.insert_volume()
        self.sql("UPDATE volumes SET host = %s WHERE id = %s", (self.volume_host2, dst))
        path = os.path.join(self.filestore_dir2, "volume-%s" % dst)
        with open(path, "wb") as f:
            f.truncate(GIB)
        self.stub("POST", "/_fixture/attachments",
                  {"server_id": self.server, "volume_id": src, "project_id": self.PROJECT})
        return src, dst, path

    def swap(self, old, new):
        st, _, doc = self._request(self.stub_root, "PUT", "/v2.1/servers/%s/os-volume_"
                                   "attachments/%s" % (self.server, old),
                                   body={"volumeAttachment": {"volumeId": new}},
                                   token="stub-token")
        return st, doc

    def attached(self, volume_id):
        st, _, _ = self._request(self.stub_root, "GET", "/v2.1/servers/%s/os-volume_"
                                 "attachments/%s" % (self.server, volume_id))
        return st == 200

    def test_swap_copies_and_completes(self):
        data = os.urandom(65536)
        src, dst, path = self.volume_pair(data)
        st, doc = self.swap(src, dst)
        self.assertEqual((st, doc), (202, None))
        swaps = self.poll(lambda: [s for s in self.stub_swaps() if "completion_status" in s],
                          msg="the stub's swap finished")
        self.assertEqual(len(swaps), 1)
        sw = swaps[0]
        self.assertEqual((sw["server_id"], sw["volume_id"], sw["new_volume_id"], sw["status"]),
                         (self.server, src, dst, 202))
        self.assertEqual((sw["completed"], sw["completion_status"], sw["completion_body"]),
                         (True, 200, {"save_volume_id": dst}), sw["detail"])
        # Only the two regions hold data (the copy wrote no more than them); they are equal.
        self.assertLessEqual(sw["copied_bytes"], 2 * 1024 * 1024)
        self.assertGreaterEqual(sw["copied_bytes"], 2 * len(data))
        with open(self.backing_file(src), "rb") as a, open(path, "rb") as b:
            for offset in (0, 512 * 1024 * 1024):
                a.seek(offset)
                b.seek(offset)
                self.assertEqual(b.read(len(data) + 4096), a.read(len(data) + 4096))
        self.assertEqual(os.stat(path).st_size, GIB)
        self.assertLess(os.stat(path).st_blocks * 512, 64 * 1024 * 1024, "still sparse")
        # Nova's block device mapping now names the volume the completion kept.
        self.assertTrue(self.attached(dst))
        self.assertFalse(self.attached(src))

    def test_swap_error_completes_with_error(self):
        src, dst, path = self.volume_pair(b"x" * 4096)
        self.stub_mode(swap_error=True)
        self.assertEqual(self.swap(src, dst)[0], 202)
        sw = self.poll(lambda: [s for s in self.stub_swaps() if "completion_status" in s],
                       msg="the stub's swap finished")[0]
        self.assertEqual(sw["copied_bytes"], 0)
        self.assertEqual(sw["completion_status"], 200, sw["detail"])
        with open(path, "rb") as f:
            self.assertEqual(f.read(4096), bytes(4096), "nothing copied")

    def test_swap_refusals(self):
        src, dst, _ = self.volume_pair(b"y")
        self.stub_mode(swap_mode="fail")
        self.assertEqual(self.swap(src, dst)[0], 500)
        self.stub_mode(swap_mode="notfound")
        self.assertEqual(self.swap(src, dst)[0], 404)
        self.stub_mode(swap_mode="ok")
        self.assertEqual(self.swap(dst, src)[0], 404, "not attached to the server")
        self.assertEqual([(s["volume_id"], s["status"]) for s in self.stub_swaps()],
                         [(src, 500), (src, 404), (dst, 404)])
        self.assertTrue(all("completion_status" not in s for s in self.stub_swaps()))
        self.assertTrue(self.attached(src))
