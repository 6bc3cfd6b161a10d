"""Metrics and health checks ([DEFAULT] metrics_listen, docs/metrics.md, GET /healthcheck).

Prometheus's own parser (prometheus_client's text_string_to_metric_families) reads both
daemons' /metrics; the counters move by exactly the work a test does (extends, API requests
with known codes, poison, duplicates), each histogram's _count equals the counter of the same
events, and docs/metrics.md lists exactly the names the daemons serve. The health checks answer
200 on the running stack and 503 with the reason from a second shim or manager of the test's
own pointed at a port where nothing listens; the detailed form goes to admins only; volctl
health follows the manager's. With [manager] workers = 2 the supervisor serves one set of
figures on one port, summed over the workers.
"""

import os
import re
import signal
import threading
import urllib.error
import urllib.request
import uuid

from prometheus_client.parser import text_string_to_metric_families

from harness import BACKEND, BIN, REPO, StackTestCase, cast_message, extend_cast, free_port

METRICS_DOC = os.path.join(REPO, "docs", "metrics.md")
# A row of the tables of docs/metrics.md: | `name` | type | labels | meaning |
DOC_ROW = re.compile(r"^\| `(volmgr_\w+)` \| (counter|gauge|histogram) \|", re.M)
EXTENDS = 3


def fetch(url, headers=None, method="GET", timeout=10):
    """(status, content type, text) of one request; status None when nothing answered."""
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()
    except OSError:
        return None, None, None


def doc_tables():
    """{"volume-manager": {name: type}, "api-shim": {name: type}} from docs/metrics.md."""
    with open(METRICS_DOC) as f:
        text = f.read()
    parts = re.split(r"^## ", text, flags=re.M)
    tables = {}
    for part in parts[1:]:
        title = part.split("\n", 1)[0].strip()
        tables[title] = dict(DOC_ROW.findall(part))
    return tables


