"""Fault-injection harness (issue 4): a stream of mixed requests from a few client threads while
a fault is injected, then proof that nothing was lost or applied twice.

A fault class gets a RabbitMQ and a PostgreSQL of its own (scripts/stack.sh start <tmpdir>), so
stopping them harms no other suite; tearDownClass stops them by pid (scripts/stack.sh stop).
On top of that, tests/integration/harness.py builds the usual per-class deployment.

The stream (Stream.run): every client thread works in a project of its own, with
  * creates through the shim (1 GiB),
  * extends (+1 GiB) of its available volumes through the shim,
  * extends of its attached volumes at microversion 3.42, which the manager leaves waiting for
    compute feedback, then, once the pending extend is recorded, the backing file grown as Nova
    would and os-extend_volume_completion through the shim,
  * direct casts (publisher confirms) of a failed completion to volumes set up as extending.
A client retries as a real one does: a 503 or a connection error is followed later by a new
request for the same intent (a cast keeps its _unique_id: the same message again). A request
that got no answer or a 5xx is ambiguous: its effect may or may not exist, but at most once
(when PostgreSQL dies during COMMIT, the shim cannot know whether the commit happened).

Afterwards (Stream.verify, polling under deadlines until the queues drain): every request that
got a 202 or a confirm has exactly one effect (sizes, statuses, quota), there is no effect
without a request, every volume is in a terminal state, and `volctl quota check` finds no drift.
"""

import collections
import glob
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import pika       # noqa: E402  (Debian python3-pika)
import psycopg2   # noqa: E402  (Debian python3-psycopg2)

from harness import (DLQ, REPO, StackTestCase, completion_cast, context_dict,  # noqa: E402
                     load_stack_env)

STACK_SH = os.path.join(REPO, "scripts", "stack.sh")
TERMINAL = ("available", "in-use", "error_extending")
DRAIN_TIMEOUT = 60.0
STREAM_TIMEOUT = 120.0
DUPLICATE_LOG = re.compile(rb"was already processed; acknowledging")
# The group commit reports its duplicates as a count per batch.
GROUP_DUPLICATES_LOG = re.compile(rb"group commit: \d+ extends finalized, (\d+) already "
                                  rb"processed")
CLIENT_TIMEOUT = 10
# How many requests the clients send (retrying) during an outage before it ends.
OUTAGE_REQUESTS = 60
# How often a client picks each kind of request when it may send several.
KIND_WEIGHTS = {"create": 2, "extend": 3, "extend-3.42": 2, "complete": 3, "cast": 1}


def outage(stop, start, at):
    """A fault function: stop at request `at`, start again once the clients sent
    OUTAGE_REQUESTS more (they keep retrying against the outage meanwhile). stop and start are
    scripts/stack.sh commands of the class's stack, or functions of the stream."""
    def step(what, stream):
        if callable(what):
            what(stream)
        else:
            stream.tc.stack(what)

    def fault(stream):
        stream.wait_sent(at)
        step(stop, stream)
        try:
            stream.wait_sent(stream.count + OUTAGE_REQUESTS)
        finally:
            step(start, stream)
            stream.tc.connect_database()
        return 1
    return fault


def ambiguous(status):
    """Whether an answer leaves the effect of a request unknown (no answer, or a 5xx)."""
    return status is None or status >= 500


