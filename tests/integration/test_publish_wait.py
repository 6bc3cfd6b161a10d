"""Requests that wait for the broker hold no server thread, and no request outlives its
deadline (issue 11).

A cast is published inside its transaction, which commits only after the broker's confirm, on
a thread of the shim's casts' pool: with the broker blocked (its memory alarm raised, so that it
reads nothing from a publisher), twice as many casts as the shim has server threads wait (for
the confirm, or for the project's quota rows that a waiting transaction holds, or for a thread),
while every other request is served; when their time is up they are all answered 503 and their
transactions roll back. A request that waits several times is answered within
[api] request_timeout in all.
"""

import threading
import time

from harness import StackTestCase


class WaitingCastsTest(StackTestCase):

    publish_timeout = 4
    CASTS = 16

    def waiting_shim_transactions(self):
        """The shim's sessions of the class's database that wait inside a transaction: for
        the broker (idle in transaction) or for a lock."""
        return self.sql_value(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
            "'volmgr-api-shim' AND datname = current_database() "
            "AND (state = 'idle in transaction' OR wait_event_type = 'Lock')")

    def extends_processed(self):
        return self.sql_value("SELECT count(*) FROM volmgr_processed_messages "
                              "WHERE method = 'extend_volume'")

    def test_waiting_casts_do_not_block_other_requests(self):
        vids = [self.insert_volume(size=1, file_gib=1) for _ in range(self.CASTS)]
        usages = self.gb_usages()
        results = {}

        def extend(vid):
            results[vid] = self.extend(vid, 2)

        with self.broker_blocked():
            threads = [threading.Thread(target=extend, args=(v,)) for v in vids]
            started = time.monotonic()
            for t in threads:
                t.start()
            # Every casts' thread waits in a transaction (the shim's default: 8) ...
            self.poll(lambda: self.waiting_shim_transactions() >= 8, timeout=10,
                      msg="8 transactions waiting")
            # ... and, while they all still wait, the shim answers the rest at once.
            for _ in range(5):
                t0 = time.monotonic()
                st, _, _ = self.http("GET", "/", token=None)
                self.assertEqual(st, 300)
                st, _, doc = self.http("GET", "/v3/%s/volumes/detail" % self.PROJECT)
                self.assertEqual(st, 200, doc)
                self.assertEqual({v["status"] for v in doc["volumes"]}, {"available"},
                                 "nothing uncommitted is visible")
                self.assertLess(time.monotonic() - t0, 2.0)
            self.assertEqual(results, {}, "no cast was answered yet")
            for t in threads:
                t.join(timeout=self.publish_timeout + 10)
            elapsed = time.monotonic() - started
        self.assertEqual(len(results), self.CASTS)
        for vid, (st, _, doc) in results.items():
            self.assertFault(st, doc, 503, "serviceUnavailable")
        self.assertLess(elapsed, self.publish_timeout + 5,
                        "the casts were answered at their deadline, not one after another")
        self.assertEqual(self.waiting_shim_transactions(), 0, "every transaction ended")
        self.assertEqual({self.status_of(v) for v in vids}, {"available"}, "rolled back")
        self.assertEqual(self.gb_usages(), usages, "reservations rolled back")
        self.assertEqual(self.live_reservations(), [])

        # The publisher serves on. A cast that the blocked broker read late (one was written
        # before the first deadline; the others found their time up before they were
        # written) reaches the manager before this one (one connection, one queue), which
        # finds its reservations never committed and changes nothing.
        st, _, doc = self.extend(vids[0], 2)
        self.assertEqual(st, 202, doc)
        self.poll(lambda: self.volume_row(vids[0])["size"] == 2, msg="extended after the block")
        self.wait_status(vids[0], "available")
        self.assertGreaterEqual(self.extends_processed(), 2, "the late cast was handled")
        self.settle(lambda: {self.volume_row(v)["size"] for v in vids[1:]} == {1})
        self.assertEqual({self.status_of(v) for v in vids}, {"available"})


class RequestDeadlineTest(StackTestCase):
    """[api] request_timeout bounds a request whatever its own waits allow: a call that may
    wait 30 s for its reply is answered 504 when the request's time is up."""

    rpc_response_timeout = 30
    api_options = {"request_timeout": 3}

    def test_a_call_ends_at_the_request_deadline(self):
        vid = self.insert_volume(status="attaching", file_gib=1)
        with self.manager_held():
            started = time.monotonic()
            st, _, doc = self.http(
                "POST", self.vpath(vid, suffix="/action"),
                {"os-initialize_connection": {"connector": {"host": "compute1"}}})
            elapsed = time.monotonic() - started
        self.assertFault(st, doc, 504, contains="initialize_connection")
        self.assertGreater(elapsed, 2.0)
        self.assertLess(elapsed, 8.0)