class MetricsCase(StackTestCase):
    """A stack whose manager and shim serve metrics on ports of their own."""

    @classmethod
    def _config_text(cls, host=None, filestore_dir=None, backend=BACKEND):
        if not hasattr(cls, "manager_metrics_port"):
            cls.manager_metrics_port = free_port()
            cls.shim_metrics_port = free_port()
        return cls._with_metrics(super()._config_text(host, filestore_dir, backend),
                                 cls.manager_metrics_port)

    @classmethod
    def _with_metrics(cls, text, manager_port, shim_port=None):
        """text with the daemons' listeners (sections may be given twice in the file)."""
        return text + "\n".join([
            "", "[DEFAULT]", "metrics_listen = 127.0.0.1:%d" % manager_port,
            "", "[api]", "metrics_listen = 127.0.0.1:%d" % (shim_port or cls.shim_metrics_port),
            ""])

    def scrape(self, port):
        """{(name, sorted label items): value} of one scrape, parsed by Prometheus's parser;
        the families too, as {name: type}."""
        st, ctype, text = fetch("http://127.0.0.1:%d/metrics" % port)
        self.assertEqual(st, 200, text)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        samples, families = {}, {}
        for fam in text_string_to_metric_families(text):
            families[fam.name] = fam.type
            for s in fam.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples, families

    def manager_samples(self):
        return self.scrape(self.manager_metrics_port)[0]

    def shim_samples(self):
        return self.scrape(self.shim_metrics_port)[0]

    @staticmethod
    def value(samples, name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    @staticmethod
    def total(samples, name, **labels):
        """The sum of name's samples whose labels include labels."""
        want = set(labels.items())
        return sum(v for (n, items), v in samples.items()
                   if n == name and want <= set(items))


class MetricsTest(MetricsCase):

    dead_letters_purged = True

    def test_served_names_are_exactly_the_documented_ones(self):
        doc = doc_tables()
        for daemon, port in (("volume-manager", self.manager_metrics_port),
                             ("api-shim", self.shim_metrics_port)):
            _, families = self.scrape(port)
            # The parser names a counter's family without its _total suffix.
            served = {(name + "_total" if kind == "counter" else name): kind
                      for name, kind in families.items()}
            self.assertEqual(served, doc[daemon], daemon)

    def test_extends_move_the_message_counters_and_histograms(self):
        before, shim_before = self.manager_samples(), self.shim_samples()
        vols = [self.create_volume(size=1) for _ in range(EXTENDS)]
        for vid in vols:
            st, _, doc = self.extend(vid, 2)
            self.assertEqual(st, 202, doc)
        for vid in vols:
            self.poll(lambda vid=vid: self.get_volume(vid)["size"] == 2
                      and self.status_of(vid) == "available", timeout=15)
        self.assertUsagesMatchRows()

        def moved():
            after = self.manager_samples()
            return after if all(
                self.value(after, "volmgr_manager_messages_total", method=m, outcome="ok")
                - self.value(before, "volmgr_manager_messages_total", method=m, outcome="ok")
                >= EXTENDS for m in ("create_volume", "extend_volume")) else None
        after = self.poll(moved, timeout=10)
        for method in ("create_volume", "extend_volume"):
            def delta(name, **labels):
                return (self.total(after, name, method=method, **labels)
                        - self.total(before, name, method=method, **labels))
            self.assertEqual(delta("volmgr_manager_messages_total", outcome="ok"), EXTENDS)
            handled = (delta("volmgr_manager_messages_total", outcome="ok")
                       + delta("volmgr_manager_messages_total", outcome="failed"))
            self.assertEqual(delta("volmgr_manager_handler_seconds_count"), handled, method)
            self.assertEqual(delta("volmgr_manager_publish_to_commit_seconds_count"), handled)
            self.assertEqual(delta("volmgr_manager_handler_seconds_bucket", le="+Inf"), handled)
            self.assertGreater(delta("volmgr_manager_handler_seconds_sum"), 0)
        self.assertEqual(self.value(after, "volmgr_manager_broker_connected", worker="0"), 1)
        self.assertEqual(self.value(after, "volmgr_manager_database_connected", worker="0"), 1)
        # The shim's casts: a create and an extend per volume, each confirmed by the broker.
        shim_after = self.shim_samples()
        self.assertEqual(self.value(shim_after, "volmgr_api_publishes_total", outcome="confirmed")
                         - self.value(shim_before, "volmgr_api_publishes_total",
                                      outcome="confirmed"), 2 * EXTENDS)
        # Every extend went through the group commit or one at a time; a group records its
        # size.
        self.assertEqual(self.total(after, "volmgr_manager_group_commit_messages_count"),
                         self.total(after, "volmgr_manager_group_commit_messages_bucket",
                                    le="+Inf"))

    def test_poison_and_duplicates_are_counted_by_class(self):
        before = self.manager_samples()
        poison = b"\xc1 not msgpack"
        self.publish(poison)
        self.wait_dead_letter(poison)
        self.publish(cast_message("no_such_method", {}))
        self.wait_dead_letter()
        # An extend of a volume that does not exist is handled (nothing to do), and the same
        # message again is a duplicate.
        msg = extend_cast(str(uuid.uuid4()), 2, [str(uuid.uuid4())])
        self.publish(msg)
        self.publish(msg)

        def counted():
            after = self.manager_samples()
            return after if self.value(after, "volmgr_manager_messages_total",
                                       method="extend_volume", outcome="duplicate") \
                - self.value(before, "volmgr_manager_messages_total",
                             method="extend_volume", outcome="duplicate") >= 1 else None
        after = self.poll(counted, timeout=10)

        def delta(name, **labels):
            return self.value(after, name, **labels) - self.value(before, name, **labels)
        self.assertEqual(delta("volmgr_manager_dead_letters_total", reason="malformed"), 1)
        self.assertEqual(delta("volmgr_manager_dead_letters_total", reason="unknown_method"), 1)
        self.assertEqual(delta("volmgr_manager_messages_total", method="unknown",
                               outcome="dead_lettered"), 2)
        self.assertEqual(delta("volmgr_manager_messages_total", method="extend_volume",
                               outcome="ok"), 1)
        self.assertEqual(delta("volmgr_manager_messages_total", method="extend_volume",
                               outcome="duplicate"), 1)

    def test_http_requests_by_route_and_code(self):
        show = "/v3/{project_id}/volumes/{volume_id}"
        before = self.shim_samples()
        for _ in range(3):
            st, _, _ = self.http("GET", self.vpath(str(uuid.uuid4())))
            self.assertEqual(st, 404)
        for i in range(2):
            # A URL nobody routes counts under one series, whatever its text.
            st, _, _ = self.http("GET", "/v3/%s/nothing-%d/%s" % (self.PROJECT, i, uuid.uuid4()))
            self.assertEqual(st, 404)
        st, _, _ = self.http("POST", "/v3/%s/volumes" % self.PROJECT, body=b"{not json")
        self.assertEqual(st, 400)
        after = self.shim_samples()

        def delta(name, **labels):
            return self.value(after, name, **labels) - self.value(before, name, **labels)
        self.assertEqual(delta("volmgr_api_requests_total", route=show, method="GET",
                               code="404"), 3)
        self.assertEqual(delta("volmgr_api_requests_total", route="unmatched", method="other",
                               code="404"), 2)
        self.assertEqual(delta("volmgr_api_requests_total", route="/v3/{project_id}/volumes",
                               method="POST", code="400"), 1)
        self.assertFalse([k for k in after if "nothing-" in repr(k)])
        for route, method in ((show, "GET"), ("unmatched", "other")):
            counted = self.total(after, "volmgr_api_requests_total", route=route,
                                 method=method)
            self.assertEqual(self.value(after, "volmgr_api_request_seconds_count", route=route,
                                        method=method), counted, route)

    def test_shim_healthcheck_plain_json_and_details_for_admins(self):
        root = self.api_root + "/healthcheck"
        st, ctype, text = fetch(root)
        self.assertEqual((st, text), (200, "OK"))
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        st, _, _ = fetch(root, method="HEAD")
        self.assertEqual(st, 204)
        st, ctype, text = fetch(root, {"Accept": "application/json",
                                       "X-Auth-Token": "user1:%s" % self.PROJECT})
        self.assertEqual(st, 200)
        self.assertEqual(ctype, "application/json")
        self.assertIn('"detailed": false', text)
        self.assertNotIn("DatabaseCheck", text)
        st, _, text = fetch(root, {"Accept": "application/json",
                                   "X-Auth-Token": "admin:%s" % self.PROJECT})
        self.assertEqual(st, 200)
        self.assertIn('"detailed": true', text)
        self.assertIn('"class": "DatabaseCheck"', text)
        self.assertIn('"class": "BrokerCheck"', text)
        # The shim's metrics listener answers the same check.
        st, _, text = fetch("http://127.0.0.1:%d/healthcheck" % self.shim_metrics_port)
        self.assertEqual((st, text), (200, "OK"))

    def dead_url(self, url):
        """url with its port replaced by one where nothing listens."""
        return re.sub(r":(\d+)/", ":%d/" % free_port(), url, count=1)

    def second_shim(self, name, **env):
        """A second api-shim of this class's file on ports of its own, with env; its
        API root once it answers."""
        port, mport = free_port(), free_port()
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write(self._with_metrics(super(MetricsCase, type(self))._config_text(),
                                       free_port(), mport) + "\n[api]\nport = %d\n" % port)
        root = "http://127.0.0.1:%d" % port
        proc = self._start(name, [os.path.join(BIN, "api-shim"), "--config-file", path],
                           env=env)
        self.addCleanup(self._stop_one, proc)
        self.poll(lambda: fetch(root + "/")[0] is not None, timeout=15)
        return root

    def _stop_one(self, proc):
        proc.terminate()
        proc.wait(timeout=15)
        self.forget(proc)

    def test_shim_healthcheck_503_without_database_or_broker(self):
        root = self.second_shim("api-shim-nodb", VOLMGR_DB_URL=self.dead_url(self.db_url))
        st, _, text = fetch(root + "/healthcheck")
        self.assertEqual(st, 503, text)
        self.assertIn("database unreachable", text)
        root = self.second_shim("api-shim-nomq",
                                VOLMGR_TRANSPORT_URL=self.dead_url(self.transport_url))
        got = self.poll(lambda: (lambda r: r if r[0] == 503 else None)(
            fetch(root + "/healthcheck")), timeout=10)
        self.assertIn("message broker unreachable", got[2])

    def second_manager(self, name, **env):
        """A second manager (another host, so that it shares no queue with the class's) with
        env; the URL of its health check."""
        mport = free_port()
        store = os.path.join(self.tmp, name)
        os.makedirs(store, exist_ok=True)
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write(self._with_metrics(super(MetricsCase, type(self))._config_text(
                host="h%s%s" % (name[-4:], self.rand), filestore_dir=store), mport))
        proc = self.start_manager(name=name, config_file=path, **env)
        self.addCleanup(self._stop_one, proc)
        url = "http://127.0.0.1:%d/healthcheck" % mport
        self.poll(lambda: fetch(url)[0] is not None, timeout=15)
        return url

    def test_manager_healthcheck_and_volctl_health(self):
        url = "http://127.0.0.1:%d/healthcheck" % self.manager_metrics_port
        self.assertEqual(fetch(url)[:3:2], (200, "OK"))
        out = self.volctl_ok("health")
        self.assertIn("healthy", out)
        dead = self.second_manager("mgr-nodb", VOLMGR_DB_URL=self.dead_url(self.db_url))
        st, _, text = fetch(dead)
        self.assertEqual(st, 503, text)
        self.assertIn("database unreachable", text)
        rc, out = self.volctl("health", "--url", dead)
        self.assertEqual(rc, 1, out)
        self.assertIn("unhealthy", out)
        self.assertIn("database unreachable", out)
        dead = self.second_manager("mgr-nomq",
                                   VOLMGR_TRANSPORT_URL=self.dead_url(self.transport_url))
        # Until its first turn of the loop nothing is known; then the database is up and the
        # broker is not.
        got = self.poll(lambda: (lambda r: r if r[0] == 503 and "database" not in r[2]
                                 else None)(fetch(dead)), timeout=10)
        self.assertEqual(got[2], "message broker unreachable")


class MetricsWorkersTest(MetricsCase):
    """[manager] workers = 2: the supervisor serves the port; the figures are the workers'
    summed."""

    manager_options = {"workers": 2}

    def test_one_set_of_figures_summed_over_the_workers(self):
        def both_up():
            s = self.manager_samples()
            return s if all(self.value(s, "volmgr_manager_broker_connected", worker=w) == 1
                            for w in ("0", "1")) else None
        before = self.poll(both_up, timeout=15)
        n = 8
        bodies = [extend_cast(str(uuid.uuid4()), 2, [str(uuid.uuid4())]) for _ in range(n)]
        self.publish_many(bodies)
        ids = {b["_unique_id"] for b in bodies}

        def done():
            s = self.manager_samples()
            return s if self.total(s, "volmgr_manager_messages_total", method="extend_volume") \
                - self.total(before, "volmgr_manager_messages_total",
                             method="extend_volume") >= n else None
        after = self.poll(done, timeout=15)
        self.assertEqual(
            self.value(after, "volmgr_manager_messages_total", method="extend_volume",
                       outcome="ok")
            - self.value(before, "volmgr_manager_messages_total", method="extend_volume",
                         outcome="ok"), n)
        # The broker hands a burst round-robin to the two workers' consumers: the figures
        # above are the sum of what both did.
        handled_by = {pid for pid, uid in re.findall(
            r"volume-manager\[(\d+)\] INFO \[[^]]*\] extend_volume: \w+ \(message (\w+)\)",
            self.log_text("volume-manager")) if uid in ids}
        self.assertEqual(len(handled_by), 2, handled_by)
        for w in ("0", "1"):
            self.assertGreater(self.value(after, "volmgr_manager_last_loop_timestamp_seconds",
                                          worker=w), 0)
        st, _, text = fetch("http://127.0.0.1:%d/healthcheck" % self.manager_metrics_port)
        self.assertEqual((st, text), (200, "OK"))

    def worker_pid(self, slot):
        """The pid of the worker last started in slot (its log line says so)."""
        pids = re.findall(r"volume-manager\[(\d+)\] INFO \[[^]]*\] worker %d of 2 started"
                          % slot, self.log_text("volume-manager"))
        return int(pids[-1]) if pids else None

    def test_a_worker_replaced_during_scrapes_comes_up(self):
        """The supervisor forks a replacement while it answers scrapes. It answers them on
        its own thread, the only one it has: a fork copies only the forking thread, and a
        lock that a listener thread held at that moment (libc's time-zone lock, which dating
        a response takes) would stay held in the new worker for ever."""
        self.poll(lambda: self.worker_pid(1), timeout=15)
        old = self.worker_pid(1)
        url = "http://127.0.0.1:%d/metrics" % self.manager_metrics_port
        stop, codes = threading.Event(), []

        def scrape():
            # The pause spaces the scrapes, so that two clients do not take a core of the
            # machine the stack runs on; it waits for nothing.
            while not stop.wait(0.02):
                codes.append(fetch(url, timeout=5)[0])

        scrapers = [threading.Thread(target=scrape) for _ in range(2)]
        for t in scrapers:
            t.start()
        try:
            self.poll(lambda: len(codes) >= 10, timeout=10, msg="scrapes answered")
            self.assertEqual(len(os.listdir("/proc/%d/task" % self.manager_pid)), 1,
                             "threads of the supervisor")
            os.kill(old, signal.SIGKILL)
            new = self.poll(lambda: (lambda p: p if p not in (None, old) else None)(
                self.worker_pid(1)), timeout=15, msg="a replacement in slot 1")
            # The replacement logs, registers and consumes: nothing it inherited is held.
            for what in (r"service \S+ registered", r"consuming "):
                self.poll(lambda: re.search(r"volume-manager\[%d\] INFO \[[^]]*\] %s"
                                            % (new, what), self.log_text("volume-manager")),
                          timeout=15, msg="the replacement logs %r" % what)
        finally:
            stop.set()
            for t in scrapers:
                t.join(timeout=10)
        self.assertEqual(len(os.listdir("/proc/%d/task" % self.manager_pid)), 1)
        self.assertEqual(set(codes), {200}, "every scrape answered during the restart")
