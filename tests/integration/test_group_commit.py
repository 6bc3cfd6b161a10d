"""Group commit (manager/batch.c): a batch of extend_volume_completion casts is finalized in
one transaction and acknowledged together, and stays correct under poison, a crash between
commit and ack, and two managers on one queue.

The batch window is long (400 ms) so that the casts a test publishes in a row arrive in one
batch.
"""

import json
import os
import signal
import time

from harness import StackTestCase, completion_cast, context_dict, pack

BATCH_CONFIG = "[manager]\nbatch_size = 16\nbatch_window_ms = 400\n"


class GroupCommitTest(StackTestCase):

    @classmethod
    def _config_text(cls):
        return super()._config_text().replace("[manager]\n", BATCH_CONFIG)

    # ---- helpers ----

    def pending_completion(self):
        """A volume extending from 1 to 2 GiB as the API leaves it before the completion
        cast (keys removed, file grown by compute), with a live +1 GiB reservation. Returns
        (volume id, the cast)."""
        res = self.live_reservation()
        vid = self.insert_volume(size=1, status="extending", previous_status="available",
                                 file_gib=2)
        # the pending extend as the API and the manager record it: the group's fence
        self._sql("INSERT INTO volmgr_pending_extends (volume_id, project_id, new_size,"
                  " reservations, instance_uuid, started_at, deadline) VALUES (%s, %s, 2, %s,"
                  " NULL, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc' + interval '1 hour')",
                  (vid, self.PROJECT, json.dumps([res])))
        ctx = context_dict("admin", self.PROJECT, is_admin=True)
        return vid, completion_cast(vid, 2, [res], False, context=ctx)

    def batch(self, n):
        return [self.pending_completion() for _ in range(n)]

    def assert_finalized_once(self, vids, manager_down=False):
        """Each of vids finalized once: one resize.end published, or, with no manager running
        to publish it (manager_down), one waiting in the outbox."""
        for vid in vids:
            self.assertEqual(self.status_of(vid), "available")
            self.assertEqual(self.volume_row(vid)["size"], 2)
            if manager_down:
                queued = self.sql_value(
                    "SELECT count(*) FROM volmgr_notifications WHERE event_type = "
                    "'volume.resize.end' AND payload::json->>'volume_id' = %s", (vid,))
                self.assertEqual(queued, 1, "one resize.end queued for " + vid)
            else:
                self.assertEqual(len(self.notifications(vid)), 1, "one resize.end for " + vid)
            self.assertEqual(self.admin_md(vid), {})
        self.assertEqual(self.usage("gigabytes"), (len(vids), 0), "(in_use, reserved)")
        self.assertEqual(self.live_reservations(), [])

    def wait_finalized(self, vids, timeout=20):
        self.poll(lambda: all(self.status_of(v) == "available" for v in vids),
                  timeout=timeout, msg="every volume finalized")

    # ---- tests ----

    def test_poison_in_a_batch_is_dead_lettered_alone(self):
        good = self.batch(4)
        # Not msgpack: poison at decoding. A request id longer than the notifications
        # column: the database refuses the group, which then goes one at a time.
        bad_vid, long_rid = self.pending_completion()
        long_rid["_context_request_id"] = "req-" + "x" * 300
        bodies = [pack(good[0][1]), pack(good[1][1]), b"\xc1 not msgpack",
                  pack(long_rid), pack(good[2][1]), pack(good[3][1])]
        for body in bodies:
            self.publish(body)
        self.wait_finalized([v for v, _ in good])
        self.wait_dead_letter(b"\xc1 not msgpack")
        self.wait_dead_letter(pack(long_rid))
        for vid, _ in good:
            self.assertEqual(len(self.notifications(vid)), 1)
        self.assertEqual(self.status_of(bad_vid), "extending", "the refused one is untouched")
        self.assertTrue(self.manager_alive())

    def test_crash_between_commit_and_ack_changes_nothing(self):
        self.addCleanup(self.restart_manager)
        self.stop_manager()
        items = self.batch(5)
        crash = self.start_manager("volume-manager-crash", VOLMGR_TEST_CRASH_AFTER_COMMIT="1")
        self.forget(crash)
        for _, msg in items:
            self.publish(msg)
        crash.wait(timeout=20)
        self.assertEqual(crash.returncode, -signal.SIGKILL)
        vids = [v for v, _ in items]
        self.assert_finalized_once(vids, manager_down=True)
        self.poll(lambda: self.queue_count(self.routing_key) == len(items), timeout=10,
                  msg="the unacknowledged batch back in the queue")
        snapshot = [self.volume_row(v) for v in vids]
        # The class's manager again: it gets the batch redelivered.
        self.restart_manager()
        self.poll(lambda: self.queue_count(self.routing_key) == 0, timeout=20,
                  msg="the redelivered batch acknowledged")
        self.manager_barrier()
        self.assert_finalized_once(vids)
        self.assertEqual([self.volume_row(v) for v in vids], snapshot, "rows unchanged")
        self.assertTrue(self.manager_alive())

    def test_two_managers_finalize_every_volume_once(self):
        second = self.start_manager("volume-manager-second")
        items = self.batch(40)
        # Every cast twice (a redelivery or a double publish), so both managers race on
        # the same messages and the same rows.
        for _, msg in items + items:
            self.publish(msg)
        vids = [v for v, _ in items]
        self.wait_finalized(vids, timeout=30)
        self.poll(lambda: self.queue_count(self.routing_key) == 0, timeout=20,
                  msg="both managers drained the queue")
        self.assert_finalized_once(vids)
        ids = [m["_unique_id"] for _, m in items]
        self.assertEqual(self.sql_value("SELECT count(*) FROM volmgr_processed_messages "
                                        "WHERE unique_id = ANY(%s)", (ids,)), len(ids))
        self.assertTrue(second.poll() is None and self.manager_alive())
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=15)

    def test_a_batch_soon_after_another_waits_for_the_interval(self):
        # A short window and a long interval ([manager] batch_interval_ms): the first cast
        # after a quiet spell is finalized alone after the window; the next two, arriving
        # 150 ms apart within the interval after it, wait for the interval and share a group.
        # The interval is the longest allowed, so that a loaded machine still publishes
        # both within it.
        self.addCleanup(self.restart_manager)
        self.stop_manager()
        path = os.path.join(self.tmp, "interval.conf")
        with open(self.config_file) as f, open(path, "w") as out:
            out.write(f.read().replace("batch_window_ms = 400\n", "batch_window_ms = 2\n"
                                       "batch_interval_ms = 1000\n"))
        interval = self.start_manager("volume-manager-interval", config_file=path)
        self.addCleanup(self.stop_manager, name="volume-manager-interval")
        self.poll(lambda: all(self.consumer_count(q) for q in self.service_queues),
                  timeout=20, msg="the manager consumes")
        items = self.batch(3)
        self.publish(items[0][1])
        self.wait_finalized([items[0][0]])
        # Spacing the arrivals, not waiting for anything: the casts model a steady stream.
        self.publish(items[1][1])
        time.sleep(0.15)
        self.publish(items[2][1])
        vids = [v for v, _ in items]
        self.wait_finalized(vids)
        at = [self.sql_value("SELECT processed_at FROM volmgr_processed_messages "
                             "WHERE unique_id = %s", (m["_unique_id"],)) for _, m in items]
        self.assertEqual(at[1], at[2], "the two casts within the interval in one group")
        self.assertGreaterEqual((at[1] - at[0]).total_seconds(), 0.9,
                                "the second group waited for the interval")
        self.assert_finalized_once(vids)
        self.assertTrue(interval.poll() is None)
