"""python-cinderclient 9.1's `unmanage`, `manage` and `manageable-list` against the api-shim
(docs/cinder.md §20), as an admin; every step is checked in the database and on disk.
"""

import os
import uuid

from harness import StackTestCase
from test_cinderclient import UUID_ROW, run_cinder


class ManageCinderClientTest(StackTestCase):

    def cinder(self, *args, ok=True, version="3.70"):
        return run_cinder(self, *args, user="admin", ok=ok, version=version)

    def test_unmanage_manage_list(self):
        vid = self.create_volume(1)
        with open(self.backing_file(vid), "r+b") as f:
            f.write(b"cinderclient")

        self.cinder("unmanage", vid)
        self.poll(lambda: self.volume_row(vid)["deleted"], msg="unmanaged")
        self.assertTrue(os.path.exists(self.backing_file(vid)), "the file is kept")

        # The file is listed as safe to manage, by its plain name.
        _, out = self.cinder("manageable-list", "--detailed", "True", self.volume_host)
        line = [l for l in out.splitlines() if "volume-%s" % vid in l]
        self.assertEqual(len(line), 1, out)
        self.assertIn("True", line[0], out)

        # Managed back by the id it had (source-id), with a name and metadata.
        _, out = self.cinder("manage", "--id-type", "source-id", "--name", "cc-managed",
                             "--metadata", "k=v", "--bootable", self.volume_host, vid)
        m = UUID_ROW.search(out)
        self.assertIsNotNone(m, out)
        new = m.group(1)
        self.wait_status(new, "available")
        self.assertEqual(self.sql_value("SELECT display_name FROM volumes WHERE id = %s",
                                        (new,)), "cc-managed")
        self.assertTrue(self.sql_value("SELECT bootable FROM volumes WHERE id = %s", (new,)))
        with open(self.backing_file(new), "rb") as f:
            self.assertEqual(f.read(12), b"cinderclient")

        # Now owned: listed as not safe, with its volume's id.
        _, out = self.cinder("manageable-list", "--detailed", "True", self.volume_host)
        line = [l for l in out.splitlines() if "volume-%s" % new in l]
        self.assertEqual(len(line), 1, out)
        self.assertIn("Volume already managed.", line[0])
        self.assertIn(new, line[0])

        # A name that is not there: accepted, then error_managing.
        _, out = self.cinder("manage", self.volume_host, "missing-%s" % uuid.uuid4().hex[:6])
        bad = UUID_ROW.search(out).group(1)
        self.wait_status(bad, "error_managing")
        self.cinder("delete", bad)
        self.poll(lambda: self.volume_row(bad)["deleted"], msg="error_managing deleted")

        # Refused by the API: an unknown host.
        code, out = self.cinder("manage", "nohost@nowhere", "x", ok=False)
        self.assertNotEqual(code, 0)
        self.assertIn("Host 'nohost@nowhere' not found", out)