class FaultTestCase(StackTestCase):
    """A deployment on servers of its own; run_stream() drives one scenario."""

    threads = 4
    requests = 1000
    attached_per_client = 8
    casts_per_client = 30
    max_message_bytes = 65536
    log_level = "info"
    # The scripts/stack.sh command that starts the class's servers: "start" (one broker, one
    # database) or "start-ha" (a cluster of three brokers, a primary and a standby).
    stack_start = "start"
    # Each class has a PostgreSQL server of its own: a template would serve one class only.
    fresh_schema = True

    @classmethod
    def setUpClass(cls):
        cls.stack_dir = tempfile.mkdtemp(prefix="volmgr-fault-stack-")
        cls.stack_env_file = os.path.join(cls.stack_dir, "env")
        try:
            cls.stack(cls.stack_start)
            cls._durable_commits()
            super().setUpClass()
        except BaseException:
            cls._stop_stack()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._stop_stack()

    @classmethod
    def _stop_stack(cls):
        try:
            cls.stack("stop")
        finally:
            shutil.rmtree(cls.stack_dir, ignore_errors=True)

    @classmethod
    def stack(cls, command, *args):
        """scripts/stack.sh COMMAND on this class's stack (start, stop, broker-stop, node-stop
        N, ...). Returns its output."""
        # Servers of its own, even when the environment names external ones for the others.
        env = {k: v for k, v in os.environ.items()
               if k not in ("VOLMGR_TRANSPORT_URL", "VOLMGR_DB_URL", "VOLMGR_PG_ADMIN_URL")}
        # Above stack.sh's own bounds, so that it always ends by itself and runs its
        # clean-up: start-ha waits for each of three nodes and their joins, then the standby.
        timeout = 420 if command == "start-ha" else 150
        p = subprocess.run([STACK_SH, command, cls.stack_dir] + [str(a) for a in args],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           env=env)
        if p.returncode != 0:
            raise RuntimeError("stack.sh %s failed (%d):\n%s"
                               % (command, p.returncode, p.stdout.decode("utf-8", "replace")))
        return p.stdout.decode("utf-8", "replace")

    @classmethod
    def _durable_commits(cls):
        """The throwaway stack trades durability for speed (synchronous_commit = off), so a
        crash of PostgreSQL would lose commits it had acknowledged: volmgr's guarantees
        assume acknowledged commits survive, as in any real deployment."""
        conn = psycopg2.connect(load_stack_env(cls.stack_env_file)["VOLMGR_PG_ADMIN_URL"])
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("ALTER SYSTEM SET synchronous_commit = on")
                cur.execute("SELECT pg_reload_conf()")
        finally:
            conn.close()

    @classmethod
    def stack_env(cls):
        return load_stack_env(cls.stack_env_file)

    def duplicates_suppressed(self):
        """How many deliveries the managers recognised as already processed (their log lines,
        over every run of every manager process in this class)."""
        total = 0
        for path in glob.glob(os.path.join(self.log_dir, "volume-manager*.log")):
            with open(path, "rb") as f:
                text = f.read()
            total += (len(DUPLICATE_LOG.findall(text)) +
                      sum(int(n) for n in GROUP_DUPLICATES_LOG.findall(text)))
        return total

    # ---- the stream ----

    def run_stream(self, fault=None, extra=None, dead_letters=0):
        """Runs one scenario: the client threads, fault(stream) in a thread of its own (it
        returns the number of faults injected) and extra(stream) likewise (more traffic);
        dead_letters is how many messages the scenario expects dead-lettered. Returns the
        Stream after verification, with its figures printed."""
        stream = Stream(self)
        stream.setup()
        dup0 = self.duplicates_suppressed()
        stream.run(fault, extra)
        stream.drain()
        stream.verify()
        stream.figures["duplicates suppressed"] = self.duplicates_suppressed() - dup0
        stream.print_figures(self.id())
        self.assertEqual(stream.figures["dead-lettered"], dead_letters)
        return stream


