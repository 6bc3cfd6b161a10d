"""Services and the scheduler (docs/cinder.md §22): the manager's capability reports on the
schedulers' fanout, /os-services with its updates, /scheduler-stats/get_pools, and the
cinder commands that read and change them."""

import datetime
import json
import os
import re
import secrets

from harness import JSON, StackTestCase, cast_message, context_dict, oslo_body, oslo_unwrap
from test_cinderclient import run_cinder

SCHEDULER_FANOUT = "cinder-scheduler_fanout"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


class SchedulerSideMixin:
    """What a scheduler sees: a queue on its fanout exchange, and its broadcast."""

    def scheduler_queue(self):
        """A queue of this test bound to the schedulers' fanout exchange, declared as oslo's
        fanout_send declares the exchange, as a cinder-scheduler's own would be."""
        name = "it-scheduler-%s-%s" % (self.rand, secrets.token_hex(3))
        with self.amqp() as ch:
            ch.exchange_declare(exchange=SCHEDULER_FANOUT, exchange_type="fanout",
                                durable=False, auto_delete=True)
            ch.queue_declare(queue=name, durable=False, auto_delete=False)
            ch.queue_bind(queue=name, exchange=SCHEDULER_FANOUT)
        type(self)._queues.append(name)
        self.addCleanup(self.delete_queue, name)
        return name

    def ask_for_capabilities(self):
        """The scheduler's publish_service_capabilities broadcast, as Cinder's scheduler sends
        it at start (oslo JSON on cinder-volume_fanout). Returns its _unique_id."""
        msg = cast_message("publish_service_capabilities", {},
                           context=context_dict(None, None, is_admin=True))
        self.publish(oslo_body(msg), exchange="cinder-volume_fanout",
                     routing_key="cinder-volume", unique_id=msg["_unique_id"],
                     content_type=JSON)
        return msg["_unique_id"]


