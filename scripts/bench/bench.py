#!/usr/bin/python3
"""make bench: the manager's throughput and latency beside the ceilings it runs under.

Starts its own RabbitMQ and PostgreSQL (scripts/stack.sh, VOLMGR_STACK_DURABLE=1: fsync and
synchronous_commit on) under build/bench-stack, quorum queues, persistent messages, publisher
confirms on the manager's side, and measures (each figure the median of VOLMGR_BENCH_RUNS runs):

  1. manager drain: N casts pre-filled, the manager started, time until N are committed
     (counted in volmgr_processed_messages), for extend_volume_completion at batch_size 1
     and VOLMGR_BENCH_BATCH, and for extend_volume (filestore) at VOLMGR_BENCH_BATCH;
  2. ceilings: (a) the same N drained by tools/mqbench's no-op consumer with the same prefetch
     and acks; (b) pgbench running manager/finalize.sql and the quota commit (the manager's
     own statements, rendered by pgbench_script) with the same batch size at the manager's
     concurrency (VOLMGR_BENCH_WORKERS clients, the manager's [manager] workers; default 2,
     one per core of this machine);
  3. sustained capacity (capacity()): the highest rate at which a publisher (mqbench steady,
     its own CPU per message measured) keeps publish -> commit latency flat (is_flat) for
     VOLMGR_BENCH_CAPACITY_SECONDS, and the latency at 50 % and 90 % of it, with the CPU per
     message of the manager, PostgreSQL, the broker and the publisher; and scale: the K
     drain with 1, 2 and 4 manager processes;
  4. the shim: os-extend end to end (HTTP -> transition + reservation -> confirmed publish ->
     202) under wrk at 16 and 64 connections for VOLMGR_BENCH_SHIM_SECONDS, no manager
     running: every request extends a volume of its own (VOLMGR_BENCH_SHIM_VOLUMES seeded
     available, spread over the projects), and the casts wait in the queue, purged after;
     each wrk run follows an uncounted warm-up of VOLMGR_BENCH_SHIM_WARMUP seconds;
  5. cost: manager CPU microseconds per message and shim CPU microseconds per request, peak
     RSS, RSS before / after a soak of VOLMGR_BENCH_SOAK seconds (manager: at 50 % of the
     sustained capacity; shim: wrk at 16 connections).

VOLMGR_BENCH_STAGES (drain,ceiling,capacity,scale by default; "all" adds shim, hostile, soak,
shim-soak) selects the stages;
VOLMGR_BENCH_JOURNAL=false runs the manager without its journal (the relay's cost);
VOLMGR_BENCH_NOTIFICATIONS=noop without its notifications (the outbox relay's cost);
drain-extend is the extend_volume drain alone; hostile measures GET / while calls wait on an
absent manager and while slow clients trickle, and the shim's RSS under hostile bodies. Prints
a table
and writes build/bench.json.
"""
import json
import os
import re
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from harness import (BACKEND, DEFAULT_TYPE, completion_cast, context_dict,  # noqa: E402
                     extend_cast, pack)
import pika      # noqa: E402
import psycopg2  # noqa: E402

N = int(os.environ.get("VOLMGR_BENCH_N", "20000"))
RUNS = int(os.environ.get("VOLMGR_BENCH_RUNS", "3"))
BATCH = int(os.environ.get("VOLMGR_BENCH_BATCH", "64"))
# [manager] batch_window_ms and batch_interval_ms (0 measures the manager without the
# interval).
WINDOW = int(os.environ.get("VOLMGR_BENCH_WINDOW", "2"))
INTERVAL = int(os.environ.get("VOLMGR_BENCH_INTERVAL", "20"))
PREFETCH = int(os.environ.get("VOLMGR_BENCH_PREFETCH", "256"))
SOAK = int(os.environ.get("VOLMGR_BENCH_SOAK", "300"))
# The capacity search (capacity()): seconds per run, most runs, the first rate (0: half the
# drain rate).
CAPACITY_SECONDS = int(os.environ.get("VOLMGR_BENCH_CAPACITY_SECONDS", "60"))
CAPACITY_STEPS = max(1, int(os.environ.get("VOLMGR_BENCH_CAPACITY_STEPS", "3")))
CAPACITY_EXTRA = 3
CAPACITY_START = float(os.environ.get("VOLMGR_BENCH_CAPACITY_START", "0"))
# The scale stage: one drain with this many manager processes ([manager] workers) each; one
# run each, since what it is for, CPU per message, varies little between runs (the drain
# stage's figures are the median of VOLMGR_BENCH_RUNS).
SCALE_WORKERS = (1, 2, 4)
SCALE_FIELDS = ("rate", "cpu_us_manager", "peak_rss_kib", "cpu_us_postgresql",
                "cpu_us_rabbitmq")
STEADY_ROUND = 60
# How long a steady run waits, after its publisher stopped, for the last messages' commits.
STEADY_DRAIN_S = 120
# Uncounted traffic before a steady run's first round (steady()).
STEADY_WARMUP_S = int(os.environ.get("VOLMGR_BENCH_STEADY_WARMUP", "5"))
# "Flat" (is_flat): p99 of the last FLAT_WINDOW s <= FLAT_FACTOR x that of the first
# FLAT_WINDOW s + FLAT_SLACK_MS, and a backlog at the end below FLAT_BACKLOG_S of publishing.
FLAT_WINDOW = 10
FLAT_FACTOR = 2
FLAT_SLACK_MS = 20
FLAT_BACKLOG_S = 0.25
SHIM_SECONDS = int(os.environ.get("VOLMGR_BENCH_SHIM_SECONDS", "10"))
SHIM_VOLUMES = int(os.environ.get("VOLMGR_BENCH_SHIM_VOLUMES", "40000"))
SHIM_WARMUP = int(os.environ.get("VOLMGR_BENCH_SHIM_WARMUP", "3"))
# Volumes for a warm-up at the peak: above any peak measured here (about 1,000 req/s).
SHIM_PEAK_GUESS = 2000
SHIM_WORKERS = int(os.environ.get("VOLMGR_BENCH_SHIM_WORKERS", "8"))
# The hostile stage: calls left waiting on an absent manager for this long (the shim's
# [api] rpc_response_timeout), slow connections, hostile bodies at once.
HOSTILE_CALL_TIMEOUT = 30
HOSTILE_CALLS = 16
HOSTILE_SLOW = 512
HOSTILE_BODIES = 16
# [manager] workers; pgbench's ceiling runs at as many clients, the manager's concurrency.
WORKERS = int(os.environ.get("VOLMGR_BENCH_WORKERS", "2"))
# The manager's [journal] enabled: "false" measures what the journal's relay costs.
JOURNAL = os.environ.get("VOLMGR_BENCH_JOURNAL", "true")
NOTIFICATIONS = os.environ.get("VOLMGR_BENCH_NOTIFICATIONS", "messagingv2")
# The default is the manager's figures (about 15-20 minutes at the defaults, estimated from
# shorter runs); "all" adds the shim's, the hostile clients' and the two soaks.
STAGES = os.environ.get("VOLMGR_BENCH_STAGES", "drain,ceiling,capacity,scale").split(",")
if STAGES == ["all"]:
    STAGES = "drain,ceiling,capacity,scale,shim,hostile,soak,shim-soak".split(",")


