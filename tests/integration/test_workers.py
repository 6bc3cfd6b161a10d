"""[manager] workers (manager/workers.h): with workers = 3 the volume-manager process is a
supervisor of three worker processes that compete for the same queues. A burst is finalized
exactly once, a worker killed with SIGKILL is replaced and its unacknowledged work is done once
by the others, a worker that hangs is killed by the watchdog and replaced, SIGTERM stops every
process within the drain deadline, and a worker that cannot start stops the service with
status 1 instead of being restarted forever.

The completion casts and the exactly-once checks are the group-commit tests' own.
"""

import os
import re
import signal
import time

import test_group_commit
from harness import StackTestCase

WORKERS = 3
BURST = 300
PREFETCH = 16   # the harness's rabbit_qos_prefetch_count
# The supervisor's drain deadline for the harness's drain_timeout = 5: the drain, a statement
# timeout (5 s) and a tick (1 s) of the worker's loop.
DRAIN_DEADLINE = 5 + 5 + 1
# The least [manager] worker_stall_timeout.
STALL = 30
STARTED = re.compile(r"volume-manager\[(\d+)\] INFO \[[^]]*\] worker \d+ of \d+ started")
CONSUMING = re.compile(r" INFO \[[^]]*\] consuming ")


def proc_state(pid):
    """(state letter, parent pid) of pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def alive(pid):
    state = proc_state(pid)
    return state is not None and state[0] != "Z"


def children(pid):
    """The live child processes of pid."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            state = proc_state(int(entry))
            if state is not None and state[1] == pid and state[0] != "Z":
                kids.append(int(entry))
    return sorted(kids)