class Client(threading.Thread):
    """One client thread: a project, its volumes, and the requests log of its own."""

    def __init__(self, stream, idx, budget):
        super().__init__(name="client-%d" % idx, daemon=True)
        self.s = stream
        self.tc = stream.tc
        self.budget = budget
        self.project = "fault%d%s" % (idx, uuid.uuid4().hex[:6])
        self.rng = random.Random(idx)
        self.db = None
        self.log = []             # (kind, volume id or None, status or None)
        self.created = {}         # volume id -> {"ok": extends 202, "amb": ambiguous extends}
        self.attached = {}        # volume id -> {"ok": completions 202, "amb": ..., "phase"}
        self.casts = {}           # volume id -> the cast message (None once confirmed)
        self.ambiguous_creates = 0
        self.busy = {}            # volume id -> the kind of its accepted request in flight
        self.error = None

    # ---- set-up (not part of the stream) ----

    def setup(self):
        tc = self.tc
        # Unlimited: the stream creates more than the default quota class allows.
        for resource in ("volumes", "gigabytes"):
            tc.volctl_ok("quota-set", self.project, resource, "-1")
        for _ in range(self.tc.attached_per_client):
            vid = tc.insert_volume(size=1, status="available", project=self.project,
                                   file_gib=1)
            tc.insert_attachment(vid, instance_uuid=str(uuid.uuid4()))
            self.attached[vid] = {"ok": 0, "amb": 0, "phase": "ready"}
        ctx = context_dict("admin", self.project, is_admin=True)
        for _ in range(self.tc.casts_per_client):
            vid = tc.insert_volume(size=1, status="extending", previous_status="available",
                                   project=self.project)
            self.casts[vid] = completion_cast(vid, 2, [], True, context=ctx)

    # ---- database view ----

    def view(self):
        """{volume id: (status, size, pending new size or None)} of the project, or None while
        the database cannot be read (a fault)."""
        try:
            if self.db is None or self.db.closed:
                self.db = psycopg2.connect(self.tc.db_url, connect_timeout=3)
                self.db.autocommit = True
            with self.db.cursor() as cur:
                cur.execute("SELECT v.id, v.status, v.size, p.new_size "
                            "FROM volumes v LEFT JOIN volmgr_pending_extends p "
                            "ON p.volume_id = v.id WHERE v.project_id = %s "
                            "AND v.deleted IS NOT TRUE", (self.project,))
                return {r[0]: (r[1], r[2], r[3]) for r in cur.fetchall()}
        except psycopg2.Error:
            if self.db is not None:
                self.db.close()
            self.db = None
            return None

    # ---- requests ----

    def http(self, kind, vid, method, path, body, token, version=None):
        """One request; a 202 marks the volume busy with kind until the manager moved it on
        (an unanswered request leaves the database to tell)."""
        st, _, doc = self.tc._request(self.tc.api_root, method, path, body=body, token=token,
                                      version=version, timeout=CLIENT_TIMEOUT)
        self.log.append((kind, vid, st))
        self.s.sent()
        if st == 202 and vid is not None:
            self.busy[vid] = kind
        elif ambiguous(st):
            self.backoff()
        return st, doc

    def create(self):
        st, doc = self.http("create", None, "POST", "/v3/%s/volumes" % self.project,
                            {"volume": {"size": 1, "name": "fault"}},
                            "%s:%s" % (self.tc.USER, self.project))
        if st == 202:
            vid = doc["volume"]["id"]
            self.created[vid] = {"ok": 0, "amb": 0}
            self.busy[vid] = "create"
        elif ambiguous(st):
            self.ambiguous_creates += 1


    def action(self, kind, vid, body, rec, token, version=None):
        """A volume action; counts it in rec["ok"] (202) or rec["amb"] (no answer)."""
        st, _ = self.http(kind, vid, "POST", "/v3/%s/volumes/%s/action" % (self.project, vid),
                          body, token, version)
        if st == 202:
            rec["ok"] += 1
        elif ambiguous(st):
            rec["amb"] += 1

    def complete(self, vid, new_size):
        # Nova grows the open file before it reports the extend done.
        self.tc.grow_file(vid, new_size)
        self.action("complete", vid, {"os-extend_volume_completion": {"error": False}},
                    self.attached[vid], "admin:%s" % self.project)

    def cast(self, vid):
        msg = self.casts[vid]
        try:
            self.tc.publish(msg)
            st = 202
        except (pika.exceptions.AMQPError, OSError):
            st = None          # retried later with the same _unique_id
        self.log.append(("cast", vid, st))
        self.s.sent()
        if st == 202:
            self.casts[vid] = None
            self.busy[vid] = "cast"
        else:
            self.backoff()

    def backoff(self):
        """A client's pause before it retries after a failure (not a synchronisation)."""
        time.sleep(self.rng.uniform(0.05, 0.25))

    # ---- the loop ----

    @staticmethod
    def moved_on(kind, status, pending):
        """Whether the manager handled the request of kind that made a volume busy."""
        if kind == "extend-3.42":
            return pending is not None or status != "extending"
        if kind == "complete":
            return pending is None
        return status not in ("creating", "extending")

    def choices(self, view, finishing):
        """[(kind, volume id, size)] of what may be sent now."""
        out = []
        for vid, (status, size, pending) in view.items():
            if vid in self.busy:
                if not self.moved_on(self.busy[vid], status, pending):
                    continue
                del self.busy[vid]
            if vid in self.created and status == "available" and not finishing:
                out.append(("extend", vid, size + 1))
            elif vid in self.attached and status == "in-use" and not finishing:
                out.append(("extend-3.42", vid, size + 1))
            elif vid in self.attached and status == "extending" and pending is not None:
                out.append(("complete", vid, pending))
            elif self.casts.get(vid) is not None:
                out.append(("cast", vid, size))
        return out

    def step(self, finishing):
        """Sends one request if one may be sent. Returns False when there is nothing to do."""
        view = self.view()
        # A client of the API does not need the database: it keeps creating while it is down.
        ops = self.choices(view, finishing) if view is not None else []
        if not finishing:
            ops.append(("create", None, 0))
        if not ops:
            return False
        kinds = sorted({op[0] for op in ops})
        kind = self.rng.choices(kinds, [KIND_WEIGHTS[k] for k in kinds])[0]
        kind, vid, size = self.rng.choice([op for op in ops if op[0] == kind])
        user = "%s:%s" % (self.tc.USER, self.project)
        if kind == "create":
            self.create()
        elif kind == "extend":
            self.action(kind, vid, {"os-extend": {"new_size": size}}, self.created[vid], user)
        elif kind == "extend-3.42":
            # Counted by its completion: the size moves only then.
            self.action(kind, vid, {"os-extend": {"new_size": size}}, {"ok": 0, "amb": 0},
                        user, version="3.42")
        elif kind == "complete":
            self.complete(vid, size)
        else:
            self.cast(vid)
        return True

    def unsettled(self):
        """What of this client is still in flight: [(volume id, status, size, pending, what
        the client waits for)]; [] once every volume is terminal and every cast confirmed."""
        view = self.view()
        if view is None:
            return [(None, "database unreadable", None, None, None)]
        self.choices(view, True)
        return [(vid, st, size, pending, self.busy.get(vid))
                for vid, (st, size, pending) in view.items()
                if vid in self.busy or st not in TERMINAL or pending is not None
                or self.casts.get(vid) is not None]

    def settled(self):
        return not self.unsettled()

    def run(self):
        try:
            while len(self.log) < self.budget and not self.s.expired():
                if not self.step(False):
                    self.s.idle()
            self.s.budget_spent()
            # Finish: complete what waits for feedback, confirm every cast.
            while not self.settled() and not self.s.expired():
                if not self.step(True):
                    self.s.idle()
        except Exception as e:   # reported by the main thread
            self.error = e
        finally:
            if self.db is not None:
                self.db.close()