def free_port():
    """A loopback port free now, so that a shim left over from elsewhere cannot answer."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SHIM_PORT = free_port()
WRK_SCRIPT = os.path.join(REPO, "scripts", "bench", "extend.lua")
PROJECTS = 200
STACK = os.path.join(REPO, "build", "bench-stack")
WORK = os.path.join(REPO, "build", "bench-work")
MQBENCH = os.path.join(REPO, "build", "bench", "mqbench")
FINALIZE_SQL = os.path.join(REPO, "manager", "finalize.sql")
HOST = "bench"
SERVICE = "%s@%s" % (HOST, BACKEND)
VOLUME_HOST = "%s#%s" % (SERVICE, BACKEND)
QUEUE = "cinder-volume.%s.%s" % (SERVICE, HOST)
EXCHANGE = "openstack"
CTX = context_dict("admin", "bench", is_admin=True)


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# ---- the stack and the manager -------------------------------------------------------------

def start_stack():
    env = dict(os.environ, VOLMGR_STACK_DURABLE="1")
    for k in ("VOLMGR_TRANSPORT_URL", "VOLMGR_DB_URL"):
        env.pop(k, None)
    subprocess.run([os.path.join(REPO, "scripts", "stack.sh"), "start", STACK], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    out = {}
    with open(os.path.join(STACK, "env")) as f:
        for line in f:
            m = re.match(r"export (\w+)='?([^']*)'?$", line.strip())
            if m:
                out[m.group(1)] = m.group(2)
    return out


def stop_stack():
    subprocess.run([os.path.join(REPO, "scripts", "stack.sh"), "stop", STACK],
                   stdout=subprocess.DEVNULL, check=False)


def write_config(env, batch, workers=WORKERS):
    path = os.path.join(WORK, "volmgr-%d-%d.conf" % (batch, workers))
    with open(path, "w") as f:
        f.write("\n".join([
            "[DEFAULT]", "transport_url = %s" % env["VOLMGR_TRANSPORT_URL"],
            "control_exchange = %s" % EXCHANGE, "host = %s" % HOST,
            "backend = %s" % BACKEND, "log_level = warning",
            "default_volume_type = %s" % DEFAULT_TYPE, "quota_gigabytes = -1",
            "[database]", "connection = %s" % env["VOLMGR_DB_URL"],
            "[oslo_messaging_rabbit]", "amqp_durable_queues = true",
            "rabbit_quorum_queue = true", "rabbit_qos_prefetch_count = %d" % PREFETCH,
            "heartbeat_timeout_threshold = 60",
            "[filestore]", "filestore_dir = %s" % os.path.join(WORK, "volumes"),
            "filestore_compute_feedback = true",
            "[journal]", "enabled = %s" % JOURNAL,
            "[oslo_messaging_notifications]", "driver = %s" % NOTIFICATIONS,
            "[manager]", "batch_size = %d" % batch, "batch_window_ms = %d" % WINDOW,
            "batch_interval_ms = %d" % INTERVAL,
            "workers = %d" % workers,
            "periodic_interval = 3600", "report_interval = 3600",
            "[api]", "listen = 127.0.0.1", "port = %d" % SHIM_PORT, "auth_strategy = noauth",
            "publish_timeout = 5", "workers = %d" % SHIM_WORKERS,
            "rpc_response_timeout = %d" % HOSTILE_CALL_TIMEOUT, ""]))
    return path


def proc_stat(pid, exclude=()):
    """(cpu seconds, peak RSS KiB, RSS KiB) of pid and its children (a manager with workers
    > 1 is a supervisor: its workers do the work; PostgreSQL's postmaster has its backends):
    CPU summed, RSS of the largest process, since each worker is a whole manager and the
    memory target is per manager. The CPU includes the children pid has reaped (its cutime
    and cstime), so that a backend that exits between two samples still counts; the live
    children in exclude (the bench's own database session) are left out."""
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        pids = [pid] + [int(child) for child in f.read().split() if int(child) not in exclude]
    cpu = hwm = rss = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%d/status" % p) as f:
                status = f.readlines()
        except FileNotFoundError:
            continue    # a child that exited meanwhile: its parent's cutime has it
        ticks = int(fields[11]) + int(fields[12])
        if p == pid:
            ticks += int(fields[13]) + int(fields[14])
        cpu += ticks / os.sysconf("SC_CLK_TCK")
        for line in status:
            k, _, v = line.partition(":")
            if k == "VmHWM":
                hwm = max(hwm, int(v.split()[0]))
            elif k == "VmRSS":
                rss = max(rss, int(v.split()[0]))
    return cpu, hwm, rss


class Daemon:
    """bin/<binary> with the bench's configuration, its output in WORK/<binary>.log."""

    def __init__(self, env, binary, batch=1, workers=WORKERS):
        self.log = open(os.path.join(WORK, binary + ".log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(REPO, "bin", binary), "--config-file",
             write_config(env, batch, workers)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("VOLMGR_")})

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def Manager(env, batch, workers=WORKERS):
    return Daemon(env, "volume-manager", batch, workers)


def stack_pids():
    """{"rabbitmq": beam.smp's pid, "postgresql": the postmaster's} from the stack's state."""
    pids = {}
    with open(os.path.join(STACK, "state")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k in ("RABBIT_PID", "PG_PID") and v:
                pids["rabbitmq" if k == "RABBIT_PID" else "postgresql"] = int(v)
    return pids


class CpuProbe:
    """CPU seconds spent between start() and stop() by the manager (with its workers), the
    broker (beam.smp), PostgreSQL (the postmaster and its backends) and the bench's own
    children that exited meanwhile (the publisher, mqbench), and the load average at the
    end, so that every figure is read beside the machine's other work."""

    def __init__(self, mgr, db):
        self.pids = dict(stack_pids(), manager=mgr.proc.pid)
        self.exclude = (db.backend_pid,)

    def sample(self):
        out = {name: proc_stat(pid, self.exclude)[0] for name, pid in self.pids.items()}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["publisher"] = children.ru_utime + children.ru_stime
        return out

    def start(self):
        self.t0 = self.sample()

    def stop(self, messages):
        """{process: CPU us per message}, and "loadavg"."""
        t1 = self.sample()
        out = {"cpu_us_%s" % k: (t1[k] - self.t0[k]) * 1e6 / max(messages, 1) for k in t1}
        with open("/proc/loadavg") as f:
            out["loadavg"] = " ".join(f.read().split()[:3])
        return out


# ---- the database --------------------------------------------------------------------------

class Db:
    def __init__(self, url):
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True
        # The bench's own session polls while the manager works: CpuProbe leaves it out.
        self.backend_pid = self.one("SELECT pg_backend_pid()")

    def q(self, sql, params=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def one(self, sql, params=None):
        return self.q(sql, params)[0][0]

    def reset(self):
        self.q("TRUNCATE volumes, volume_admin_metadata, volume_attachment, reservations, "
               "quota_usages, volmgr_processed_messages, volmgr_notifications, "
               "volmgr_pending_extends, volmgr_pool_stats, messages CASCADE")

    def seed_volumes(self, n, status):
        """After a reset, n volumes of 1 GiB in status, spread over the projects. Returns
        [(volume_id, project, a fresh uuid for a reservation)]."""
        self.reset()
        vols = [(str(uuid.uuid4()), "project-%03d" % (i % PROJECTS), str(uuid.uuid4()))
                for i in range(n)]
        type_id = self.one("SELECT id FROM volume_types WHERE name = %s", (DEFAULT_TYPE,))
        self.q("INSERT INTO volumes (created_at, updated_at, deleted, id, user_id, project_id,"
               " host, size, availability_zone, status, attach_status, display_name,"
               " volume_type_id, bootable, multiattach, previous_status, shared_targets,"
               " use_quota, launched_at) SELECT now() AT TIME ZONE 'utc', now() AT TIME ZONE"
               " 'utc', false, v.id, 'admin', v.p, %s, 1, 'nova', %s, 'detached',"
               " 'bench', %s, false, false, 'available', true, true, now() AT TIME ZONE 'utc'"
               " FROM unnest(%s::varchar[], %s::varchar[]) AS v(id, p)",
               (VOLUME_HOST, status, type_id, [v[0] for v in vols], [v[1] for v in vols]))
        return vols

    def seed(self, n):
        """n volumes of 1 GiB in status extending, each with its two admin-metadata keys, its
        pending-extend row and a live reservation of +1 GiB against its project's gigabytes
        usage, and a backing file of 2 GiB (as compute would leave it). Returns
        [(volume_id, project, reservation)]."""
        vols = self.seed_volumes(n, "extending")
        ids, projects, res = ([v[i] for v in vols] for i in range(3))
        self.q("INSERT INTO volume_admin_metadata (created_at, deleted, volume_id, key, value)"
               " SELECT now() AT TIME ZONE 'utc', false, v.id, k.key,"
               " CASE k.key WHEN 'extend_new_size' THEN '2' ELSE '[\"' || v.r || '\"]' END"
               " FROM unnest(%s::varchar[], %s::varchar[]) AS v(id, r),"
               " (VALUES ('extend_new_size'), ('extend_reservations')) AS k(key)", (ids, res))
        # The pending extends as the API and the manager record them (the group's fence).
        self.q("INSERT INTO volmgr_pending_extends (volume_id, project_id, new_size,"
               " reservations, instance_uuid, started_at, deadline) SELECT v.id, v.p, 2,"
               " '[\"' || v.r || '\"]', NULL, now() AT TIME ZONE 'utc',"
               " now() AT TIME ZONE 'utc' + interval '1 day'"
               " FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[]) AS v(id, p, r)",
               (ids, projects, res))
        self.q("INSERT INTO quota_usages (created_at, deleted, project_id, resource, in_use,"
               " reserved, race_preventer) SELECT now() AT TIME ZONE 'utc', false, p,"
               " 'gigabytes', count(*), count(*), true FROM unnest(%s::varchar[]) AS p"
               " GROUP BY p", (projects,))
        self.q("INSERT INTO reservations (created_at, deleted, uuid, usage_id, project_id,"
               " resource, delta, expire) SELECT now() AT TIME ZONE 'utc', false, x.r, u.id,"
               " x.p, 'gigabytes', 1, now() AT TIME ZONE 'utc' + interval '1 day'"
               " FROM unnest(%s::varchar[], %s::varchar[]) AS x(r, p)"
               " JOIN quota_usages u ON u.project_id = x.p AND u.resource = 'gigabytes'",
               (res, projects))
        self.q("VACUUM ANALYZE")
        self.q("CHECKPOINT")
        vdir = os.path.join(WORK, "volumes")
        for name in os.listdir(vdir):
            os.unlink(os.path.join(vdir, name))
        for vid, _, _ in vols:
            with open(os.path.join(vdir, "volume-" + vid), "wb") as f:
                f.truncate(2 << 30)
        return vols

    def processed(self):
        return self.one("SELECT count(*) FROM volmgr_processed_messages")


# ---- the broker ----------------------------------------------------------------------------

def bodies(vols, method, tag=""):
    """The casts for vols, written to a file for mqbench (its name ends in tag, so that two
    sets can wait side by side). Returns (path, unique ids)."""
    path = os.path.join(WORK, "bodies-%s%s.bin" % (method, tag))
    ids = []
    with open(path, "wb") as f:
        for vid, _, res in vols:
            uid = uuid.uuid4().hex
            if method == "extend_volume":
                msg = extend_cast(vid, 2, [res], unique_id=uid, context=CTX)
            else:
                msg = completion_cast(vid, 2, [res], False, unique_id=uid, context=CTX)
            body = pack(msg)
            f.write(struct.pack(">I", len(body)) + body)
            ids.append(uid)
    return path, ids


def queue_state(env):
    """The queue's passive declare-ok: message_count and consumer_count."""
    conn = pika.BlockingConnection(pika.URLParameters(env["VOLMGR_TRANSPORT_URL"]))
    try:
        return conn.channel().queue_declare(queue=QUEUE, passive=True).method
    finally:
        conn.close()


def queue_depth(env):
    return queue_state(env).message_count


def fill(env, path):
    """Publishes the bodies and waits until the queue holds them all."""
    out = subprocess.run([MQBENCH, "fill", env["VOLMGR_TRANSPORT_URL"], EXCHANGE, QUEUE, path],
                         check=True, stdout=subprocess.PIPE)
    want, deadline = int(out.stdout), time.time() + 60
    while queue_depth(env) < want and time.time() < deadline:
        time.sleep(0.1)
    if queue_depth(env) != want:
        raise RuntimeError("queue holds %d of %d" % (queue_depth(env), want))


def purge(env):
    conn = pika.BlockingConnection(pika.URLParameters(env["VOLMGR_TRANSPORT_URL"]))
    try:
        conn.channel().queue_purge(queue=QUEUE)
    finally:
        conn.close()


def wait_queue(env, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        conn = pika.BlockingConnection(pika.URLParameters(env["VOLMGR_TRANSPORT_URL"]))
        try:
            conn.channel().queue_declare(queue=QUEUE, passive=True)
            return
        except pika.exceptions.ChannelClosedByBroker:
            time.sleep(0.2)
        finally:
            if conn.is_open:
                conn.close()
    raise RuntimeError("the manager did not declare " + QUEUE)


# ---- measurements --------------------------------------------------------------------------

def manager_drain(env, db, method, batch, workers=WORKERS):
    """One drain by a manager of workers processes: rate (messages/s), manager CPU us per
    message, peak RSS KiB, and the CPU us per message of PostgreSQL and of the broker (its
    delivering and settling; the publishing happened before, in the fill)."""
    vols = db.seed(N)
    path, _ = bodies(vols, method)
    purge(env)
    fill(env, path)
    mgr = Manager(env, batch, workers)
    probe = CpuProbe(mgr, db)
    probe.start()
    try:
        t0 = None
        deadline = time.time() + 600
        while time.time() < deadline:
            done = db.processed()
            now = time.time()
            if t0 is None and done > 0:
                t0, base = now, done
            if done >= N:
                break
            time.sleep(0.02)
        if db.processed() < N:
            raise RuntimeError("manager drained only %d of %d" % (db.processed(), N))
        cpu, hwm, _ = proc_stat(mgr.proc.pid)
        costs = probe.stop(N)
    finally:
        mgr.stop()
    rate = (N - base) / max(now - t0, 1e-3)
    ok = db.one("SELECT count(*) FROM volumes WHERE size = 2 AND status = 'available'")
    if ok != N:
        raise RuntimeError("%d of %d volumes finalized" % (ok, N))
    return (rate, cpu * 1e6 / N, hwm, costs["cpu_us_postgresql"], costs["cpu_us_rabbitmq"])


def broker_drain(env, batch):
    vols = [(str(uuid.uuid4()), "p", str(uuid.uuid4())) for _ in range(N)]
    path, _ = bodies(vols, "noop")
    purge(env)
    fill(env, path)
    out = subprocess.run([MQBENCH, "drain", env["VOLMGR_TRANSPORT_URL"], QUEUE, str(N),
                          str(PREFETCH), str(batch)], check=True, stdout=subprocess.PIPE)
    return N / float(out.stdout)


def sql_array(values):
    return "{" + ",".join('"%s"' % v for v in values) + "}"


def sql_statement(text, prefix):
    """One statement without its comment lines, $n becoming :<prefix>_n."""
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return re.sub(r"\$(\d+)", lambda m: ":%s_%s" % (prefix, m.group(1)), text.strip())


def pgbench_script(db, vols, batch):
    """The statements the manager runs for a group of batch completions, rendered for
    pgbench: manager/finalize.sql's and the quota commit's (core/quota_commit.sql). Each
    transaction takes the parameters of the next batch of batch volumes from bench_pgb (one
    extra read outside the transaction), $n becoming :<statement>_n."""
    with open(FINALIZE_SQL) as f:
        parts = re.split(r"^-- statement: (\w+)\n", f.read(), flags=re.M)[1:]
    stmts = {name: sql_statement(text, name) for name, text in zip(parts[0::2], parts[1::2])}
    with open(os.path.join(REPO, "core", "quota_commit.sql")) as f:
        stmts["quota_commit"] = sql_statement(f.read(), "quota_commit")
    order = ["claim", "lock_volumes", "quota_commit", "finalize"]
    cols = ["claim_1", "claim_2", "claim_3", "lock_volumes_1", "quota_commit_1",
            "quota_commit_2"]
    cols += ["finalize_%d" % i for i in range(1, 9)]
    db.q("DROP TABLE IF EXISTS bench_pgb; DROP SEQUENCE IF EXISTS bench_pgb_n")
    db.q("CREATE TABLE bench_pgb (n bigint PRIMARY KEY, %s)"
         % ", ".join("%s text" % c for c in cols))
    db.q("CREATE SEQUENCE bench_pgb_n")
    rows = []
    for i in range(0, len(vols) - batch + 1, batch):
        chunk = vols[i:i + batch]
        ids = [v[0] for v in chunk]
        projects = [v[1] for v in chunk]
        res = [v[2] for v in chunk]
        rows.append((i // batch + 1, sql_array(uuid.uuid4().hex for _ in chunk),
                     sql_array(["extend_volume_completion"] * len(chunk)),
                     sql_array(["completed"] * len(chunk)), sql_array(ids),
                     sql_array(res), sql_array(projects), sql_array(ids),
                     sql_array(["2"] * len(chunk)), sql_array(["available"] * len(chunk)),
                     sql_array(["req-" + str(uuid.uuid4()) for _ in chunk]),
                     sql_array([SERVICE] * len(chunk)), sql_array([BACKEND] * len(chunk)),
                     sql_array(["1"] * len(chunk)), "volume." + SERVICE))
    with db.conn.cursor() as cur:
        cur.executemany("INSERT INTO bench_pgb VALUES (%s)" % ",".join(["%s"] * (len(cols) + 1)),
                        rows)
    db.q("VACUUM ANALYZE bench_pgb")
    path = os.path.join(WORK, "pgbench-%d.sql" % batch)
    with open(path, "w") as f:
        f.write("SELECT %s FROM bench_pgb WHERE n = (SELECT nextval('bench_pgb_n'))\n\\gset\n"
                % ", ".join(cols))
        f.write("BEGIN;\n")
        for name in order:
            f.write(stmts[name].replace("\n", " ") + ";\n")
        f.write("COMMIT;\n")
    return path, len(rows)


def pgbench(env, db, batch, clients=WORKERS):
    vols = db.seed(N)
    path, txns = pgbench_script(db, vols, batch)
    out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j",
                          str(clients), "-t", str(txns // clients), "-f", path,
                          env["VOLMGR_DB_URL"]], check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    if m is None:
        raise RuntimeError("pgbench: " + out.stdout[-2000:])
    done = db.one("SELECT count(*) FROM volumes WHERE status = 'available'")
    if done < txns * batch:
        raise RuntimeError("pgbench finalized %d of %d" % (done, txns * batch))
    return float(m.group(1)) * batch


def wait_consumer(env, timeout=30):
    """Waits until the manager just started has a consumer on the queue in each worker."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if queue_state(env).consumer_count >= WORKERS:
            return
        time.sleep(0.1)
    raise RuntimeError("no consumer on %s after %d s" % (QUEUE, timeout))


def pctl(values, q):
    """The q-quantile (0..1) of sorted values, 0 for none."""
    return values[min(int(len(values) * q), len(values) - 1)] if values else 0.0


def steady(env, db, batch, rate, seconds, overload_ok=False):
    """A publisher (mqbench steady) at rate/s for seconds against one running manager: latency
    from publish to the commit of the finalizing transaction (the commit timestamp PostgreSQL
    records for the transaction that inserted the message's processed row; the stack runs
    with track_commit_timestamp). With overload_ok, a run whose messages are not all
    finalized within STEADY_DRAIN_S of the publisher's end is reported (not flat, its
    unfinalized count in backlog_at_end) instead of failing the bench. A long run (the soak)
    goes in rounds of at most STEADY_ROUND seconds: each round's volumes are seeded, and its finalized rows read, while
    the manager idles between rounds, so that no more than a round's worth of volumes is
    seeded at a time. Returns the achieved rate, latency percentiles, the manager's RSS before
    and after, peak RSS, CPU per message of each process (CpuProbe), the group commits' mean
    size, and what "flat" (is_flat) looks at: the p99 of the messages published in the first
    and in the last FLAT_WINDOW seconds of each round and the backlog (published, not yet
    finalized) when the publisher stopped."""
    mgr, lat, published, elapsed, left = None, [], 0, 0.0, seconds
    first, last, backlog, groups, cpu_us = [], [], 0, 0, {}
    try:
        while left > 0:
            chunk = min(left, STEADY_ROUND)
            # A manager serves for days: the first round starts with STEADY_WARMUP_S of
            # uncounted traffic at the same rate, so that the new process's first seconds
            # (its sessions' first plans, the broker's first deliveries to it) are not
            # counted as the steady state.
            warm = int(rate * STEADY_WARMUP_S) if mgr is None else 0
            vols = db.seed(int(rate * chunk) + warm)
            path, ids = bodies(vols[warm:], "extend_volume_completion")
            purge(env)
            if mgr is None:
                mgr = Manager(env, batch)
                wait_consumer(env)
                rss_before = proc_stat(mgr.proc.pid)[2]
            if warm:
                warm_path, _ = bodies(vols[:warm], "extend_volume_completion", "-warmup")
                subprocess.run([MQBENCH, "steady", env["VOLMGR_TRANSPORT_URL"], EXCHANGE,
                                QUEUE, warm_path, str(rate)], check=True,
                               stdout=subprocess.DEVNULL)
            probe = CpuProbe(mgr, db)
            probe.start()
            t0 = time.time()
            out = subprocess.run([MQBENCH, "steady", env["VOLMGR_TRANSPORT_URL"], EXCHANGE,
                                  QUEUE, path, str(rate)], check=True, stdout=subprocess.PIPE,
                                 text=True)
            t_end = time.time()
            elapsed += t_end - t0
            sent = {}
            for line in out.stdout.split("\n"):
                if line:
                    i, us = line.split()
                    sent[ids[int(i)]] = int(us) / 1e6
            deadline = time.time() + STEADY_DRAIN_S
            while db.processed() < len(ids) + warm and time.time() < deadline:
                time.sleep(0.1)
            for k, v in probe.stop(len(ids)).items():
                cpu_us.setdefault(k, []).append(v)
            rows = db.q("SELECT unique_id, extract(epoch FROM processed_at), "
                        "extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM "
                        "volmgr_processed_messages")
            done = [(sent[uid], float(ts)) for uid, _, ts in rows if uid in sent]
            unfinished = len(ids) - len(done)
            if not done or (unfinished and not overload_ok):
                raise RuntimeError("steady: %d of %d finalized" % (len(done), len(ids)))
            # One group commit's rows share its transaction's start (now()).
            groups += len({start for uid, start, _ in rows if uid in sent})
            backlog = max(backlog, unfinished + sum(1 for _, ts in done if ts > t_end))
            start, stop = min(t for t, _ in done), max(t for t, _ in done)
            first += [(ts - t) * 1000 for t, ts in done if t < start + FLAT_WINDOW]
            last += [(ts - t) * 1000 for t, ts in done if t >= stop - FLAT_WINDOW]
            lat += [(ts - t) * 1000 for t, ts in done]
            published += len(ids)
            left -= chunk
        cpu, hwm, rss_after = proc_stat(mgr.proc.pid)
    finally:
        if mgr is not None:
            mgr.stop()
    for v in (lat, first, last):
        v.sort()
    out = {"rate": published / elapsed, "target_rate": rate, "p50_ms": pctl(lat, 0.5),
           "p99_ms": pctl(lat, 0.99), "max_ms": lat[-1], "p99_first_ms": pctl(first, 0.99),
           "p99_last_ms": pctl(last, 0.99), "backlog_at_end": backlog,
           "mean_group": published / max(groups, 1),
           "rss_before_kib": rss_before, "rss_after_kib": rss_after, "peak_rss_kib": hwm,
           "cpu_us_per_msg": cpu * 1e6 / published}
    out.update({k: statistics.median(v) if k != "loadavg" else v[-1]
                for k, v in cpu_us.items()})
    out["flat"] = is_flat(out)
    log("steady at %.0f/s: %s" % (rate, json.dumps(out)))
    return out


def capacity(env, db, r):
    """The sustained capacity: the highest rate found flat (is_flat) in at most
    CAPACITY_STEPS runs of CAPACITY_SECONDS, starting at CAPACITY_START (default: half the
    drain rate when the drain ran, else 2,000 msg/s), going up by half while flat, down by
    half while not, then halving the interval between the highest flat and the lowest rate
    that was not, until it is within 10 %. Then publish -> commit latency at 50 % and 90 % of
    it, CAPACITY_SECONDS each. Results go into r["capacity"] (rate; every step tried) and
    r["capacity_50"] / r["capacity_90"]."""
    rate = CAPACITY_START or r.get("drain_kb", 4000) / 2
    flat, above, steps = 0.0, None, []
    # CAPACITY_STEPS runs refine; while none was flat, up to CAPACITY_EXTRA more go on
    # halving, so that a start far above the capacity still ends with a flat rate.
    while len(steps) < CAPACITY_STEPS + (CAPACITY_EXTRA if flat == 0 else 0):
        log("capacity: %d s at %.0f msg/s" % (CAPACITY_SECONDS, rate))
        s = steady(env, db, BATCH, rate, CAPACITY_SECONDS, overload_ok=True)
        steps.append(s)
        if s["flat"]:
            flat = max(flat, rate)
        else:
            above = rate if above is None else min(above, rate)
        if above is not None and flat > 0 and above - flat <= 0.1 * flat:
            break
        rate = (rate * 1.5 if above is None else rate / 2 if flat == 0 else
                (flat + above) / 2)
    # Every rate tried was flat: the capacity is at least the highest, not found.
    r["capacity"] = {"rate": flat, "steps": steps, "lower_bound": above is None}
    if flat == 0:
        log("capacity: no rate tried was flat; the lowest was %.0f msg/s" % above)
        return
    for pct in (50, 90):
        log("capacity: latency at %d %% (%.0f msg/s)" % (pct, flat * pct / 100))
        r["capacity_%d" % pct] = steady(env, db, BATCH, flat * pct / 100, CAPACITY_SECONDS)


def is_flat(s):
    """The definition of a rate the manager sustains (docs/performance.md): the publisher
    reached 95 % of the rate asked, the p99 of the last FLAT_WINDOW seconds' messages is at
    most FLAT_FACTOR times that of the first FLAT_WINDOW seconds plus FLAT_SLACK_MS (so that
    a few milliseconds of noise on a tiny p99 do not count as growth), and when the publisher
    stopped at most FLAT_BACKLOG_S seconds of its messages were still unfinalized."""
    return (s["rate"] >= 0.95 * s["target_rate"] and
            s["p99_last_ms"] <= FLAT_FACTOR * s["p99_first_ms"] + FLAT_SLACK_MS and
            s["backlog_at_end"] <= FLAT_BACKLOG_S * s["target_rate"])


def wait_shim(shim, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if shim.proc.poll() is not None:
            raise RuntimeError("api-shim exited %d" % shim.proc.returncode)
        try:
            subprocess.run(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/" % SHIM_PORT],
                           check=True, timeout=5)
            return
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            time.sleep(0.2)
    raise RuntimeError("api-shim did not answer on port %d" % SHIM_PORT)


def wrk_run(vols, name, connections, seconds, rate):
    """wrk with extend.lua on vols [(volume id, project, _)] for seconds; returns its JSON
    summary line."""
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.writelines("%s %s\n" % (project, vid) for vid, project, _ in vols)
    args = [path, "2"] + ([] if rate is None else ["%.1f" % rate])
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", "%ds" % seconds,
                          "--timeout", "10s", "-s", WRK_SCRIPT,
                          "http://127.0.0.1:%d" % SHIM_PORT, "--"] + args,
                         check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def shim_load(env, db, shim, connections, seconds, rate=None):
    """One wrk run of os-extend against the running shim, each request on a volume of its
    own (volumes seeded available): as fast as the connections go, or at a fixed rate. A
    warm-up run of SHIM_WARMUP seconds on volumes of its own goes first and is not counted.
    Returns (requests/s, p50 ms, p99 ms, max ms, shim CPU us per request)."""
    # Enough volumes for the run: the peak is not known beforehand, the fixed rate is.
    volumes = SHIM_VOLUMES if rate is None else int(rate * seconds * 1.1) + 1000
    warm = int((rate or SHIM_PEAK_GUESS) * SHIM_WARMUP * 1.5) + 1000
    vols = db.seed_volumes(warm + volumes, "available")
    db.q("VACUUM ANALYZE")
    purge(env)
    # The first second after the seeding runs slow (measured: the shim's own request times
    # of 15-25 ms, as at its peak, for about 0.7 s), which is the seeding's aftermath and not
    # the shim's steady state.
    wrk_run(vols[:warm], "shim-warmup.txt", connections, SHIM_WARMUP, rate)
    warmed = db.one("SELECT count(*) FROM volumes WHERE status = 'extending'")
    cpu0 = proc_stat(shim.proc.pid)[0]
    w = wrk_run(vols[warm:], "shim-volumes.txt", connections, seconds, rate)
    cpu = proc_stat(shim.proc.pid)[0] - cpu0
    extending = db.one("SELECT count(*) FROM volumes WHERE status = 'extending'") - warmed
    purge(env)
    if w["status_errors"]:
        raise RuntimeError("wrk: %s (too few volumes for the run's length?)" % w)
    if w["socket_errors"]:
        # Timeouts under overload are a result, not a failure of the bench: reported.
        log("wrk: %d socket errors (timeouts) at %d connections" % (w["socket_errors"],
                                                                  connections))
    # wrk stops counting at the deadline; the requests then in flight still extend a volume
    # (the warm-up's may land after its count too).
    if not w["requests"] <= extending <= w["requests"] + 2 * connections + w["socket_errors"]:
        raise RuntimeError("wrk counted %d answers but %d volumes are extending"
                           % (w["requests"], extending))
    return (w["requests"] / (w["duration_us"] / 1e6), w["p50_us"] / 1e3, w["p99_us"] / 1e3,
            w["max_us"] / 1e3, cpu * 1e6 / extending)


SHIM_FIELDS = ("rate", "p50_ms", "p99_ms", "max_ms", "cpu_us_per_req")


def median_of(fn, *args):
    results = [fn(*args) for _ in range(RUNS)]
    if isinstance(results[0], tuple):
        return tuple(statistics.median(r[i] for r in results) for i in range(len(results[0])))
    return statistics.median(results)


def main():
    os.makedirs(os.path.join(WORK, "volumes"), exist_ok=True)
    open(os.path.join(WORK, "manager.log"), "wb").close()
    log("starting a durable stack under", STACK)
    env = start_stack()
    r = {"n": N, "runs": RUNS, "batch_size": BATCH, "prefetch": PREFETCH, "workers": WORKERS}
    try:
        subprocess.run([os.path.join(REPO, "bin", "volctl"), "--config-file",
                        write_config(env, 1), "db-sync"], check=True, stdout=subprocess.DEVNULL,
                       env={k: v for k, v in os.environ.items() if not k.startswith("VOLMGR_")})
        db = Db(env["VOLMGR_DB_URL"])
        # Cinder's default class caps gigabytes at 1000 per project, which a soak of the shim
        # (hundreds of extends per project) would reach: the bench measures work, not refusals.
        db.q("UPDATE quota_classes SET hard_limit = -1 WHERE class_name = 'default'"
             " AND deleted = false")
        declare = Manager(env, 1)   # declares the quorum queues
        wait_queue(env)
        declare.stop()
        if "drain" in STAGES:
            log("manager drain, completions, batch_size 1")
            (r["drain_k1"], r["cpu_us_k1"], r["rss_k1_kib"], r["pg_us_k1"],
             r["rabbit_us_k1"]) = median_of(manager_drain, env, db,
                                            "extend_volume_completion", 1)
            log("manager drain, completions, batch_size", BATCH)
            (r["drain_kb"], r["cpu_us_kb"], r["rss_kb_kib"], r["pg_us_kb"],
             r["rabbit_us_kb"]) = median_of(manager_drain, env, db,
                                            "extend_volume_completion", BATCH)
        if "drain" in STAGES or "drain-extend" in STAGES:
            log("manager drain, extend_volume")
            r["drain_extend"], r["cpu_us_extend"] = median_of(
                manager_drain, env, db, "extend_volume", BATCH)[:2]
        if "ceiling" in STAGES:
            log("broker ceiling: no-op consumer")
            r["broker_k1"] = median_of(broker_drain, env, 1)
            r["broker_kb"] = median_of(broker_drain, env, BATCH)
            log("database ceiling: pgbench on manager/finalize.sql")
            r["pgbench_k1"] = median_of(pgbench, env, db, 1)
            r["pgbench_kb"] = median_of(pgbench, env, db, BATCH)
        if "drain" in STAGES and "ceiling" in STAGES:
            r["ratio_k1"] = r["drain_k1"] / min(r["broker_k1"], r["pgbench_k1"])
            r["ratio_kb"] = r["drain_kb"] / min(r["broker_kb"], r["pgbench_kb"])
        if "drain_extend" in r and "ceiling" in STAGES:
            r["ratio_extend"] = r["drain_extend"] / min(r["broker_kb"], r["pgbench_kb"])
        # Without a drain run, steady state and soak go at a nominal 2,000 msg/s.
        if "capacity" in STAGES:
            capacity(env, db, r)
        if "scale" in STAGES:
            for workers in SCALE_WORKERS:
                log("manager drain, completions, %d worker(s)" % workers)
                r["scale_%d" % workers] = dict(zip(SCALE_FIELDS, manager_drain(
                    env, db, "extend_volume_completion", BATCH, workers)))
        if "soak" in STAGES:
            # At half the sustained capacity, or without one at a nominal 2,000 msg/s.
            rate = r.get("capacity", {}).get("rate") or 4000
            log("soak: manager, %d s at %.0f msg/s" % (SOAK, rate / 2))
            r["soak"] = steady(env, db, BATCH, rate / 2, SOAK)
            r["soak"]["seconds"] = SOAK
        if "shim" in STAGES or "shim-soak" in STAGES or "hostile" in STAGES:
            shim_stages(env, db, r)
    finally:
        stop_stack()
        # Written even when a stage failed, so that the figures of the others are kept.
        with open(os.path.join(REPO, "build", "bench.json"), "w") as f:
            json.dump(r, f, indent=2)
    print_table(r)


def root_latencies(seconds):
    """Latencies (ms) of GET / requests one after another for seconds."""
    lat = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", SHIM_PORT), timeout=10) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while c.recv(65536):
                pass
        lat.append((time.monotonic() - t0) * 1e3)
    lat.sort()
    return {"p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99)],
            "max_ms": lat[-1], "requests": len(lat)}


def hostile(env, db, shim):
    """The shim against hostile clients (no manager runs): GET / latency while
    HOSTILE_CALLS os-initialize_connection calls wait for a reply that does not come, then
    while HOSTILE_SLOW connections trickle their heads a byte a second, and the shim's RSS
    growth under HOSTILE_BODIES concurrent 1 MiB bodies of empty objects."""
    out = {}
    vols = db.seed_volumes(HOSTILE_CALLS, "available")
    purge(env)

    def call(vid, project):
        body = json.dumps({"os-initialize_connection": {"connector": {"host": "h"}}}).encode()
        with socket.create_connection(("127.0.0.1", SHIM_PORT), timeout=60) as c:
            c.sendall(b"POST /v3/%s/volumes/%s/action HTTP/1.1\r\nHost: x\r\n"
                      b"X-Auth-Token: u:%s\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                      % (project.encode(), vid.encode(), project.encode(), len(body), body))
            while c.recv(65536):
                pass

    calls = [threading.Thread(target=call, args=(v, p)) for v, p, _ in vols]
    for t in calls:
        t.start()
    deadline = time.monotonic() + 10
    while queue_depth(env) < HOSTILE_CALLS and time.monotonic() < deadline:
        time.sleep(0.05)
    out["calls_waiting"] = root_latencies(5)
    slow = []
    for i in range(HOSTILE_SLOW):
        c = socket.socket()
        c.bind(("127.0.0.%d" % (2 + i % 2), 0))
        c.connect(("127.0.0.1", SHIM_PORT))
        c.setblocking(False)
        slow.append(c)
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 64
    lat = []
    for sec in range(5):
        for c in slow:
            try:
                c.send(head[sec:sec + 1])
            except OSError:
                pass
        lat.append(root_latencies(1))
    out["slow_connections"] = {k: max(x[k] for x in lat) for k in ("p99_ms", "max_ms")}
    out["slow_connections"]["p50_ms"] = statistics.median(x["p50_ms"] for x in lat)
    for c in slow:
        c.close()
    for t in calls:
        t.join(timeout=HOSTILE_CALL_TIMEOUT + 30)
    body = b"[" + b",".join([b"{}"] * (1024 * 1024 // 3 - 1)) + b"]"
    rss0 = proc_stat(shim.proc.pid)[1]

    def hostile_body():
        with socket.create_connection(("127.0.0.1", SHIM_PORT), timeout=30) as c:
            c.sendall(b"POST /v3/p/volumes HTTP/1.1\r\nHost: x\r\nX-Auth-Token: u:p\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n" % len(body))
            try:
                c.sendall(body)
                while c.recv(65536):
                    pass
            except OSError:
                pass

    senders = [threading.Thread(target=hostile_body) for _ in range(HOSTILE_BODIES)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(timeout=60)
    out["bodies_rss_growth_kib"] = proc_stat(shim.proc.pid)[1] - rss0
    purge(env)
    return out


def shim_stages(env, db, r):
    """On one shim process: its peak under wrk at 16 and 64 connections, its latency at half
    the 16-connection peak (a fixed schedule), and its soak at that same rate."""
    shim = Daemon(env, "api-shim")
    try:
        wait_shim(shim)
        if "shim" in STAGES:
            for conns in (16, 64):
                log("shim: os-extend under wrk, %d connections" % conns)
                r["shim_%d" % conns] = dict(zip(SHIM_FIELDS, median_of(
                    shim_load, env, db, shim, conns, SHIM_SECONDS)))
        # Without a peak run, the half-rate run and the soak go at a nominal 250 req/s.
        half = r.get("shim_16", {}).get("rate", 500) / 2
        if "shim" in STAGES:
            log("shim: os-extend at %.0f req/s (half the peak), 16 connections" % half)
            r["shim_half"] = dict(zip(SHIM_FIELDS, median_of(
                shim_load, env, db, shim, 16, SHIM_SECONDS, half)))
        if "shim-soak" in STAGES:
            log("soak: shim, %d s at %.0f req/s" % (SOAK, half))
            # Taken after the other runs have warmed the shim up (its threads' connections
            # and allocator arenas), so that before / after shows growth under load alone.
            rss_before = proc_stat(shim.proc.pid)[2]
            s = dict(zip(SHIM_FIELDS, shim_load(env, db, shim, 16, SOAK, half)))
            s.update(seconds=SOAK, rss_before_kib=rss_before,
                     rss_after_kib=proc_stat(shim.proc.pid)[2])
            r["shim_soak"] = s
        r["shim_peak_rss_kib"] = proc_stat(shim.proc.pid)[1]
        if "hostile" in STAGES:
            log("shim: hostile clients")
            r["hostile"] = hostile(env, db, shim)
    finally:
        shim.stop()


def print_table(r):
    """The table of the stages that ran."""
    rows = []

    def row(keys, label, fmt=None):
        if all(k in r for k in keys):
            vals = [r[k] for k in keys]
            rows.append((label, fmt(*vals) if fmt else vals[0]))

    row(["drain_k1"], "manager drain, completions, K=1 (msg/s)")
    row(["drain_kb"], "manager drain, completions, K=%d (msg/s)" % BATCH)
    row(["drain_extend"], "manager drain, extend_volume filestore, K=%d (msg/s)" % BATCH)
    row(["broker_k1"], "broker no-op drain, ack every 1 (msg/s)")
    row(["broker_kb"], "broker no-op drain, ack every %d (msg/s)" % BATCH)
    row(["pgbench_k1"], "pgbench finalize.sql, 1 per txn (finalizations/s)")
    row(["pgbench_kb"], "pgbench finalize.sql, %d per txn (finalizations/s)" % BATCH)
    row(["ratio_k1"], "manager / min(broker, pgbench), K=1")
    row(["ratio_kb"], "manager / min(broker, pgbench), K=%d" % BATCH)
    row(["ratio_extend"], "manager extend_volume / min(broker, pgbench), K=%d" % BATCH)
    row(["cpu_us_k1", "cpu_us_kb"], "manager CPU us/msg, completions, K=1 / K=%d" % BATCH,
        lambda a, b: "%.0f / %.0f" % (a, b))
    row(["cpu_us_extend"], "manager CPU us/msg, extend_volume, K=%d" % BATCH,
        lambda a: "%.0f" % a)
    row(["rss_k1_kib", "rss_kb_kib"], "manager peak RSS MiB, K=1 / K=%d" % BATCH,
        lambda a, b: "%.1f / %.1f" % (a / 1024, b / 1024))
    row(["pg_us_k1", "pg_us_kb"], "drain K=1 / K=%d: PostgreSQL CPU us/msg" % BATCH,
        lambda a, b: "%.0f / %.0f" % (a, b))
    row(["rabbit_us_k1", "rabbit_us_kb"], "drain K=1 / K=%d: broker CPU us/msg" % BATCH,
        lambda a, b: "%.0f / %.0f" % (a, b))
    row(["capacity"], "sustained capacity (msg/s; flat for %d s)" % CAPACITY_SECONDS,
        lambda c: "%s%.0f (tried: %s)" % ("at least " if c["lower_bound"] else "", c["rate"],
                                          ", ".join("%.0f %s" % (s["target_rate"],
                                                                "flat" if s["flat"] else "grew")
                                                    for s in c["steps"])))
    for key in ("capacity_50", "capacity_90", "soak"):
        row([key], "%s: publish->commit p50 / p99 / max (ms)" % key, lambda s: "at %.0f "
            "msg/s: %.1f / %.1f / %.1f (load %s)" % (s["rate"], s["p50_ms"], s["p99_ms"],
                                                     s["max_ms"], s["loadavg"]))
    row(["capacity_50"], "at 50 %: CPU us/msg manager / PostgreSQL / broker / publisher",
        lambda s: "%.0f / %.0f / %.0f / %.0f; mean group %.1f" % (
            s["cpu_us_manager"], s["cpu_us_postgresql"], s["cpu_us_rabbitmq"],
            s["cpu_us_publisher"], s["mean_group"]))
    for w in SCALE_WORKERS:
        row(["scale_%d" % w], "drain K=%d, %d manager process(es): msg/s, CPU us/msg "
            "manager / PostgreSQL / broker" % (BATCH, w), lambda s: "%.0f, %.0f / %.0f / %.0f"
            % (s["rate"], s["cpu_us_manager"], s["cpu_us_postgresql"], s["cpu_us_rabbitmq"]))
    row(["soak"], "manager soak: RSS before / after (MiB)", lambda s: "%d s: %.1f / %.1f" % (
        s["seconds"], s["rss_before_kib"] / 1024, s["rss_after_kib"] / 1024))
    for key in ("shim_16", "shim_64", "shim_half", "shim_soak"):
        row([key], "%s os-extend: req/s, p50 / p99 / max (ms), CPU us/req" % key,
            lambda s: "%.0f, %.1f / %.1f / %.1f, %.0f" % (s["rate"], s["p50_ms"], s["p99_ms"],
                                                          s["max_ms"], s["cpu_us_per_req"]))
    row(["shim_peak_rss_kib"], "shim peak RSS (MiB)", lambda v: "%.1f" % (v / 1024))
    row(["shim_soak"], "shim soak: RSS before / after (MiB)", lambda s: "%d s: %.1f / %.1f" % (
        s["seconds"], s["rss_before_kib"] / 1024, s["rss_after_kib"] / 1024))
    row(["hostile"], "GET / while %d calls wait: p50 / p99 / max (ms)" % HOSTILE_CALLS,
        lambda h: "%.1f / %.1f / %.1f" % tuple(h["calls_waiting"][k]
                                             for k in ("p50_ms", "p99_ms", "max_ms")))
    row(["hostile"], "GET / with %d slow connections: p50 / p99 / max (ms)" % HOSTILE_SLOW,
        lambda h: "%.1f / %.1f / %.1f" % tuple(h["slow_connections"][k]
                                             for k in ("p50_ms", "p99_ms", "max_ms")))
    row(["hostile"], "shim peak RSS growth, %d hostile 1 MiB bodies (MiB)" % HOSTILE_BODIES,
        lambda h: "%.1f" % (h["bodies_rss_growth_kib"] / 1024))
    width = max(len(k) for k, _ in rows)
    print("%-*s  %s" % (width, "measure (median of %d runs, N = %d, %d manager workers)"
                        % (RUNS, N, WORKERS), "value"))
    for k, v in rows:
        print("%-*s  %s" % (width, k, "%.2f" % v if isinstance(v, float) and v < 10 else
                                       "%.0f" % v if isinstance(v, float) else v))


if __name__ == "__main__":
    main()