class ServicesTest(SchedulerSideMixin, StackTestCase):

    # ---- helpers ----

    def our_report(self, queue, timeout=15):
        """The next report of this class's service in queue: (inner message, properties)."""
        def ours(props, body):
            msg = oslo_unwrap(body)
            if msg.get("args", {}).get("host") == self.service_host:
                return msg, props
            return None
        return self.poll(lambda: self.take_matching(queue, ours), timeout=timeout,
                         msg="a capability report of %s" % self.service_host)

    def stored_report(self):
        rows = self.sql("SELECT capabilities::text, service_name, cluster_name, "
                        "to_char(reported_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') "
                        "FROM volmgr_service_capabilities WHERE host = %s",
                        (self.service_host,))
        return (json.loads(rows[0][0]),) + tuple(rows[0][1:]) if rows else None

    def service_row(self):
        rows = self.sql("SELECT disabled, disabled_reason, frozen, modified_at "
                        "FROM services WHERE host = %s AND \"binary\" = 'cinder-volume'",
                        (self.service_host,))
        return rows[0]

    def enable_again(self):
        self.sql("UPDATE services SET disabled = false, disabled_reason = NULL, frozen = false "
                 "WHERE host = %s", (self.service_host,))

    def services(self, query="", version="3.0", token=None):
        st, _, doc = self.http("GET", "/v3/%s/os-services%s" % (self.PROJECT, query),
                               token=token or "admin:%s" % self.PROJECT, version=version)
        return st, doc

    def ours(self, doc):
        return [s for s in doc["services"] if s["host"] == self.service_host][0]

    # ---- capability reports ----

    def free_gb(self):
        """The free space of the filestore's file system for an unprivileged writer, in GiB."""
        vfs = os.statvfs(self.filestore_dir)
        return vfs.f_bavail * vfs.f_frsize / 2**30

    def test_report_on_the_wire_answers_the_scheduler(self):
        """A publish_service_capabilities broadcast gets at once an update_service_capabilities
        cast on cinder-scheduler_fanout in oslo's JSON, shaped as Cinder 21's volume manager
        sends it, with capacities from statvfs of the filestore and the pool's rows; the same
        report is kept in volmgr_service_capabilities."""
        vid = self.create_volume(size=2)
        queue = self.scheduler_queue()
        free_before = self.free_gb()
        unique_id = self.ask_for_capabilities()
        msg, props = self.our_report(queue)
        free_after = self.free_gb()
        self.assertEqual(props.content_type, JSON)
        # A broadcast is not recorded: every service receives it with the same _unique_id.
        self.assertEqual(self.processed(unique_id), [])
        self.assertEqual(msg["method"], "update_service_capabilities")
        self.assertEqual(msg["version"], "3.3")
        self.assertNotIn("_msg_id", msg)
        self.assertTrue(msg["_context_is_admin"])
        self.assertIsNone(msg["_context_user_id"])
        self.assertRegex(msg["_context_request_id"], r"^req-[0-9a-f-]{36}$")
        args = msg["args"]
        self.assertEqual(sorted(args), ["capabilities", "cluster_name", "host", "service_name",
                                        "timestamp"])
        self.assertEqual(args["service_name"], "volume")
        self.assertIsNone(args["cluster_name"])
        self.assertRegex(args["timestamp"], TIME_RE)
        sent = datetime.datetime.strptime(args["timestamp"], "%Y-%m-%dT%H:%M:%S.%f")
        self.assertLess(abs((datetime.datetime.utcnow() - sent).total_seconds()), 30)
        caps = args["capabilities"]
        self.assertEqual(caps["volume_backend_name"], "filestore")
        self.assertEqual(caps["vendor_name"], "Open Source")
        self.assertEqual(caps["storage_protocol"], "local")
        self.assertIn("driver_version", caps)
        self.assertIsNone(caps["filter_function"])
        self.assertIsNone(caps["goodness_function"])
        self.assertEqual(len(caps["pools"]), 1)
        pool = caps["pools"][0]
        vfs = os.statvfs(self.filestore_dir)
        self.assertAlmostEqual(pool["total_capacity_gb"],
                               vfs.f_blocks * vfs.f_frsize / 2**30, delta=0.01)
        # The disk is shared with everything else on the machine: the report's free space
        # lies between what statvfs said just before the request and just after the report.
        self.assertLessEqual(min(free_before, free_after) - 0.01, pool["free_capacity_gb"])
        self.assertLessEqual(pool["free_capacity_gb"], max(free_before, free_after) + 0.01)
        self.assertEqual(pool["pool_name"], "filestore")
        self.assertEqual(pool["allocated_capacity_gb"], self.pool_allocated())
        self.assertGreaterEqual(pool["allocated_capacity_gb"], 2)
        provisioned = self.sql_value("SELECT sum(size) FROM volumes WHERE NOT deleted "
                                     "AND host = %s", (self.volume_host,))
        self.assertEqual(pool["provisioned_capacity_gb"], provisioned)
        self.assertEqual(pool["reserved_percentage"], 0)
        self.assertEqual(pool["max_over_subscription_ratio"], "20.0")
        self.assertIs(pool["thin_provisioning_support"], True)
        self.assertIs(pool["thick_provisioning_support"], False)
        self.assertIs(pool["multiattach"], True)
        self.assertIs(pool["QoS_support"], False)
        self.assertEqual(pool["backend_state"], "up")
        self.assertIn(self.filestore_dir, pool["location_info"])
        stored, service_name, cluster, reported_at = self.stored_report()
        self.assertEqual(stored, caps)
        self.assertEqual((service_name, cluster, reported_at),
                         ("volume", None, args["timestamp"]))
        self.assertTrue(self.manager_alive())
        self.assertTrue(vid)

    # ---- /os-services ----

    def test_services_views_by_microversion(self):
        st, doc = self.services()
        self.assertEqual(st, 200, doc)
        svc = self.ours(doc)
        self.assertEqual(svc["binary"], "cinder-volume")
        self.assertEqual(svc["zone"], "nova")
        self.assertEqual((svc["status"], svc["state"]), ("enabled", "up"))
        self.assertRegex(svc["updated_at"], TIME_RE)
        self.assertEqual(svc["frozen"], False)
        self.assertEqual(svc["replication_status"], "not-capable")
        self.assertIsNone(svc["active_backend_id"])
        self.assertIsNone(svc["disabled_reason"])
        self.assertNotIn("cluster", svc)
        self.assertNotIn("backend_state", svc)
        svc = self.ours(self.services(version="3.7")[1])
        self.assertIn("cluster", svc)
        self.assertNotIn("backend_state", svc)
        self.poll(self.stored_report, msg="the start-up report is stored")
        svc = self.ours(self.services(version="3.49")[1])
        self.assertEqual(svc["backend_state"], "up")
        # filters: the host matches its backends, binary exactly
        st, doc = self.services("?host=%s&binary=cinder-volume" % self.host)
        self.assertEqual([s["host"] for s in doc["services"]], [self.service_host])
        st, doc = self.services("?host=%s&binary=cinder-backup" % self.host)
        self.assertEqual(doc["services"], [])
        # a service whose heartbeat is older than service_down_time is down
        st, doc = self.services("?host=nosuchhost")
        self.assertEqual(doc["services"], [])
        st, doc = self.services(token="%s:%s" % (self.USER, self.PROJECT))
        self.assertFault(st, doc, 403, contains="volume_extension:services:index")

    def test_backend_state_only_of_services_the_scheduler_keeps(self):
        """At 3.49 Cinder takes backend_state from the scheduler's get_pools, which leaves out
        services that are disabled, frozen or down: theirs is null, as is their pools'
        absence from get_pools."""
        self.poll(self.stored_report, msg="the start-up report is stored")
        self.assertEqual(self.ours(self.services(version="3.49")[1])["backend_state"], "up")
        self.addCleanup(self.enable_again)
        for column in ("disabled", "frozen"):
            self.sql("UPDATE services SET %s = true WHERE host = %%s" % column,
                     (self.service_host,))
            svc = self.ours(self.services(version="3.49")[1])
            self.assertIsNone(svc["backend_state"], column)
            self.enable_again()
        self.assertEqual(self.ours(self.services(version="3.49")[1])["backend_state"], "up")

        # down: a heartbeat older than service_down_time (the manager's next heartbeat makes
        # it up again, so the row is aged and read until one read sees it down)
        def down_view():
            self.sql("UPDATE services SET updated_at = updated_at - interval '1 hour' "
                     "WHERE host = %s AND \"binary\" = 'cinder-volume'", (self.service_host,))
            svc = self.ours(self.services(version="3.49")[1])
            return svc if svc["state"] == "down" else None
        svc = self.poll(down_view, timeout=10, msg="the service seen down")
        self.assertIsNone(svc["backend_state"])
        self.poll(lambda: self.ours(self.services(version="3.49")[1])["backend_state"] == "up",
                  timeout=30, msg="the next heartbeat brings backend_state back")

    def test_disable_enable_rows(self):
        self.addCleanup(self.enable_again)
        path = "/v3/%s/os-services/" % self.PROJECT
        st, _, doc = self.admin("PUT", path + "disable-log-reason",
                                {"host": self.service_host, "binary": "cinder-volume",
                                 "disabled_reason": "maintenance"})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc, {"disabled": True, "disabled_reason": "maintenance",
                               "host": self.service_host, "service": "",
                               "binary": "cinder-volume", "status": "disabled"})
        disabled, reason, _, modified = self.service_row()
        self.assertEqual((disabled, reason), (True, "maintenance"))
        self.assertIsNotNone(modified)
        svc = self.ours(self.services()[1])
        self.assertEqual((svc["status"], svc["disabled_reason"]), ("disabled", "maintenance"))
        # a disabled backend takes no new volume, as Cinder's scheduler skips it
        st, _, doc = self.http("POST", "/v3/%s/volumes" % self.PROJECT,
                               {"volume": {"size": 1}})
        vid = doc["volume"]["id"]
        self.wait_status(vid, "error")
        st, _, doc = self.admin("PUT", path + "enable",
                                {"host": self.service_host, "service": "cinder-volume"})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc, {"disabled": False, "host": self.service_host,
                               "service": "cinder-volume", "binary": "", "status": "enabled"})
        self.assertEqual(self.service_row()[0], False)
        st, _, doc = self.admin("PUT", path + "disable",
                                {"host": "nosuchhost", "binary": "cinder-volume"})
        self.assertFault(st, doc, 404, contains="could not be found on host nosuchhost")
        st, _, doc = self.admin("PUT", path + "disable", {"binary": "cinder-volume"})
        self.assertFault(st, doc, 400, contains="Host field is missing")
        st, _, doc = self.admin("PUT", path + "disable", {"host": self.service_host})
        self.assertFault(st, doc, 400)
        st, _, doc = self.admin("PUT", path + "failover_everything", {})
        self.assertFault(st, doc, 400, contains="Unknown action")
        st, _, doc = self.http("PUT", path + "disable", {"host": self.service_host,
                                                        "binary": "cinder-volume"})
        self.assertFault(st, doc, 403, contains="volume_extension:services:update")
        self.assertEqual(self.service_row()[0], False)

    def test_freeze_and_thaw(self):
        """freeze sets the row's frozen (the API) and disables it with the reason "frozen"
        (the manager's freeze_host call); thaw undoes both; twice is refused as Cinder does."""
        self.addCleanup(self.enable_again)
        vid = self.create_volume()
        path = "/v3/%s/os-services/" % self.PROJECT
        st, _, doc = self.admin("PUT", path + "freeze", {"host": self.service_host})
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.service_row()[:3], (True, "frozen", True))
        # Cinder's API refuses to change what a frozen backend holds
        frozen = "Modification operations are not allowed on frozen storage backends."
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertFault(st, doc, 400, contains=frozen)
        st, _, doc = self.http("POST", "/v3/%s/snapshots" % self.PROJECT,
                               {"snapshot": {"volume_id": vid}})
        self.assertFault(st, doc, 400, contains=frozen)
        self.assertEqual(self.status_of(vid), "available")
        svc = self.ours(self.services()[1])
        self.assertEqual((svc["frozen"], svc["status"]), (True, "disabled"))
        st, _, doc = self.admin("PUT", path + "freeze", {"host": self.service_host})
        self.assertFault(st, doc, 400, contains="frozen in ['%s'] must be False"
                         % self.service_host)
        st, _, doc = self.admin("PUT", path + "thaw", {"host": self.host})
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.service_row()[:3], (False, "", False))
        st, _, doc = self.admin("PUT", path + "thaw", {"host": self.service_host})
        self.assertFault(st, doc, 400, contains="must be True")
        st, _, doc = self.http("DELETE", self.vpath(vid))
        self.assertEqual(st, 202, doc)
        st, _, doc = self.admin("PUT", path + "freeze", {"host": "nosuchhost"})
        self.assertFault(st, doc, 400, contains="No service found with host=nosuchhost")
        st, _, doc = self.admin("PUT", path + "freeze", {"host": self.service_host, "x": 1},
                                version="3.26")
        self.assertFault(st, doc, 400)

    # ---- /scheduler-stats/get_pools ----

    def test_get_pools(self):
        self.poll(self.stored_report, msg="the start-up report is stored")
        caps = self.stored_report()[0]
        path = "/v3/%s/scheduler-stats/get_pools" % self.PROJECT
        name = self.volume_host
        st, _, doc = self.admin("GET", path)
        self.assertEqual(st, 200, doc)
        self.assertIn({"name": name}, doc["pools"])
        st, _, doc = self.admin("GET", path + "?detail=true")
        pool = [p for p in doc["pools"] if p["name"] == name][0]
        want = dict(caps["pools"][0])
        for key in ("volume_backend_name", "storage_protocol", "vendor_name", "driver_version"):
            want[key] = caps[key]
        want["timestamp"] = self.stored_report()[3]
        self.assertEqual(pool["capabilities"], want)
        # the name filter from 3.28; other filters refused from 3.31
        st, _, doc = self.admin("GET", path + "?name=other%23pool", version="3.28")
        self.assertEqual(doc["pools"], [])
        st, _, doc = self.admin("GET", path + "?name=other%23pool", version="3.27")
        self.assertIn({"name": name}, doc["pools"])
        st, _, doc = self.admin("GET", path + "?multiattach=true", version="3.30")
        self.assertIn({"name": name}, doc["pools"])
        st, _, doc = self.admin("GET", path + "?multiattach=false", version="3.30")
        self.assertNotIn({"name": name}, doc["pools"])
        st, _, doc = self.admin("GET", path + "?multiattach=true", version="3.31")
        self.assertFault(st, doc, 400, contains="Invalid filters multiattach")
        st, _, doc = self.admin("GET", path + "?detail=maybe")
        self.assertFault(st, doc, 400, contains="is not a boolean")
        st, _, doc = self.admin("GET", path + "?volume_type=nosuchtype", version="3.35")
        self.assertFault(st, doc, 404)
        st, _, doc = self.http("GET", path)
        self.assertFault(st, doc, 403,
                         contains="scheduler_extension:scheduler_stats:get_pools")
        # a disabled or frozen service's pools are not listed, as the scheduler skips it
        self.addCleanup(self.enable_again)
        for column in ("disabled", "frozen"):
            self.sql("UPDATE services SET %s = true WHERE host = %%s" % column,
                     (self.service_host,))
            st, _, doc = self.admin("GET", path)
            self.assertNotIn({"name": name}, doc["pools"], column)
            self.enable_again()

    # ---- python-cinderclient ----

    def test_cinderclient_commands(self):
        self.addCleanup(self.enable_again)
        self.poll(self.stored_report, msg="the start-up report is stored")
        _, out = run_cinder(self, "service-list", user="admin")
        self.assertRegex(out, r"cinder-volume\s*\|\s*%s\s*\|\s*nova\s*\|\s*enabled\s*\|\s*up"
                         % re.escape(self.service_host))
        run_cinder(self, "service-disable", "--reason", "cc", self.service_host,
                   "cinder-volume", user="admin")
        self.assertEqual(self.service_row()[:2], (True, "cc"))
        run_cinder(self, "service-enable", self.service_host, "cinder-volume", user="admin")
        self.assertEqual(self.service_row()[0], False)
        run_cinder(self, "freeze-host", self.service_host, user="admin")
        self.assertEqual(self.service_row()[2], True)
        run_cinder(self, "thaw-host", self.service_host, user="admin")
        self.assertEqual(self.service_row()[:3], (False, "", False))
        _, out = run_cinder(self, "get-pools", user="admin")
        self.assertIn(self.volume_host, out)
        _, out = run_cinder(self, "get-pools", "--detail", user="admin")
        self.assertIn("free_capacity_gb", out)
        self.assertIn("allocated_capacity_gb", out)
        rc, out = run_cinder(self, "service-list", ok=False)
        self.assertNotEqual(rc, 0)


class ServicesTwoBackendsTest(SchedulerSideMixin, StackTestCase):
    """Two volume services on one database: the scheduler's broadcast reaches both with one
    _unique_id, which neither records (a record by that id would make it a duplicate for
    the second), and gets a report from each of them."""
    second_backend = True

    def test_each_service_answers_the_broadcast(self):
        queue = self.scheduler_queue()
        asked = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")
        unique_id = self.ask_for_capabilities()
        hosts = set()

        def both():
            m = self.get_message(queue)
            args = oslo_unwrap(m[1])["args"] if m is not None else {}
            # only answers to the broadcast, not a late start-up report
            if args.get("timestamp", "") >= asked:
                hosts.add(args["host"])
            return {self.service_host, self.service_host2} <= hosts
        self.poll(both, timeout=15, msg="reports of both services")
        self.assertEqual(self.processed(unique_id), [])
        rows = self.sql("SELECT host FROM volmgr_service_capabilities ORDER BY host")
        self.assertEqual(sorted(r[0] for r in rows),
                         sorted([self.service_host, self.service_host2]))