class Stream:
    """The clients of one scenario, their figures and the checks of their outcome."""

    def __init__(self, tc):
        self.tc = tc
        n = tc.threads
        self.clients = [Client(self, i, -(-tc.requests // n)) for i in range(n)]
        self.cond = threading.Condition()
        self.count = 0
        self.spent = 0            # clients past their budget: they only finish what is open
        self.deadline = None
        self.figures = {}
        self.faults = 0

    def setup(self):
        for c in self.clients:
            c.setup()
        # The set-up wrote volumes directly: make their usage rows agree before the stream.
        self.tc.volctl_ok("quota", "sync", "--all")
        rc, out = self.tc.volctl("quota", "check", "--all")
        self.tc.assertEqual(rc, 0, "no drift before the stream:\n" + out)

    # ---- progress, shared with the fault thread ----

    def sent(self):
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def budget_spent(self):
        with self.cond:
            self.spent += 1
            self.cond.notify_all()

    def wait_sent(self, n, timeout=120):
        """Waits until n requests were sent (the fault thread's way to pick its moment), or
        until every client spent its budget: from then on they send only what finishes open
        operations, which an outage may hold up until it ends."""
        with self.cond:
            ok = self.cond.wait_for(lambda: self.count >= n or self.spent == len(self.clients),
                                    timeout=timeout)
        if not ok:
            raise AssertionError("the stream did not reach %d requests in %ds" % (n, timeout))

    def expired(self):
        return time.monotonic() > self.deadline

    @staticmethod
    def idle():
        # Nothing may be sent until the manager moves a volume on: look again shortly.
        time.sleep(0.02)

    def run(self, fault=None, extra=None):
        self.deadline = time.monotonic() + STREAM_TIMEOUT
        helpers = []
        results = {}

        def helper(name, fn):
            def body():
                try:
                    results[name] = fn(self)
                except BaseException as e:
                    results[name] = e
            t = threading.Thread(target=body, name=name, daemon=True)
            t.start()
            helpers.append(t)

        for c in self.clients:
            c.start()
        if fault is not None:
            helper("fault", fault)
        if extra is not None:
            helper("extra", extra)
        for t in self.clients + helpers:
            t.join(max(1.0, self.deadline - time.monotonic() + 30))
            self.tc.assertFalse(t.is_alive(), "%s still runs after the deadline" % t.name)
        for c in self.clients:
            if c.error is not None:
                raise c.error
        for name, r in results.items():
            if isinstance(r, BaseException):
                raise r
        self.faults = results.get("fault") or 0
        self.extra_result = results.get("extra")

    # ---- afterwards ----

    def drain(self):
        """Polls until the service queues are empty and every client settled."""
        tc = self.tc
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while True:
            depths = [tc.queue_count(q) for q in tc.service_queues]
            left = [u for c in self.clients for u in c.unsettled()]
            if not any(depths) and not left:
                return
            if time.monotonic() > deadline:
                tc.fail("not drained after %.0fs: queue depths %s, unsettled (volume, status, "
                        "size, pending, awaited) %s" % (DRAIN_TIMEOUT, depths, left[:20]))
            time.sleep(0.2)

    def verify(self):
        tc = self.tc
        lost = extra = 0
        logs = [e for c in self.clients for e in c.log]
        for c in self.clients:
            view = c.view()
            tc.assertIsNotNone(view, "the database answers")
            for vid, (status, size, pending) in view.items():
                tc.assertIn(status, TERMINAL, "volume %s is terminal" % vid)
                tc.assertIsNone(pending, "volume %s waits for nothing" % vid)
            for vid, rec in c.created.items():
                if vid not in view:
                    lost += 1
                    continue
                status, size, _ = view[vid]
                tc.assertEqual(status, "available", "created volume %s" % vid)
                lost += max(0, 1 + rec["ok"] - size)
                extra += max(0, size - (1 + rec["ok"] + rec["amb"]))
            for vid, rec in c.attached.items():
                status, size, _ = view[vid]
                tc.assertEqual(status, "in-use", "attached volume %s" % vid)
                lost += max(0, 1 + rec["ok"] - size)
                extra += max(0, size - (1 + rec["ok"] + rec["amb"]))
            for vid in c.casts:
                tc.assertEqual(view[vid][0], "error_extending", "cast to volume %s" % vid)
            orphans = set(view) - set(c.created) - set(c.attached) - set(c.casts)
            tc.assertLessEqual(len(orphans), c.ambiguous_creates,
                               "volumes without a request (project %s)" % c.project)
            for vid in orphans:
                tc.assertEqual(view[vid][:2], ("available", 1), "orphan %s" % vid)
            # Quota of the project: what its volumes hold, nothing reserved.
            total = sum(size for _, size, _ in view.values())
            tc.assertEqual(tc.usage("gigabytes", c.project), (total, 0), c.project)
        tc.assertEqual(lost, 0, "accepted requests without their effect")
        tc.assertEqual(extra, 0, "effects applied more than once")
        rc, out = tc.volctl("quota", "check", "--all")
        tc.assertEqual(rc, 0, "quota check finds no drift:\n" + out)
        self.figures.update({
            "requests sent": len(logs),
            "202s and confirms": sum(1 for e in logs if e[2] == 202),
            "other answers": dict(collections.Counter("%s %s" % (e[0], e[2]) for e in logs
                                                     if e[2] not in (202, None))),
            "no answer": sum(1 for e in logs if e[2] is None),
            "ambiguous (no answer or 5xx)": sum(1 for e in logs if ambiguous(e[2])),
            "faults injected": self.faults,
            "dead-lettered": tc.queue_count(DLQ),
            "lost": lost,
            "applied twice": extra,
            "quota drift": 0,    # volctl quota check above found none, or the test failed
        })
        return logs

    def print_figures(self, name):
        sys.stderr.write("\nfault figures %s: %s\n" % (
            name, ", ".join("%s %s" % (k, v) for k, v in self.figures.items())))
