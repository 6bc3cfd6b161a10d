"""A migration's source manager killed with -9 during the copy and started again: the
engine of the new process claims the migration (the dead session's advisory lock is gone),
copies again from the start, and completes it; no orphan row or file, no quota drift
(docs/operations.md, "Migrations")."""

import os
import signal

from faultlib import FaultTestCase
from harness import data_extents, file_digest  # noqa: E402
from test_migration import MIB, MigrationMixin  # noqa: E402


class MigrationKillTest(MigrationMixin, FaultTestCase):
    second_backend = True
    # A copy of 12 MiB of data takes about 2.4 s: long enough to kill the manager in it.
    manager_options = {"migration_create_volume_timeout": 30, "migration_copy_delay_ms": 200}
    log_level = "debug"

    def test_source_killed_during_the_copy_resumes(self):
        vid = self.new_volume()
        with open(self.path(self.src, vid), "r+b") as f:
            f.seek(4 * MIB)
            f.write(os.urandom(12 * MIB))
        self.write_pattern(vid)
        src_sum = file_digest(self.path(self.src, vid), "sha256")
        src_extents = data_extents(self.path(self.src, vid))
        self.start_migration(vid)
        tmp = self.temp_id(vid)
        dest = self.path(self.dst, tmp)
        self.poll(lambda: self.stage(vid) == "copying" and os.path.exists(dest)
                  and data_extents(dest), timeout=20, msg="the copy under way")
        name = self.managers[self.src]
        self.stop_manager(signal.SIGKILL, name=name)
        self.assertNotEqual(file_digest(dest, "sha256"), src_sum, "the copy ended before the kill")
        self.restart_manager(name)

        self.wait_migration(vid, "success", timeout=40)
        self.assertEqual(file_digest(dest, "sha256"), src_sum)
        self.assertEqual(data_extents(dest), src_extents)
        src = self.row(vid)
        self.assertEqual((src["host"], src["name_id"], src["status"]),
                         (self.dst, tmp, "available"))
        self.poll(lambda: self.row(tmp)["deleted"], timeout=10, msg="leftover deleted")
        self.poll(lambda: not os.path.exists(self.path(self.src, vid)), timeout=10,
                  msg="the old backend's file removed")
        # Nothing else left behind: one live row, one file, no live migration.
        self.assertEqual(self.sql_value(
            "SELECT count(*) FROM volumes WHERE deleted = false AND (id = %s OR id = %s)",
            (vid, tmp)), 1)
        self.assertEqual(sorted(os.listdir(self.dirs[self.dst])), ["volume-%s" % tmp])
        self.assertEqual(os.listdir(self.dirs[self.src]), [])
        self.assertEqual(self.sql_value(
            "SELECT count(*) FROM volmgr_migrations WHERE stage NOT IN ('done', 'failed')"), 0)
        self.assertUsagesMatchRows()
