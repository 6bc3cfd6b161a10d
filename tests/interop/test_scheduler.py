"""A real cinder-scheduler and Cinder's own API with volmgr's manager as the only volume
service (issue 16, docs/cinder.md §22).

Debian's cinder-scheduler and Cinder's API application (python3-cinder, served by
scripts/cinder_api_wsgi.py, noauth) run on the interop run's broker and on a database made by
Cinder's migrations plus volctl db-sync. The scheduler asks the volume services for their
capabilities at start; volmgr's manager answers with its report, so that a volume created
through Cinder's API (python-cinderclient against Cinder's API, not the shim) is placed by the
scheduler on volmgr's backend and created by volmgr's manager, and Cinder's get_pools shows
volmgr's pool with its capacities. A volume created from an image through Cinder's API goes
the same way: Cinder's API checks the image with the interop run's Glance, the scheduler passes
the request spec on as a serialized RequestSpec object, and volmgr's manager downloads the image
from that Glance.
"""

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request
import uuid

import psycopg2

import test_cinder
from harness import free_port, load_stack_env, tail
from harness_glance import glance_request, load_glance_env
from test_cinderclient import cinder_argv

REPO = test_cinder.REPO
API_WSGI = os.path.join(REPO, "scripts", "cinder_api_wsgi.py")
# Cinder's own API pipeline under noauth, as its api-paste.ini builds it (without the
# profiler and CORS filters, which need configuration of their own).
API_PASTE = """[composite:osapi_volume]
use = call:cinder.api:root_app_factory
/: apiversions
/v3: openstack_volume_api_v3

[composite:openstack_volume_api_v3]
use = call:cinder.api.middleware.auth:pipeline_factory
noauth = request_id faultwrap sizelimit noauth apiv3

[filter:request_id]
paste.filter_factory = cinder.api.middleware.request_id:RequestId.factory

[filter:faultwrap]
paste.filter_factory = cinder.api.middleware.fault:FaultWrapper.factory

[filter:sizelimit]
paste.filter_factory = oslo_middleware.sizelimit:RequestBodySizeLimiter.factory

[filter:noauth]
paste.filter_factory = cinder.api.middleware.auth:NoAuthMiddleware.factory

[app:apiv3]
paste.app_factory = cinder.api.v3.router:APIRouter.factory

[pipeline:apiversions]
pipeline = request_id faultwrap osvolumeversionapp

[app:osvolumeversionapp]
paste.app_factory = cinder.api.versions:Versions.factory
"""
# Cinder's routes take a project id of hexadecimal digits and dashes only.
PROJECT = uuid.uuid4().hex
# An upper bound for a loaded machine: cinder-scheduler and cinder-api import much of Cinder.
STARTUP_TIMEOUT = 90


class CinderProcess:
    """A Cinder program of the class, its output in tmp/<name>.log, stopped by its pid."""

    def __init__(self, tmp, name, argv):
        self.log = os.path.join(tmp, name + ".log")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    # Stopped as the managers are: SIGTERM to the pid, SIGKILL after 15 s.
    stop = test_cinder.ManagerProcess.stop


class SchedulerInteropTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # unittest runs no tearDownClass after a failed setUpClass: stop what the set-up
        # started before the failure goes up.
        cls.procs = []
        try:
            cls.deploy()
        except BaseException:
            cls.print_logs()
            cls.tearDownClass()
            raise

    @classmethod
    def deploy(cls):
        env = load_stack_env()
        rand = secrets.token_hex(4)
        cls.tmp = tempfile.mkdtemp(prefix="volmgr-sched-")
        cls.host = "node" + rand
        exchange = "sched_" + rand
        transport_url = env["VOLMGR_TRANSPORT_URL"]
        cls.db_url = test_cinder.create_database(env, "cinder_sched_" + rand)
        cls.port = free_port()
        # Cinder's API checks an image with Glance itself; the manager (which inherits this
        # environment) downloads it.
        cls.glance_url = load_glance_env()["VOLMGR_GLANCE_URL"]
        os.environ["VOLMGR_GLANCE_URL"] = cls.glance_url
        paste = os.path.join(cls.tmp, "api-paste.ini")
        with open(paste, "w") as f:
            f.write(API_PASTE)
        conf = os.path.join(cls.tmp, "cinder.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "[DEFAULT]",
                "transport_url = %s" % transport_url.replace("amqp://", "rabbit://", 1),
                "control_exchange = %s" % exchange, "host = sched" + rand,
                "auth_strategy = noauth", "api_paste_config = %s" % paste,
                "state_path = %s" % cls.tmp, "rpc_response_timeout = 20",
                "glance_api_servers = %s" % cls.glance_url,
                # The scheduler waits for every volume service's report, at most this long.
                "scheduler_driver_init_wait_time = 10",
                "[database]",
                "connection = %s" % cls.db_url.replace("postgresql://",
                                                       "postgresql+psycopg2://"),
                "[oslo_concurrency]", "lock_path = %s" % os.path.join(cls.tmp, "locks"),
                "[coordination]", "backend_url = file://%s" % os.path.join(cls.tmp, "coord"),
                "[oslo_messaging_rabbit]", "amqp_durable_queues = false",
                "rabbit_quorum_queue = false", ""]))
        sync = test_cinder.cinder_manage(conf, "db", "sync")
        if sync.returncode != 0:
            raise RuntimeError("cinder-manage db sync failed:\n%s%s" % (sync.stdout,
                                                                        sync.stderr))
        vs = subprocess.run([os.path.join(REPO, "bin", "volctl"), "db-sync"],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, VOLMGR_DB_URL=cls.db_url))
        if vs.returncode != 0:
            raise RuntimeError("volctl db-sync failed:\n%s%s" % (vs.stdout, vs.stderr))
        cls.manager = test_cinder.ManagerProcess(cls.tmp, "manager", cls.host, exchange,
                                                 cls.db_url, transport_url)
        cls.procs.append(cls.manager)
        cls.manager.wait_consuming()
        scheduler = shutil.which("cinder-scheduler")
        if scheduler is None:
            raise RuntimeError("cinder-scheduler is not installed (make test-interop "
                               "installs Debian's cinder-scheduler)")
        cls.procs.append(CinderProcess(cls.tmp, "cinder-scheduler",
                                       [scheduler, "--config-file", conf]))
        cls.procs.append(CinderProcess(cls.tmp, "cinder-api",
                                       [test_cinder.PY, API_WSGI, conf, str(cls.port)]))
        cls.api_root = "http://127.0.0.1:%d" % cls.port
        # Ready once Cinder's API lists volmgr's pool: the scheduler heard the report.
        test_cinder.poll(lambda: cls.pool() is not None,
                         "Cinder's get_pools lists %s's pool" % cls.host,
                         timeout=STARTUP_TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        for p in reversed(getattr(cls, "procs", [])):
            p.stop()
        if getattr(cls, "tmp", None) is not None:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def print_logs(cls):
        for p in getattr(cls, "procs", []):
            print("---- %s ----\n%s" % (p.log, tail(p.log)))

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            self.print_logs()

    # ---- helpers ----

    @classmethod
    def get(cls, path):
        """The JSON of GET path from Cinder's API, as an admin of PROJECT (noauth), or None
        when it does not answer 200."""
        req = urllib.request.Request(cls.api_root + path, headers={
            "X-Auth-Token": "admin:%s" % PROJECT, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read()) if resp.status == 200 else None
        except OSError:
            return None

    @classmethod
    def pool(cls):
        """volmgr's pool as Cinder's get_pools?detail=true shows it, or None."""
        doc = cls.get("/v3/%s/scheduler-stats/get_pools?detail=true" % PROJECT)
        pools = [p for p in (doc or {}).get("pools", [])
                 if p["name"] == test_cinder.pool_host(cls.host)]
        return pools[0] if pools else None

    def cinder(self, *args):
        """The output of python-cinderclient's cinder command against Cinder's API."""
        argv = cinder_argv() + [
            "--os-auth-type", "noauth", "--os-user-id", "admin", "--os-project-id", PROJECT,
            "--os-endpoint", "%s/v3/%s" % (self.api_root, PROJECT),
            "--os-volume-api-version", "3.70"] + list(args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(p.returncode, 0, "cinder %s: %s%s" % (" ".join(args), p.stdout,
                                                             p.stderr))
        return p.stdout

    def created(self, out):
        """The id in the table python-cinderclient prints for a created volume."""
        return [line.split("|")[2].strip() for line in out.splitlines()
                if line.startswith("|") and line.split("|")[1].strip() == "id"][0]

    def row(self, vid):
        with psycopg2.connect(self.db_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT status, host FROM volumes WHERE id = %s", (vid,))
            return cur.fetchone()

    # ---- tests ----

    def test_get_pools_shows_volmgr_capacities(self):
        pool = self.pool()
        caps = pool["capabilities"]
        with psycopg2.connect(self.db_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT capabilities FROM volmgr_service_capabilities "
                        "WHERE host = %s", ("%s@%s" % (self.host, test_cinder.BACKEND),))
            (stored,) = cur.fetchone()
        vfs = os.statvfs(self.manager.filestore)
        self.assertAlmostEqual(caps["total_capacity_gb"],
                               vfs.f_blocks * vfs.f_frsize / 2**30, delta=0.01)
        # The free space is a report's, which a periodic report may have refreshed between
        # the two reads; statvfs now may differ by what other writers of this disk did since.
        self.assertAlmostEqual(caps["free_capacity_gb"], stored["pools"][0]["free_capacity_gb"],
                               delta=0.5)
        self.assertAlmostEqual(caps["free_capacity_gb"],
                               vfs.f_bavail * vfs.f_frsize / 2**30, delta=5)
        for key in ("total_capacity_gb", "reserved_percentage", "max_over_subscription_ratio",
                    "thin_provisioning_support", "multiattach", "pool_name"):
            self.assertEqual(caps[key], stored["pools"][0][key], key)
        self.assertEqual(caps["volume_backend_name"], test_cinder.BACKEND)
        self.assertEqual(caps["vendor_name"], "Open Source")

    def test_volume_created_through_cinder_api_lands_on_volmgr(self):
        vid = self.created(self.cinder("create", "--name", "sched-placed", "1"))
        test_cinder.poll(lambda: self.row(vid)[0] == "available",
                         "volume %s available (now %r)" % (vid, self.row(vid)))
        self.assertEqual(self.row(vid)[1], test_cinder.pool_host(self.host))
        path = os.path.join(self.manager.filestore, "volume-" + vid)
        self.assertEqual(os.stat(path).st_size, 2**30)
        # Cinder's API shows it as volmgr left it
        self.assertIn("available", self.cinder("show", vid))
        self.cinder("delete", vid)
        test_cinder.poll(lambda: not os.path.exists(path), "the file of %s removed" % vid)

    def test_volume_from_image_through_cinder_api(self):
        data = secrets.token_bytes(3 << 20)
        st, image = glance_request(self.glance_url, "POST", "/v2/images", body={
            "name": "sched-" + secrets.token_hex(3), "disk_format": "raw",
            "container_format": "bare"})
        self.assertEqual(st, 201, image)
        self.addCleanup(glance_request, self.glance_url, "DELETE", "/v2/images/" + image["id"])
        st, _ = glance_request(self.glance_url, "PUT", "/v2/images/%s/file" % image["id"],
                               data=data)
        self.assertEqual(st, 204)
        st, record = glance_request(self.glance_url, "GET", "/v2/images/" + image["id"])
        checksum = record["checksum"]
        self.assertEqual(checksum, hashlib.md5(data).hexdigest())
        vid = self.created(self.cinder("create", "--image", image["id"], "--name",
                                       "sched-image", "1"))
        test_cinder.poll(lambda: self.row(vid)[0] in ("available", "error"),
                         "volume %s created (now %r)" % (vid, self.row(vid)))
        self.assertEqual(self.row(vid), ("available", test_cinder.pool_host(self.host)))
        path = os.path.join(self.manager.filestore, "volume-" + vid)
        with open(path, "rb") as f:
            head = f.read(len(data))
            self.assertEqual(hashlib.md5(head).hexdigest(), checksum, "Glance's md5")
            self.assertEqual(f.read(1 << 20), bytes(1 << 20), "zeros after the image")
        self.assertEqual(os.stat(path).st_size, 2**30)
        self.cinder("delete", vid)
        test_cinder.poll(lambda: not os.path.exists(path), "the file of %s removed" % vid)


if __name__ == "__main__":
    sys.exit(unittest.main())
