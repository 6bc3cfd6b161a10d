"""Generic migration between two backends (docs/cinder.md §16): migrate_volume cast to the
source host as the API sends it, the engine's wait for the destination, the sparse copy, the
update_migrated_volume call, the swap of the rows and the delete of the leftover; the
migrate_volume_completion and update_migrated_volume calls directly; a destination that is
down.

The volumes are created through the shim on the first backend; the tests mark them as
os-migrate_volume does (migration_status 'starting', previous_status the status) and publish
the cast themselves.
"""

import hashlib
import os
import signal
import time
import uuid

from harness import GIB, StackTestCase
from harness_mq import JSON, cast_message, context_dict, volume_primitive

MIB = 1 << 20


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def data_extents(path):
    """The data extents of a file, as SEEK_DATA / SEEK_HOLE see them."""
    out = []
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                data = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            out.append((data, hole))
            off = hole
    return out


class MigrationTest(StackTestCase):
    second_backend = True
    manager_options = {"migration_create_volume_timeout": 6}

    # ---- helpers ----

    def setUp(self):
        super().setUp()
        self.dirs = {self.volume_host: self.filestore_dir, self.volume_host2: self.filestore_dir2}
        self.managers = {self.volume_host: "volume-manager",
                         self.volume_host2: "volume-manager-2"}

    def new_volume(self):
        """A 1 GiB volume on whichever backend the shim chose; self.src / self.dst are its
        backend and the other one."""
        vid = self.create_volume(size=1)
        self.src = self.sql_value("SELECT host FROM volumes WHERE id = %s", (vid,))
        self.dst = self.volume_host2 if self.src == self.volume_host else self.volume_host
        return vid

    def path(self, host, name_id):
        return os.path.join(self.dirs[host], "volume-%s" % name_id)

    def write_pattern(self, volume_id):
        """Data at three places of the 1 GiB sparse file, holes between them."""
        with open(self.path(self.src, volume_id), "r+b") as f:
            f.seek(0)
            f.write(b"A" * 4096)
            f.seek(100 * MIB)
            f.write(os.urandom(MIB))
            f.seek(GIB - 4096)
            f.write(b"Z" * 4096)

    def start_migration(self, volume_id, dest=None, unique_id=None):
        self.sql("UPDATE volumes SET migration_status = 'starting', previous_status = status "
                 "WHERE id = %s", (volume_id,))
        msg = cast_message("migrate_volume",
                           {"volume": volume_primitive(volume_id),
                            "host": {"host": dest or self.dst, "cluster_name": None,
                                     "capabilities": {}},
                            "force_host_copy": False},
                           version="3.5", unique_id=unique_id,
                           context=context_dict(project_id=self.PROJECT, is_admin=True))
        rk = "cinder-volume.%s.%s" % (self.src.split("#")[0], self.src.split("@")[0])
        self.publish(msg, routing_key=rk)

    def row(self, volume_id):
        rows = self.sql("SELECT status, migration_status, host, _name_id, deleted, "
                        "previous_status, display_description, use_quota "
                        "FROM volumes WHERE id = %s", (volume_id,))
        keys = ("status", "migration_status", "host", "name_id", "deleted", "previous_status",
                "display_description", "use_quota")
        return dict(zip(keys, rows[0])) if rows else None

    def migration_status(self, volume_id):
        return self.sql_value("SELECT migration_status FROM volumes WHERE id = %s",
                              (volume_id,))

    def temp_id(self, volume_id):
        return self.poll(lambda: self.sql_value(
            "SELECT new_volume_id FROM volmgr_migrations WHERE volume_id = %s "
            "ORDER BY id DESC LIMIT 1", (volume_id,)), timeout=10,
            msg="the migration's row of %s" % volume_id)

    def stage(self, volume_id):
        return self.sql_value("SELECT stage FROM volmgr_migrations WHERE volume_id = %s "
                              "ORDER BY id DESC LIMIT 1", (volume_id,))

    def assert_quota_matches_rows(self):
        """quota_usages equal to the live volumes that count (use_quota)."""
        volumes, gigabytes = self.sql(
            "SELECT count(*), coalesce(sum(size), 0) FROM volumes WHERE project_id = %s "
            "AND deleted = false AND use_quota IS NOT FALSE", (self.PROJECT,))[0]
        self.assertEqual(self.usage("volumes"), (volumes, 0))
        self.assertEqual(self.usage("gigabytes"), (gigabytes, 0))

    def wait_migration(self, volume_id, status, timeout=30):
        self.poll(lambda: self.migration_status(volume_id) == status, timeout=timeout,
                  msg="migration_status of %s becomes %s (now %r, stage %r)"
                  % (volume_id, status, self.migration_status(volume_id),
                     self.stage(volume_id)))

    # ---- tests ----

    def test_detached_migration_copies_the_bytes_and_swaps_the_rows(self):
        vid = self.new_volume()
        self.write_pattern(vid)
        src_sum = sha256_of(self.path(self.src, vid))
        src_extents = data_extents(self.path(self.src, vid))

        # The destination held: the migration waits, and the source's consumer keeps serving
        # meanwhile (a volume created directly on the source's backend).
        proc2 = self._proc(self.managers[self.dst])
        os.kill(proc2.pid, signal.SIGSTOP)
        try:
            self.start_migration(vid)
            tmp = self.temp_id(vid)
            self.poll(lambda: self.migration_status(vid) == "migrating", timeout=10)
            other = self.insert_volume(size=1, status="creating")
            # Outside the project's quota: only its create matters here.
            self.sql("UPDATE volumes SET host = %s, use_quota = false WHERE id = %s",
                     (self.src, other))
            self.publish(cast_message("create_volume",
                                      {"volume": volume_primitive(other)}),
                         routing_key="cinder-volume.%s.%s" % (self.src.split("#")[0],
                                                               self.src.split("@")[0]))
            self.wait_status(other, "available", timeout=10)
            self.assertEqual(self.stage(vid), "creating")
        finally:
            os.kill(proc2.pid, signal.SIGCONT)

        self.wait_migration(vid, "success")
        self.poll(lambda: self.stage(vid) == "done", timeout=10)
        src = self.row(vid)
        self.assertEqual(src["host"], self.dst)
        self.assertEqual(src["name_id"], tmp)
        self.assertEqual(src["status"], "available")
        self.assertFalse(src["deleted"])
        self.assertTrue(src["use_quota"])
        # The bytes on the second backend, holes and all.
        self.assertEqual(sha256_of(self.path(self.dst, tmp)), src_sum)
        self.assertEqual(data_extents(self.path(self.dst, tmp)), src_extents)
        # The leftover row (the old backend's file) is deleted, with its file.
        self.poll(lambda: self.row(tmp)["deleted"], timeout=10, msg="leftover deleted")
        left = self.row(tmp)
        self.assertEqual(left["name_id"], vid)
        self.assertEqual(left["display_description"], "migration src for %s" % vid)
        self.poll(lambda: not os.path.exists(self.path(self.src, vid)), timeout=10,
                  msg="the old backend's file removed")
        self.assert_quota_matches_rows()
        # The volume still works on its new backend: the file is found by its _name_id.
        self.assertEqual(self.get_volume(vid)["status"], "available")

    def test_destination_down_fails_within_the_timeout(self):
        vid = self.new_volume()
        self.write_pattern(vid)
        src_sum = sha256_of(self.path(self.src, vid))
        dst_manager = self.managers[self.dst]
        self.stop_manager(name=dst_manager)
        self.addCleanup(self.restart_manager, dst_manager)
        started = time.monotonic()
        self.start_migration(vid)
        tmp = self.temp_id(vid)
        self.wait_migration(vid, "error", timeout=20)
        self.assertLess(time.monotonic() - started, 20)
        src = self.row(vid)
        self.assertEqual(src["status"], "available")
        self.assertEqual(src["host"], self.src)
        self.assertIsNone(src["name_id"])
        self.assertTrue(self.row(tmp)["deleted"])
        self.assertEqual(self.stage(vid), "failed")
        # The create_volume cast waits for the destination; when it comes back, it finds
        # the row gone and creates nothing.
        self.restart_manager(dst_manager)
        rk = "cinder-volume.%s.%s" % (self.dst.split("#")[0], self.dst.split("@")[0])
        self.poll(lambda: self.queue_count(rk) == 0, timeout=10)
        self.settle(lambda: not os.path.exists(self.path(self.dst, tmp)), duration=1.0)
        self.assertEqual(sha256_of(self.path(self.src, vid)), src_sum)
        self.assert_quota_matches_rows()

    def test_unknown_destination_fails_at_once(self):
        vid = self.new_volume()
        self.start_migration(vid, dest="nosuchhost@filestore#filestore")
        self.wait_migration(vid, "error", timeout=10)
        self.assertEqual(self.row(vid)["status"], "available")
        self.assertEqual(self.sql_value("SELECT count(*) FROM volumes WHERE migration_status "
                                        "= %s", ("target:" + vid,)), 0)
