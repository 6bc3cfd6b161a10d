"""Generic migration between two backends (docs/cinder.md §16): migrate_volume cast to the
source host as the API sends it, the engine's wait for the destination, the sparse copy, the
update_migrated_volume call, the swap of the rows and the delete of the leftover; the
migrate_volume_completion and update_migrated_volume calls directly; a destination that is
down.

The volumes are created through the shim on the first backend; the tests mark them as
os-migrate_volume does (migration_status 'starting', previous_status the status) and publish
the cast themselves.
"""

import http.server
import json
import os
import signal
import threading
import time
import uuid

from harness import GIB, StackTestCase, data_extents, file_digest
from harness_env import free_port
from harness_mq import JSON, cast_message, context_dict, oslo_unwrap, pack, unpack, \
    volume_primitive

MIB = 1 << 20


class SwapCompute(http.server.BaseHTTPRequestHandler):
    """Compute's swap endpoint as the managers reach it (PUT .../os-volume_attachments/<id>):
    records the request and answers with the class's status; the test then plays compute
    and sends the completion call itself."""
    swaps = []
    status = 202

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        SwapCompute.swaps.append((self.path, json.loads(self.rfile.read(n) or b"{}")))
        self.send_response(SwapCompute.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class MigrationMixin:
    """What the migration tests share (tests/faults too): volumes on either backend, the
    migrate_volume cast, calls to a manager, the rows and files to check."""

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

    def rk(self, host):
        """The routing key of the service of a volume host."""
        return "cinder-volume.%s.%s" % (host.split("#")[0], host.split("@")[0])

    def call(self, host, method, args, version="3.0", unique_id=None, reply_q=None):
        """A call to the service of host; returns (its _unique_id, the decoded reply)."""
        reply_q = reply_q or self.reply_queue()
        msg = cast_message(method, args, version=version, unique_id=unique_id,
                           context=context_dict(project_id=self.PROJECT, is_admin=True))
        msg.update({"_msg_id": uuid.uuid4().hex, "_reply_q": reply_q, "_timeout": None})
        self.publish(pack(msg), routing_key=self.rk(host), unique_id=msg["_unique_id"])
        props, body = self.poll(lambda: self.get_message(reply_q), timeout=20,
                                msg="a reply to %s" % method)
        reply = oslo_unwrap(body) if props.content_type == JSON else unpack(body)
        self.assertEqual(reply["_msg_id"], msg["_msg_id"])
        return msg["_unique_id"], reply

    def completion(self, vid, tmp, error=False, unique_id=None, reply_q=None):
        return self.call(self.src, "migrate_volume_completion",
                         {"volume": volume_primitive(vid), "new_volume": volume_primitive(tmp),
                          "error": error}, unique_id=unique_id, reply_q=reply_q)

    def swapping(self):
        """An attached volume whose migration waits for compute's completion; returns
        (volume id, temporary id, attachment id, server)."""
        vid = self.new_volume()
        server = str(uuid.uuid4())
        aid = self.insert_attachment(vid, instance_uuid=server)
        SwapCompute.swaps.clear()
        self.start_migration(vid)
        tmp = self.temp_id(vid)
        self.poll(lambda: self.stage(vid) == "swapping" and SwapCompute.swaps, timeout=15,
                  msg="the swap asked of compute (stage %r)" % self.stage(vid))
        path, body = SwapCompute.swaps[0]
        self.assertTrue(path.endswith("/servers/%s/os-volume_attachments/%s" % (server, vid)),
                        path)
        self.assertEqual(body, {"volumeAttachment": {"volumeId": tmp}})
        return vid, tmp, aid, server

    def row(self, volume_id):
        rows = self.sql("SELECT status, migration_status, host, _name_id, deleted, "
                        "previous_status, display_description, use_quota "
                        "FROM volumes WHERE id = %s", (volume_id,))
        keys = ("status", "migration_status", "host", "name_id", "deleted", "previous_status",
                "display_description", "use_quota")
        return dict(zip(keys, rows[0])) if rows else None

    def allocated(self, host):
        """The capacity counted in the pools of host's service."""
        return self.sql_value("SELECT coalesce(sum(allocated_capacity_gb), 0) FROM "
                              "volmgr_pool_stats WHERE host = %s", (host.split("#")[0],))

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

    def foreign_target(self, volume_id):
        """The temporary volume of volume_id as a Cinder source manager makes it (no
        volmgr_migrations row: volmgr's engine did not start this migration): the row on
        the other backend, migration_status "target:<id>", outside quota, created by the
        create_volume cast to its host; the source marked migrating as Cinder leaves it.
        Returns the temporary volume's id, once available."""
        tmp = self.insert_volume(size=1, status="creating")
        self.sql("UPDATE volumes SET host = %s, use_quota = false, migration_status = %s "
                 "WHERE id = %s", (self.dst, "target:" + volume_id, tmp))
        self.publish(cast_message("create_volume", {"volume": volume_primitive(tmp)}),
                     routing_key=self.rk(self.dst))
        self.wait_status(tmp, "available", timeout=10)
        self.sql("UPDATE volumes SET migration_status = 'migrating', previous_status = status "
                 "WHERE id = %s", (volume_id,))
        return tmp

    def wait_migration(self, volume_id, status, timeout=30):
        self.poll(lambda: self.migration_status(volume_id) == status, timeout=timeout,
                  msg="migration_status of %s becomes %s (now %r, stage %r)"
                  % (volume_id, status, self.migration_status(volume_id),
                     self.stage(volume_id)))

    def failed_cleanly(self, vid, tmp, timeout=10):
        """A failed migration left nothing behind: the temporary row deleted with its file on
        the destination, the source's file in place, the migration row failed, quota usages
        equal to the rows."""
        self.poll(lambda: self.row(tmp)["deleted"], timeout=timeout,
                  msg="temporary volume deleted")
        self.poll(lambda: not os.path.exists(self.path(self.dst, tmp)), timeout=10,
                  msg="the temporary volume's file removed")
        self.poll(lambda: self.stage(vid) == "failed", timeout=10, msg="migration failed")
        self.assertTrue(os.path.exists(self.path(self.src, vid)))
        self.assertUsagesMatchRows()


class MigrationTest(MigrationMixin, StackTestCase):
    second_backend = True
    manager_options = {"migration_create_volume_timeout": 6}

    @classmethod
    def setUpClass(cls):
        cls.compute = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), SwapCompute)
        threading.Thread(target=cls.compute.serve_forever, daemon=True).start()
        cls.nova_options = {"endpoint": "http://127.0.0.1:%d/v2.1" % cls.compute.server_port,
                            "token": "swap-token"}
        try:
            super().setUpClass()
        except BaseException:
            cls.compute.shutdown()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.compute.shutdown()
        cls.compute.server_close()

    # ---- tests ----

    def test_detached_migration_copies_the_bytes_and_swaps_the_rows(self):
        vid = self.new_volume()
        self.write_pattern(vid)
        src_sum = file_digest(self.path(self.src, vid), "sha256")
        src_extents = data_extents(self.path(self.src, vid))

        # The destination held: the migration waits, and the source's consumer keeps serving
        # meanwhile (a volume created directly on the source's backend).
        with self.manager_held(self.managers[self.dst]):
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

        self.wait_migration(vid, "success")
        self.poll(lambda: self.stage(vid) == "done", timeout=10)
        src = self.row(vid)
        self.assertEqual(src["host"], self.dst)
        self.assertEqual(src["name_id"], tmp)
        self.assertEqual(src["status"], "available")
        self.assertFalse(src["deleted"])
        view = self.get_volume(vid)
        self.assertEqual((view["os-vol-mig-status-attr:name_id"],
                          view["os-vol-mig-status-attr:migstat"], view["os-vol-host-attr:host"]),
                         (tmp, "success", self.dst))
        self.assertTrue(src["use_quota"])
        # The bytes on the second backend, holes and all.
        self.assertEqual(file_digest(self.path(self.dst, tmp), "sha256"), src_sum)
        self.assertEqual(data_extents(self.path(self.dst, tmp)), src_extents)
        # The leftover row (the old backend's file) is deleted, with its file.
        self.poll(lambda: self.row(tmp)["deleted"], timeout=10, msg="leftover deleted")
        left = self.row(tmp)
        self.assertEqual(left["name_id"], vid)
        self.assertEqual(left["display_description"], "migration src for %s" % vid)
        self.poll(lambda: not os.path.exists(self.path(self.src, vid)), timeout=10,
                  msg="the old backend's file removed")
        self.assertUsagesMatchRows()
        # The volume still works on its new backend: its file is found by its _name_id.
        st, _, doc = self.extend(vid, 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vid)["size"] == 2 and
                  self.status_of(vid) == "available", timeout=10, msg="extended")
        self.assertEqual(os.stat(self.path(self.dst, tmp)).st_size, 2 * GIB)

    def test_destination_down_fails_within_the_timeout(self):
        vid = self.new_volume()
        self.write_pattern(vid)
        src_sum = file_digest(self.path(self.src, vid), "sha256")
        dst_manager = self.managers[self.dst]
        allocated = self.allocated(self.dst)
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
        self.poll(lambda: self.stage(vid) == "failed", timeout=10)
        # The create_volume cast and then the delete_volume cast wait for the destination;
        # when it comes back, the one creates and the other deletes (a create that ran
        # without committing may have left a file): no row, no file, no capacity counted.
        self.restart_manager(dst_manager)
        self.poll(lambda: self.row(tmp)["deleted"], timeout=10, msg="temporary volume deleted")
        self.poll(lambda: self.queue_count(self.rk(self.dst)) == 0, timeout=10)
        self.settle(lambda: not os.path.exists(self.path(self.dst, tmp)), duration=1.0)
        self.assertEqual(self.allocated(self.dst), allocated)
        self.assertEqual(file_digest(self.path(self.src, vid), "sha256"), src_sum)
        self.assertUsagesMatchRows()

    def test_unknown_destination_fails_at_once(self):
        vid = self.new_volume()
        self.start_migration(vid, dest="nosuchhost@filestore#filestore")
        self.wait_migration(vid, "error", timeout=10)
        self.assertEqual(self.row(vid)["status"], "available")
        self.assertEqual(self.sql_value("SELECT count(*) FROM volumes WHERE migration_status "
                                        "= %s", ("target:" + vid,)), 0)

    def test_attached_migration_completes_on_the_completion_call_once(self):
        vid, tmp, aid, _ = self.swapping()
        reply_q = self.reply_queue()
        uid, reply = self.completion(vid, tmp, reply_q=reply_q)
        self.assertIsNone(reply.get("failure"))
        self.assertEqual(reply["result"], vid)
        # The reply comes once the rows are swapped.
        src = self.row(vid)
        self.assertEqual(src["migration_status"], "success")
        self.assertEqual(src["status"], "in-use")
        self.assertEqual(src["host"], self.dst)
        self.assertEqual(src["name_id"], tmp)
        self.assertEqual(self.sql_value("SELECT volume_id FROM volume_attachment WHERE id = %s",
                                        (aid,)), vid)
        self.poll(lambda: self.row(tmp)["deleted"], timeout=10, msg="leftover deleted")
        before = self.sql("SELECT * FROM volumes WHERE id IN (%s, %s) ORDER BY id", (vid, tmp))

        # The same message again: dispatch's dedup, nothing runs, nothing is answered twice.
        self.publish(pack(dict(cast_message(
            "migrate_volume_completion",
            {"volume": volume_primitive(vid), "new_volume": volume_primitive(tmp),
             "error": False}, unique_id=uid,
            context=context_dict(project_id=self.PROJECT, is_admin=True)),
            _msg_id=uuid.uuid4().hex, _reply_q=reply_q, _timeout=None)),
            routing_key=self.rk(self.src), unique_id=uid)
        self.poll(lambda: self.queue_count(self.rk(self.src)) == 0, timeout=10)
        # A reply would precede the ack that emptied the queue.
        self.assertIsNone(self.get_message(reply_q))
        # A second completion (another id) after the success: the same answer, no change.
        _, again = self.completion(vid, tmp)
        self.assertEqual(again["result"], vid)
        self.assertEqual(self.sql("SELECT * FROM volumes WHERE id IN (%s, %s) ORDER BY id",
                                  (vid, tmp)), before)
        self.assertUsagesMatchRows()

    def test_completion_with_error_removes_the_temporary_volume(self):
        vid, tmp, _, _ = self.swapping()
        _, reply = self.completion(vid, tmp, error=True)
        self.assertEqual(reply["result"], vid)
        src = self.row(vid)
        self.assertEqual(src["migration_status"], "error")
        self.assertEqual(src["status"], "in-use")
        self.assertEqual(src["host"], self.src)
        self.assertIsNone(src["name_id"])
        self.failed_cleanly(vid, tmp)

    def test_a_refused_swap_fails_the_migration(self):
        SwapCompute.status = 409
        self.addCleanup(setattr, SwapCompute, "status", 202)
        vid = self.new_volume()
        self.insert_attachment(vid, instance_uuid=str(uuid.uuid4()))
        self.start_migration(vid)
        tmp = self.temp_id(vid)
        self.wait_migration(vid, "error", timeout=20)
        self.assertEqual(self.row(vid)["status"], "in-use")
        self.failed_cleanly(vid, tmp)

    def test_completion_adopts_a_migration_it_did_not_start(self):
        vid = self.new_volume()
        tmp = self.foreign_target(vid)
        # The copy, as the Cinder source manager made it before it handed over.
        self.write_pattern(vid)
        with open(self.path(self.src, vid), "rb") as f, \
                open(self.path(self.dst, tmp), "r+b") as g:
            for offset in (0, 100 * MIB, GIB - 4096):
                f.seek(offset)
                g.seek(offset)
                g.write(f.read(MIB if offset == 100 * MIB else 4096))
        src_sum = file_digest(self.path(self.src, vid), "sha256")
        _, reply = self.completion(vid, tmp)
        self.assertIsNone(reply.get("failure"))
        self.assertEqual(reply["result"], vid)
        src = self.row(vid)
        self.assertEqual((src["status"], src["migration_status"], src["host"], src["name_id"],
                          src["previous_status"]), ("available", "success", self.dst, tmp,
                                                     "available"))
        self.poll(lambda: self.row(tmp)["deleted"], timeout=10, msg="leftover deleted")
        self.poll(lambda: self.stage(vid) == "done", timeout=10)
        self.poll(lambda: not os.path.exists(self.path(self.src, vid)), timeout=10,
                  msg="the old backend's file removed")
        self.assertEqual(file_digest(self.path(self.dst, tmp), "sha256"), src_sum)
        self.assertUsagesMatchRows()

    def test_completion_with_error_of_a_migration_it_did_not_start(self):
        vid = self.new_volume()
        tmp = self.foreign_target(vid)
        _, reply = self.completion(vid, tmp, error=True)
        self.assertEqual(reply["result"], vid)
        src = self.row(vid)
        self.assertEqual((src["status"], src["migration_status"], src["host"], src["name_id"]),
                         ("available", "error", self.src, None))
        self.failed_cleanly(vid, tmp)

    def test_completion_of_a_volume_that_is_no_migration_target_is_refused(self):
        other = self.new_volume()
        vid = self.new_volume()
        self.sql("UPDATE volumes SET migration_status = 'migrating' WHERE id = %s", (vid,))
        _, reply = self.completion(vid, other)
        self.assertIn("InvalidVolume", reply["failure"])
        self.assertIsNone(self.stage(vid))
        self.assertEqual(self.row(other)["status"], "available")

    def test_delete_volume_cast_of_a_temporary_volume_in_any_status(self):
        vid = self.new_volume()
        for status in ("available", "error"):
            tmp = self.foreign_target(vid)
            self.sql("UPDATE volumes SET status = %s WHERE id = %s", (status, tmp))
            self.publish(cast_message("delete_volume", {"volume": volume_primitive(tmp),
                                                        "unmanage_only": False,
                                                        "cascade": False},
                                      context=context_dict(project_id=self.PROJECT,
                                                           is_admin=True)),
                         routing_key=self.rk(self.dst))
            self.poll(lambda: self.row(tmp)["deleted"], timeout=10,
                      msg="the %s temporary volume deleted" % status)
            self.assertFalse(os.path.exists(self.path(self.dst, tmp)))
            self.assertUsagesMatchRows()
        # Any other volume still has to be "deleting" (the API's mark) to be deleted.
        uid = uuid.uuid4().hex
        self.publish(cast_message("delete_volume", {"volume": volume_primitive(vid),
                                                    "unmanage_only": False, "cascade": False},
                                  unique_id=uid,
                                  context=context_dict(project_id=self.PROJECT, is_admin=True)),
                     routing_key=self.rk(self.src), unique_id=uid)
        self.poll(lambda: self.processed(uid), timeout=10, msg="the delete handled")
        self.assertEqual(self.processed(uid)[0][1], "wrong_status")
        self.assertFalse(self.row(vid)["deleted"])
        self.assertTrue(os.path.exists(self.path(self.src, vid)))

    def test_update_migrated_volume_swaps_name_id_and_location(self):
        vid = self.new_volume()
        new = self.insert_volume(size=1, status="available")
        self.sql("UPDATE volumes SET host = %s, provider_location = %s, "
                 "migration_status = %s WHERE id = %s",
                 (self.dst, "/new/place", "target:" + vid, new))
        old_location = self.sql_value("SELECT provider_location FROM volumes WHERE id = %s",
                                      (vid,))
        args = {"volume": volume_primitive(vid), "new_volume": volume_primitive(new),
                "volume_status": "available"}
        _, reply = self.call(self.dst, "update_migrated_volume", args)
        self.assertIsNone(reply.get("failure"))
        self.assertIsNone(reply["result"])
        rows = dict((r[0], r[1:]) for r in self.sql(
            "SELECT id, _name_id, provider_location FROM volumes WHERE id IN (%s, %s)",
            (vid, new)))
        self.assertEqual(rows[vid], (new, "/new/place"))
        self.assertEqual(rows[new], (None, old_location))
        # Asked again (another message): recognised, nothing swapped back.
        _, reply = self.call(self.dst, "update_migrated_volume", args)
        self.assertIsNone(reply.get("failure"))
        self.assertEqual(dict((r[0], r[1:]) for r in self.sql(
            "SELECT id, _name_id, provider_location FROM volumes WHERE id IN (%s, %s)",
            (vid, new))), rows)
        self.sql("UPDATE volumes SET use_quota = false WHERE id = %s", (new,))

    def test_update_migrated_volume_repeated_for_a_volume_migrated_before(self):
        # The source's store is named by a _name_id, as an earlier migration leaves it.
        vid = self.new_volume()
        old = str(uuid.uuid4())
        os.rename(self.path(self.src, vid), self.path(self.src, old))
        self.sql("UPDATE volumes SET _name_id = %s WHERE id = %s", (old, vid))
        tmp = self.foreign_target(vid)
        with open(self.path(self.dst, tmp), "r+b") as f:
            f.write(b"M" * 4096)
        dst_sum = file_digest(self.path(self.dst, tmp), "sha256")
        args = {"volume": volume_primitive(vid), "new_volume": volume_primitive(tmp),
                "volume_status": "available"}
        # Twice (a lost reply, the call sent again): the second changes nothing.
        for _ in range(2):
            _, reply = self.call(self.dst, "update_migrated_volume", args)
            self.assertIsNone(reply.get("failure"))
            self.assertEqual((self.row(vid)["name_id"], self.row(tmp)["name_id"]), (tmp, old))
        # The completion, whose engine makes the call a third time, swaps the rows.
        _, reply = self.completion(vid, tmp)
        self.assertIsNone(reply.get("failure"))
        self.assertEqual(reply["result"], vid)
        src = self.row(vid)
        self.assertEqual((src["migration_status"], src["host"], src["name_id"]),
                         ("success", self.dst, tmp))
        self.assertEqual(file_digest(self.path(self.dst, src["name_id"]), "sha256"), dst_sum)
        # The leftover names the old store, which its delete removes.
        self.poll(lambda: self.row(tmp)["deleted"], timeout=10, msg="leftover deleted")
        self.assertEqual(self.row(tmp)["name_id"], old)
        self.poll(lambda: not os.path.exists(self.path(self.src, old)), timeout=10,
                  msg="the old store removed")
        # A stale call after the swap is refused: the leftover is no migration target (or
        # no longer there).
        _, reply = self.call(self.dst, "update_migrated_volume", args)
        self.assertRegex(reply["failure"], "InvalidVolume|VolumeNotFound")
        self.assertEqual(self.row(vid)["name_id"], tmp)
        self.assertUsagesMatchRows()

    def test_a_swap_never_requested_is_requested_after_a_restart(self):
        vid, tmp, _, server = self.swapping()
        # As a manager killed between the commit of the stage and compute's request leaves
        # it: stage swapping, swap_sent unset.
        manager = self.managers[self.src]
        self.stop_manager(signal.SIGKILL, name=manager)
        self.addCleanup(self.restart_manager, manager)
        self.sql("UPDATE volmgr_migrations SET swap_sent = false WHERE volume_id = %s "
                 "AND stage = 'swapping'", (vid,))
        SwapCompute.swaps.clear()
        self.restart_manager(manager)
        self.poll(lambda: SwapCompute.swaps, timeout=15, msg="the swap asked again")
        path, body = SwapCompute.swaps[0]
        self.assertTrue(path.endswith("/servers/%s/os-volume_attachments/%s" % (server, vid)),
                        path)
        self.assertEqual(body, {"volumeAttachment": {"volumeId": tmp}})
        self.poll(lambda: self.sql_value("SELECT swap_sent FROM volmgr_migrations WHERE "
                                         "volume_id = %s AND stage = 'swapping'", (vid,)),
                  timeout=10, msg="swap_sent recorded")
        _, reply = self.completion(vid, tmp)
        self.assertEqual(reply["result"], vid)
        self.assertEqual(self.row(vid)["migration_status"], "success")

    def test_a_swap_not_completed_in_time_fails_the_migration(self):
        vid, tmp, _, _ = self.swapping()
        self.poll(lambda: self.sql_value("SELECT swap_sent FROM volmgr_migrations WHERE "
                                         "volume_id = %s AND stage = 'swapping'", (vid,)),
                  timeout=10, msg="swap_sent recorded")
        # migration_swap_timeout (an hour) as good as over.
        self.sql("UPDATE volmgr_migrations SET deadline = now() AT TIME ZONE 'utc' - "
                 "interval '1 second' WHERE volume_id = %s AND stage = 'swapping'", (vid,))
        self.wait_migration(vid, "error", timeout=15)
        src = self.row(vid)
        self.assertEqual((src["status"], src["host"], src["name_id"]),
                         ("in-use", self.src, None))
        self.failed_cleanly(vid, tmp)
        self.assertIn("migration_swap_timeout", self.sql_value(
            "SELECT reason FROM volmgr_migrations WHERE volume_id = %s ORDER BY id DESC "
            "LIMIT 1", (vid,)))

    def test_completion_without_error_before_the_swap_is_refused(self):
        vid = self.new_volume()
        with self.manager_held(self.managers[self.dst]):
            self.start_migration(vid)
            tmp = self.temp_id(vid)
            self.poll(lambda: self.stage(vid) == "creating", timeout=10)
            # The destination is not even created: the source must not take it over.
            _, reply = self.completion(vid, tmp)
            self.assertIn("InvalidVolume", reply["failure"])
            self.assertEqual((self.stage(vid), self.migration_status(vid)),
                             ("creating", "migrating"))
        self.wait_migration(vid, "success")
        self.assertEqual(self.row(vid)["name_id"], tmp)

    def test_completion_does_not_adopt_a_failed_migration(self):
        vid = self.new_volume()
        tmp = self.foreign_target(vid)
        # volmgr gave the migration up (the source in error) while compute still swapped.
        self.sql("UPDATE volumes SET migration_status = 'error' WHERE id = %s", (vid,))
        _, reply = self.completion(vid, tmp)
        self.assertIn("InvalidVolume", reply["failure"])
        # Or its destination is being deleted.
        self.sql("UPDATE volumes SET migration_status = 'migrating' WHERE id = %s", (vid,))
        self.sql("UPDATE volumes SET status = 'deleting' WHERE id = %s", (tmp,))
        _, reply = self.completion(vid, tmp)
        self.assertIn("InvalidVolume", reply["failure"])
        self.assertIsNone(self.stage(vid))
        src = self.row(vid)
        self.assertEqual((src["host"], src["name_id"]), (self.src, None))
        self.assertEqual(self.row(tmp)["status"], "deleting")

    def test_a_failure_after_update_migrated_volume_gives_the_source_its_store_back(self):
        vid, tmp, _, _ = self.swapping()
        args = {"volume": volume_primitive(vid), "new_volume": volume_primitive(tmp),
                "volume_status": "in-use"}
        _, reply = self.call(self.dst, "update_migrated_volume", args)
        self.assertIsNone(reply.get("failure"))
        self.assertEqual(self.row(vid)["name_id"], tmp)
        # Then the migration fails (compute never completes it).
        self.sql("UPDATE volmgr_migrations SET deadline = now() AT TIME ZONE 'utc' - "
                 "interval '1 second' WHERE volume_id = %s AND stage = 'swapping'", (vid,))
        self.wait_migration(vid, "error", timeout=15)
        src = self.row(vid)
        self.assertEqual((src["host"], src["name_id"]), (self.src, None))
        self.failed_cleanly(vid, tmp)

    def test_completing_goes_on_when_update_migrated_volume_committed_before(self):
        vid, tmp, _, _ = self.swapping()
        args = {"volume": volume_primitive(vid), "new_volume": volume_primitive(tmp),
                "volume_status": "in-use"}
        _, reply = self.call(self.dst, "update_migrated_volume", args)
        self.assertIsNone(reply.get("failure"))
        # The engine's own call is refused now (the mark it needs is gone), as a late
        # failure after a first attempt that committed: the rows are swapped all the same.
        self.sql("UPDATE volumes SET migration_status = 'target:elsewhere' WHERE id = %s",
                 (tmp,))
        _, reply = self.completion(vid, tmp)
        self.assertIsNone(reply.get("failure"))
        self.assertEqual(reply["result"], vid)
        src = self.row(vid)
        self.assertEqual((src["migration_status"], src["host"], src["name_id"]),
                         ("success", self.dst, tmp))
        self.assertTrue(os.path.exists(self.path(self.dst, tmp)))
        self.poll(lambda: self.row(tmp)["deleted"], timeout=10, msg="leftover deleted")

    def test_completing_without_an_answer_fails_at_its_deadline(self):
        vid, tmp, _, _ = self.swapping()
        # The destination's service is gone (its queue too: the engine's calls cannot be
        # routed, so each look fails at once rather than after the call's timeout).
        dst_manager = self.managers[self.dst]
        self.stop_manager(name=dst_manager)
        self.addCleanup(self.restart_manager, dst_manager)
        self.delete_queue(self.rk(self.dst))
        reply_q = self.reply_queue()
        msg = cast_message("migrate_volume_completion",
                           {"volume": volume_primitive(vid), "new_volume": volume_primitive(tmp),
                            "error": False},
                           context=context_dict(project_id=self.PROJECT, is_admin=True))
        msg.update({"_msg_id": uuid.uuid4().hex, "_reply_q": reply_q, "_timeout": None})
        self.publish(pack(msg), routing_key=self.rk(self.src), unique_id=msg["_unique_id"])
        self.poll(lambda: self.stage(vid) == "completing", timeout=10)
        # migration_update_timeout (an hour) as good as over: the source does not name the
        # destination's store, so the migration fails.
        self.sql("UPDATE volmgr_migrations SET deadline = now() AT TIME ZONE 'utc' - "
                 "interval '1 second' WHERE volume_id = %s AND stage = 'completing'", (vid,))
        self.wait_migration(vid, "error", timeout=15)
        src = self.row(vid)
        self.assertEqual((src["status"], src["host"], src["name_id"]),
                         ("in-use", self.src, None))
        self.assertIn("migration_update_timeout", self.sql_value(
            "SELECT reason FROM volmgr_migrations WHERE volume_id = %s ORDER BY id DESC "
            "LIMIT 1", (vid,)))
        # The destination's manager back: the temporary volume is deleted, the call answered.
        self.restart_manager(dst_manager)
        self.failed_cleanly(vid, tmp, timeout=15)
        self.assertIsNotNone(self.poll(lambda: self.get_message(reply_q), timeout=10,
                                       msg="the completion answered"))

    def test_migrations_waiting_for_compute_do_not_crowd_out_others(self):
        vid = self.new_volume()
        # More migrations waiting for compute's completion than the engine looks at in one
        # go (64), all older than the new one.
        service = self.src.split("#")[0]
        waiting = [str(uuid.uuid4()) for _ in range(70)]
        for w in waiting:
            self.sql("INSERT INTO volmgr_migrations (volume_id, new_volume_id, source_host, "
                     "dest_host, stage, swap_sent, deadline, created_at, updated_at) VALUES "
                     "(%s, %s, %s, %s, 'swapping', true, now() AT TIME ZONE 'utc' + "
                     "interval '1 hour', now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc')",
                     (w, str(uuid.uuid4()), service, self.dst))
        self.addCleanup(self.sql, "DELETE FROM volmgr_migrations WHERE volume_id = ANY(%s)",
                        (waiting,))
        self.start_migration(vid)
        self.wait_migration(vid, "success")