class WorkersTest(StackTestCase):

    # Every worker pid a test saw, killed at tear-down should one have outlived its
    # supervisor.
    _worker_pids = set()

    pending_completion = test_group_commit.GroupCommitTest.pending_completion
    batch = test_group_commit.GroupCommitTest.batch
    assert_finalized_once = test_group_commit.GroupCommitTest.assert_finalized_once
    wait_finalized = test_group_commit.GroupCommitTest.wait_finalized

    @classmethod
    def _config_text(cls):
        return super()._config_text().replace("[manager]\n",
                                              "[manager]\nworkers = %d\n" % WORKERS)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            for pid in cls._worker_pids:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)

    # ---- helpers ----

    def workers_of(self, proc, without=None):
        """Waits until proc has WORKERS live worker children, none of them pid without, and
        returns their pids."""
        def ready():
            kids = children(proc.pid)
            return kids if len(kids) == WORKERS and without not in kids else None
        kids = self.poll(ready, timeout=15, msg="%d workers under pid %d" % (WORKERS, proc.pid))
        type(self)._worker_pids.update(kids)
        return kids

    def wait_consumers(self):
        """Waits until each worker of the class's supervisor consumes every service queue,
        on a connection of its own (and no other test's supervisor does)."""
        for q in self.service_queues:
            self.poll(lambda q=q: self.consumer_count(q) == WORKERS, timeout=15,
                      msg="%d consumers on %s" % (WORKERS, q))

    def processed_count(self, items):
        ids = [m["_unique_id"] for _, m in items]
        return self.sql_value("SELECT count(*) FROM volmgr_processed_messages "
                              "WHERE unique_id = ANY(%s)", (ids,))

    def assert_burst_done_once(self, items):
        """Waits until the workers finalized every volume of items and emptied the queue,
        then checks that each was finalized once and each message recorded once."""
        vids = [v for v, _ in items]
        self.wait_finalized(vids, timeout=60)
        self.poll(lambda: self.queue_count(self.routing_key) == 0, timeout=20,
                  msg="the workers drained the queue")
        self.assert_finalized_once(vids)
        self.assertEqual(self.processed_count(items), len(items))

    def wait_exit(self, proc, timeout):
        """proc's exit status, failing the test when it runs past timeout."""
        self.poll(lambda: proc.poll() is not None, timeout=timeout,
                  msg="pid %d exited" % proc.pid)
        return proc.returncode

    # ---- tests ----

    def test_burst_is_finalized_once_by_competing_workers(self):
        self.workers_of(self._proc("volume-manager"))
        self.wait_consumers()
        items = self.batch(BURST)
        self.publish_many([m for _, m in items])
        self.assert_burst_done_once(items)
        self.assertTrue(self.manager_alive())

    def test_killed_worker_is_replaced_and_its_work_done_once(self):
        supervisor = self._proc("volume-manager")
        before = self.workers_of(supervisor)
        self.wait_consumers()
        # A stopped worker still gets its prefetch of the burst and never acknowledges it:
        # that is the work in flight that its death hands back to the queue.
        victim = before[0]
        os.kill(victim, signal.SIGSTOP)
        items = self.batch(BURST)
        self.publish_many([m for _, m in items])
        self.poll(lambda: self.queue_count(self.routing_key) == 0 and
                  self.processed_count(items) == BURST - PREFETCH, timeout=60,
                  msg="all but the stopped worker's prefetch finalized")
        os.kill(victim, signal.SIGKILL)
        after = self.workers_of(supervisor, without=victim)
        self.assertEqual(len(set(after) & set(before)), WORKERS - 1)
        self.assert_burst_done_once(items)
        self.assertIn("died of signal %d; restarting it" % signal.SIGKILL,
                      self.log_text(supervisor))
        self.assertTrue(self.manager_alive())

    def test_sigterm_stops_every_process_within_the_drain_deadline(self):
        supervisor = self.start_manager("volume-manager-stopped")
        kids = self.workers_of(supervisor)
        self.poll(lambda: len(CONSUMING.findall(self.log_text(supervisor))) >= WORKERS,
                  timeout=15, msg="every worker consuming")
        started = time.monotonic()
        supervisor.send_signal(signal.SIGTERM)
        self.assertEqual(self.wait_exit(supervisor, DRAIN_DEADLINE), 0)
        self.forget(supervisor)
        self.poll(lambda: not any(alive(pid) for pid in kids), timeout=1,
                  msg="no worker left")
        self.assertLess(time.monotonic() - started, DRAIN_DEADLINE)
        self.assertTrue(self.manager_alive())

    def stuck_supervisor(self, name):
        """A supervisor whose first worker is stopped (SIGSTOP), so that the drain of a stop
        cannot finish, and the pids of its workers."""
        supervisor = self.start_manager(name)
        kids = self.workers_of(supervisor)
        os.kill(kids[0], signal.SIGSTOP)
        return supervisor, kids

    def test_second_signal_kills_the_workers_at_once(self):
        supervisor, kids = self.stuck_supervisor("volume-manager-killed")
        supervisor.send_signal(signal.SIGTERM)
        # Signals of one kind do not queue: the second is sent once the first was taken.
        self.poll(lambda: "stopping: SIGTERM to" in self.log_text(supervisor), timeout=5,
                  msg="the supervisor forwarded the first signal")
        supervisor.send_signal(signal.SIGTERM)
        self.assertEqual(self.wait_exit(supervisor, 3), 1)
        self.assertIn("second stop signal: SIGKILL", self.log_text(supervisor))
        self.forget(supervisor)
        self.poll(lambda: not any(alive(pid) for pid in kids), timeout=1,
                  msg="no worker left")

    def test_stuck_worker_is_killed_at_the_drain_deadline(self):
        supervisor, kids = self.stuck_supervisor("volume-manager-deadline")
        started = time.monotonic()
        supervisor.send_signal(signal.SIGTERM)
        self.assertEqual(self.wait_exit(supervisor, DRAIN_DEADLINE + 3), 1)
        self.assertGreaterEqual(time.monotonic() - started, DRAIN_DEADLINE - 1)
        self.assertIn("at the drain deadline: SIGKILL", self.log_text(supervisor))
        self.forget(supervisor)
        self.poll(lambda: not any(alive(pid) for pid in kids), timeout=1,
                  msg="no worker left")

    def test_hung_worker_is_killed_by_the_watchdog_and_its_work_done_once(self):
        """A stopped worker (SIGSTOP: alive, its connections open, nothing moving) holds its
        prefetch of a burst. After worker_stall_timeout its supervisor kills it and starts
        another in its slot, and what it held is finalized once by the others."""
        path = os.path.join(self.tmp, "stall.conf")
        with open(path, "w") as f:
            f.write(self._config_text().replace(
                "[manager]\n", "[manager]\nworker_stall_timeout = %d\n" % STALL, 1))
        supervisor = self.start_manager("volume-manager-stall", config_file=path)

        def stop():
            supervisor.terminate()
            supervisor.wait(timeout=DRAIN_DEADLINE + 10)
            self.forget(supervisor)
        self.addCleanup(stop)
        before = self.workers_of(supervisor)
        self.poll(lambda: len(CONSUMING.findall(self.log_text(supervisor))) >= WORKERS,
                  timeout=15, msg="every worker consuming")
        victim = before[0]
        os.kill(victim, signal.SIGSTOP)
        stopped_at = time.monotonic()
        items = self.batch(BURST)
        self.publish_many([m for _, m in items])
        self.poll(lambda: "(pid %d) showed no progress" % victim in self.log_text(supervisor),
                  timeout=STALL + 15, msg="the watchdog took the stopped worker for hung")
        # Its last progress was at most a tick of its loop before the stop.
        self.assertGreaterEqual(time.monotonic() - stopped_at, STALL - 2)
        self.poll(lambda: not alive(victim), timeout=5, msg="the hung worker is gone")
        after = self.workers_of(supervisor, without=victim)
        self.assertEqual(len(set(after) & set(before)), WORKERS - 1)
        self.assert_burst_done_once(items)

    def test_worker_that_cannot_start_stops_the_service(self):
        # A filestore_dir that is a file: the configuration loads, every worker's driver
        # set-up fails (the manager's start-up status 1).
        not_a_dir = os.path.join(self.tmp, "not-a-directory")
        open(not_a_dir, "w").close()
        path = os.path.join(self.tmp, "bad-filestore.conf")
        with open(path, "w") as f:
            f.write(self._config_text().replace("filestore_dir = %s\n" % self.filestore_dir,
                                                "filestore_dir = %s\n" % not_a_dir))
        supervisor = self.start_manager("volume-manager-bad", config_file=path)
        self.assertEqual(self.wait_exit(supervisor, 10), 1)
        log = self.log_text(supervisor)
        self.forget(supervisor)
        pids = [int(p) for p in STARTED.findall(log)]
        self.assertEqual(len(pids), WORKERS, "no worker was restarted:\n" + log)
        type(self)._worker_pids.update(pids)
        self.poll(lambda: not any(alive(pid) for pid in pids), timeout=1,
                  msg="no worker left")
        self.assertIn("stopping the service instead of restarting it", log)

    def test_workers_out_of_range_is_a_configuration_error(self):
        path = os.path.join(self.tmp, "too-many-workers.conf")
        with open(path, "w") as f:
            f.write(self._config_text().replace("workers = %d\n" % WORKERS,
                                                "workers = 65\n", 1))
        proc = self.start_manager("volume-manager-65", config_file=path)
        self.assertEqual(self.wait_exit(proc, 10), 1)
        self.assertIn("workers", self.log_text(proc))
        self.forget(proc)
