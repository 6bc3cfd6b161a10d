"""An attached volume migrated between the two backends through the compute stand-in (issue
14; docs/cinder.md §16): os-migrate_volume -> the source manager creates the destination and
asks the compute API to swap the volume -> the stand-in copies the bytes like a hypervisor and
calls os-migrate_volume_completion -> the migrate_volume_completion call -> 200
save_volume_id, the rows as Cinder's migrate_volume_completion leaves them and the bytes on
the destination backend. Then the two failures: a completion with error true (the destination
deleted, the source restored) and a swap the compute API refuses.
"""

import hashlib
import os

from harness import StackTestCase

MIGRATION_TIMEOUT = 30


class MigrationAttachedTest(StackTestCase):

    second_backend = True

    # ---- helpers ----

    def setUp(self):
        super().setUp()
        self.dirs = {self.volume_host: self.filestore_dir, self.volume_host2: self.filestore_dir2}

    def row(self, vid):
        rows = self.sql("SELECT status, attach_status, migration_status, host, _name_id, "
                        "deleted, previous_status FROM volumes WHERE id = %s", (vid,))
        return dict(zip(("status", "attach_status", "migration_status", "host", "name_id",
                         "deleted", "previous_status"), rows[0]))

    def file_of(self, vid):
        """The backing file of a volume, where its backend keeps it: volume-<name id or id>."""
        r = self.row(vid)
        return os.path.join(self.dirs[r["host"]], "volume-%s" % (r["name_id"] or vid))

    @staticmethod
    def checksum(path):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(4 * 1024 * 1024), b""):
                h.update(chunk)
        return h.hexdigest()

    def attached_volume(self):
        """A 1 GiB volume created through the API, with data at three places, attached to a
        server the stand-in knows. Returns (id, the other backend's volume host, server,
        checksum)."""
        vid = self.create_volume()
        path = self.file_of(vid)
        with open(path, "r+b") as f:
            for offset in (0, 300 * 1024 * 1024, 1024 ** 3 - 8192):
                f.seek(offset)
                f.write(os.urandom(8192))
        _, server = self.attach(vid)
        self.assertEqual(self.status_of(vid), "in-use")
        dest = self.volume_host2 if self.row(vid)["host"] == self.volume_host else \
            self.volume_host
        return vid, dest, server, self.checksum(path)

    def migrate(self, vid, dest):
        st, _, doc = self.admin_action(vid, {"os-migrate_volume": {"host": dest.split("#")[0]}})
        self.assertEqual(st, 202, doc)

    def wait_migration(self, vid, status):
        self.poll(lambda: self.row(vid)["migration_status"] in ("success", "error"),
                  timeout=MIGRATION_TIMEOUT, msg="the migration of %s ended" % vid)
        self.assertEqual(self.row(vid)["migration_status"], status)

    def one_swap(self, vid, server):
        swaps = self.stub_swaps()
        self.assertEqual(len(swaps), 1, swaps)
        self.assertEqual((swaps[0]["server_id"], swaps[0]["volume_id"]), (server, vid))
        return swaps[0]

    def gone(self, vid):
        """The volume's row was deleted (by the delete_volume cast of the cleanup)."""
        self.poll(lambda: self.row(vid)["deleted"], timeout=MIGRATION_TIMEOUT,
                  msg="volume %s deleted" % vid)

    def live_attachments(self, vid):
        return self.sql("SELECT instance_uuid, attach_status FROM volume_attachment "
                        "WHERE volume_id = %s AND NOT deleted", (vid,))

    # ---- tests ----

    def test_attached_migration(self):
        vid, dest, server, before = self.attached_volume()
        old_path = self.file_of(vid)
        self.migrate(vid, dest)
        self.wait_migration(vid, "success")
        swap = self.poll(lambda: self.one_swap(vid, server).get("completion_status") and
                         self.one_swap(vid, server), msg="the stand-in's completion answered")
        self.assertEqual(swap["status"], 202)
        self.assertEqual((swap["completion_status"], swap["completion_body"]),
                         (200, {"save_volume_id": vid}), swap["detail"])
        # Cinder's migrate_volume_completion: the source id lives on, on the destination.
        r = self.row(vid)
        self.assertEqual((r["status"], r["attach_status"], r["host"], r["deleted"]),
                         ("in-use", "attached", dest, False))
        self.assertEqual(self.live_attachments(vid), [(server, "attached")])
        self.gone(swap["new_volume_id"])
        new_path = self.file_of(vid)
        self.assertTrue(new_path.startswith(self.dirs[dest]))
        self.assertEqual(self.checksum(new_path), before, "the bytes moved unchanged")
        self.poll(lambda: not os.path.exists(old_path), timeout=MIGRATION_TIMEOUT,
                  msg="the source backend's file removed")
        view = self.get_volume(vid)
        self.assertEqual((view["os-vol-host-attr:host"], view["migration_status"],
                          view["status"]), (dest, "success", "in-use"))

    def test_completion_with_error_restores_the_source(self):
        self.stub_mode(swap_error=True)
        vid, dest, server, before = self.attached_volume()
        path, host = self.file_of(vid), self.row(vid)["host"]
        self.migrate(vid, dest)
        self.wait_migration(vid, "error")
        swap = self.poll(lambda: self.one_swap(vid, server).get("completion_status") and
                         self.one_swap(vid, server), msg="the stand-in's completion answered")
        self.assertEqual((swap["copied_bytes"], swap["completion_status"]), (0, 200),
                         swap["detail"])
        self.assertEqual(swap["completion_body"], {"save_volume_id": vid})
        r = self.row(vid)
        self.assertEqual((r["status"], r["attach_status"], r["host"]),
                         ("in-use", "attached", host))
        self.assertEqual(self.live_attachments(vid), [(server, "attached")])
        self.gone(swap["new_volume_id"])
        self.poll(lambda: not os.path.exists(os.path.join(
            self.dirs[dest], "volume-%s" % swap["new_volume_id"])),
            timeout=MIGRATION_TIMEOUT, msg="the destination's file removed")
        self.assertEqual(self.checksum(path), before, "the source untouched")

    def test_swap_refused_by_the_compute_api(self):
        self.stub_mode(swap_mode="fail")
        vid, dest, server, before = self.attached_volume()
        path, host = self.file_of(vid), self.row(vid)["host"]
        self.migrate(vid, dest)
        self.wait_migration(vid, "error")
        swap = self.one_swap(vid, server)
        self.assertEqual(swap["status"], 500)
        self.assertNotIn("completion_status", swap)
        r = self.row(vid)
        self.assertEqual((r["status"], r["attach_status"], r["host"]),
                         ("in-use", "attached", host))
        self.gone(swap["new_volume_id"])
        self.assertEqual(self.checksum(path), before, "the source untouched")
