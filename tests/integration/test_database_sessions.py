"""A database that keeps dropping the manager's sessions is the database's fault, not the
message's: a create whose every try loses its connection (the reconnect in between working)
waits in its queue and is applied once the sessions last, instead of being dead-lettered and
leaving its volume "creating" (the PostgreSQL restart of the fault suite, where the database
came back between the manager's last try and its verdict).
"""

import threading

import psycopg2

from harness import DLQ, GIB, StackTestCase

# The manager's tries of one delivery (manager/dispatch.c), and what it logs when they
# all lost the connection.
DISPATCH_ATTEMPTS = 5
GAVE_UP = "leaving the delivery unacknowledged"
DROP_PERIOD = 0.02


class SessionDropper(threading.Thread):
    """Terminates every session of the manager in the test database, every DROP_PERIOD
    seconds until stopped; counts the sessions it terminated."""

    def __init__(self, admin_url, dbname):
        super().__init__(name="session-dropper", daemon=True)
        self.admin_url = admin_url
        self.dbname = dbname
        self.stopping = threading.Event()
        self.dropped = 0
        self.error = None

    def run(self):
        try:
            conn = psycopg2.connect(self.admin_url)
            conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    while not self.stopping.wait(DROP_PERIOD):
                        cur.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                                    "FROM pg_stat_activity WHERE datname = %s AND "
                                    "application_name = 'volume-manager'", (self.dbname,))
                        self.dropped += cur.fetchone()[0]
            finally:
                conn.close()
        except Exception as e:  # reported by the test
            self.error = e


class DatabaseSessionLossTest(StackTestCase):

    def manager_gave_up_a_try(self):
        """Whether the manager ended its tries of a delivery: left unacknowledged (logged)
        or dead-lettered."""
        return GAVE_UP in self.log_text("volume-manager")

    def test_create_survives_sessions_dropped_on_every_try(self):
        dead_letters = self.queue_count(DLQ)
        dropper = SessionDropper(self.admin_url, self._dbname)
        # The create waits in its queue while the manager is stopped, so that every try of
        # it runs while the sessions are being dropped.
        with self.manager_held():
            vid = self.create_volume(1, wait=False)
            dropper.start()
            self.poll(lambda: dropper.dropped > 0 or dropper.error, timeout=10,
                      msg="the manager's session dropped")
        try:
            self.poll(lambda: (self.manager_gave_up_a_try() or dropper.error or
                               self.queue_count(DLQ) != dead_letters),
                      timeout=30, msg="the manager ran out of tries")
        finally:
            dropper.stopping.set()
            dropper.join(10)
        self.assertIsNone(dropper.error)
        self.assertGreaterEqual(dropper.dropped, DISPATCH_ATTEMPTS, "a session per try")
        self.wait_status(vid, "available", timeout=30)
        self.assertEqual(self.queue_count(DLQ), dead_letters, "nothing dead-lettered")
        self.assertEqual(self.file_size(vid), GIB)
        self.assertTrue(self.manager_alive())
