"""OpenStack's own clients against the shim under auth_strategy keystone (issue 13): the
openstack command (python3-openstackclient) and python-cinderclient (volumes and the attachment
calls), both with password authentication that finds volmgr through Keystone's catalog
(registered by `volctl catalog --apply`).
"""

import json
import os
import subprocess
import uuid

from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from harness_cli import run_cli
from harness_env import BIN
from harness_keystone import PROJECT_OF, OwnKeystoneTestCase, keystone_request

OPENSTACK_TIMEOUT = 60


class KeystoneClientsTest(OwnKeystoneTestCase):

    # The class's own Keystone issues short tokens: an expired one is a few seconds away.
    token_expiration = 3
    stub_auto_complete = False

    @classmethod
    def _build(cls):
        super()._build()
        rc, out = cls.volctl_catalog("--apply", "--url", cls.api_root)
        if rc != 0:
            raise RuntimeError("volctl catalog --apply failed:\n" + out)

    @classmethod
    def volctl_catalog(cls, *args):
        """(exit code, output) of `volctl catalog ARGS` with the admin's OS_* variables."""
        out = subprocess.run([os.path.join(BIN, "volctl"), "--config-file", cls.config_file,
                              "catalog"] + list(args),
                             env=dict(cls.proc_env, **cls.os_env("admin")),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=60)
        return out.returncode, out.stdout

    @classmethod
    def os_env(cls, user):
        """The environment of the openstack command for user, against the shared Keystone
        (its tokens last an hour)."""
        return {"OS_AUTH_URL": cls.ks_url, "OS_IDENTITY_API_VERSION": "3",
                "OS_USERNAME": user, "OS_PASSWORD": cls.ks_password,
                "OS_PROJECT_NAME": PROJECT_OF[user], "OS_USER_DOMAIN_NAME": "Default",
                "OS_PROJECT_DOMAIN_NAME": "Default", "OS_VOLUME_API_VERSION": "3",
                "OS_INTERFACE": "public"}

    def openstack(self, user, *args, env=None, ok=True):
        """(exit code, stdout, stderr) of `openstack ARGS` as user."""
        full = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        full.update(env if env is not None else self.os_env(user))
        rc, out, err = run_cli("openstack", args, full, timeout=OPENSTACK_TIMEOUT)
        if ok:
            self.assertEqual(rc, 0, "openstack %s: %s" % (" ".join(args), err))
        return rc, out, err

    def test_openstack_volume_lifecycle(self):
        _, out, _ = self.openstack("demo", "volume", "create", "--size", "1", "-f", "json",
                                   "osc-vol")
        vol = json.loads(out)
        vid = vol["id"]
        self.wait_status(vid, "available", timeout=10)
        row = self.sql("SELECT project_id, user_id FROM volumes WHERE id = %s", (vid,))[0]
        self.assertEqual(tuple(row), (self.project_id["demo"], self.user_id["demo"]))
        _, out, _ = self.openstack("demo", "volume", "list", "-f", "json")
        self.assertIn(vid, [v["ID"] for v in json.loads(out)])
        # by name, as the README shows
        _, out, _ = self.openstack("demo", "volume", "show", "-f", "json", "osc-vol")
        shown = json.loads(out)
        self.assertEqual((shown["id"], shown["status"], shown["size"]), (vid, "available", 1))
        self.openstack("demo", "volume", "set", "--size", "2", "osc-vol")
        self.poll(lambda: self.sql_value("SELECT size FROM volumes WHERE id = %s", (vid,)) == 2
                  and self.status_of(vid) == "available", timeout=10, msg="extended to 2 GiB")
        # another project's user does not see it
        rc, _, err = self.openstack("alt", "volume", "show", vid, ok=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("No volume with a name or ID of '%s' exists" % vid, err)
        rc, _, err = self.openstack("alt", "volume", "delete", vid, ok=False)
        self.assertNotEqual(rc, 0)
        self.assertEqual(self.status_of(vid), "available")
        self.openstack("demo", "volume", "delete", vid)
        self.poll(lambda: self.sql_value("SELECT deleted FROM volumes WHERE id = %s", (vid,)),
                  timeout=10, msg="the volume is deleted")

    def test_openstack_with_an_expired_token(self):
        token = self.own_token("demo")
        path = "/v3/%s/volumes" % self.project_id["demo"]
        self.poll(lambda: self.http("GET", path, token=token)[0] == 401,
                  timeout=self.token_expiration + 5, msg="the token expired")
        # the token as it is, with the endpoint the catalog gives
        env = {"OS_AUTH_TYPE": "admin_token", "OS_TOKEN": token,
               "OS_ENDPOINT": "%s/v3/%s" % (self.api_root, self.project_id["demo"]),
               "OS_VOLUME_API_VERSION": "3"}
        rc, _, err = self.openstack("demo", "volume", "list", env=env, ok=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("The request you have made requires authentication. (HTTP 401)", err)

    def test_volctl_catalog(self):
        url = "%s/v3/%%(project_id)s" % self.api_root
        rc, out = self.volctl_catalog("--url", self.api_root + "/")
        self.assertEqual((rc, out.splitlines()), (0, [
            "service volumev3 cinderv3", "endpoint public %s RegionOne" % url,
            "endpoint internal %s RegionOne" % url]))
        # registered at set-up: a second --apply changes nothing
        rc, out = self.volctl_catalog("--apply", "--url", self.api_root)
        self.assertEqual(rc, 0, out)
        self.assertEqual([l.split()[-1] for l in out.splitlines()], ["unchanged"] * 3, out)
        _, _, doc = keystone_request(self.ks_url, "GET", "/endpoints", headers={
            "X-Auth-Token": self.token("admin")})
        mine = sorted(e["interface"] for e in doc["endpoints"] if e["url"] == url)
        self.assertEqual(mine, ["internal", "public"])
        # without credentials --apply fails and says what it needs
        with_env = {k: v for k, v in self.proc_env.items() if not k.startswith("OS_")}
        out = subprocess.run([os.path.join(BIN, "volctl"), "--config-file", self.config_file,
                              "catalog", "--apply"], env=with_env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn("OS_AUTH_URL", out.stdout)

    def test_cinderclient_with_keystone(self):
        def client(user, version="3.0"):
            auth = v3.Password(auth_url=self.ks_url, username=user, password=self.ks_password,
                               project_name=PROJECT_OF[user], user_domain_name="Default",
                               project_domain_name="Default")
            return cinder_client.Client(version, session=ks_session.Session(auth=auth))

        demo, alt = client("demo"), client("alt")
        vol = demo.volumes.create(1, name="cc-vol")
        self.wait_status(vol.id, "available", timeout=10)
        self.assertIn(vol.id, [v.id for v in demo.volumes.list()])
        self.assertEqual(demo.volumes.get(vol.id).size, 1)
        demo.volumes.extend(vol.id, 2)
        self.poll(lambda: demo.volumes.get(vol.id).size == 2, timeout=10, msg="extended")
        with self.assertRaises(cinder_exceptions.NotFound):
            alt.volumes.get(vol.id)
        self.attachment_commands(client, vol.id)
        demo.volumes.delete(vol.id)
        self.poll(lambda: self.sql_value("SELECT deleted FROM volumes WHERE id = %s",
                                         (vol.id,)), timeout=10, msg="the volume is deleted")

    def attachment_commands(self, client, vid):
        """cinderclient's attachment calls with Keystone tokens, as Nova makes them (3.44):
        create (reserved), update with the connector (the connection info), complete (in-use),
        list and show (another project sees nothing), delete (available again)."""
        demo, alt = client("demo", "3.44"), client("alt", "3.44")
        server = str(uuid.uuid4())
        # create answers a dict, the others objects (cinderclient's own remark)
        aid = demo.attachments.create(vid, None, instance_id=server)["id"]
        self.assertEqual(self.status_of(vid), "reserved")
        done = demo.attachments.update(aid, {"host": "compute1", "mountpoint": "/dev/vdb"})
        self.assertEqual(done.connection_info["driver_volume_type"], "local")
        demo.attachments.complete(aid)
        self.assertEqual(self.status_of(vid), "in-use")
        self.assertEqual([a.id for a in demo.attachments.list()], [aid])
        self.assertEqual(demo.attachments.show(aid).instance, server)
        self.assertEqual(alt.attachments.list(), [])
        with self.assertRaises(cinder_exceptions.NotFound):
            alt.attachments.show(aid)
        demo.attachments.delete(aid)
        self.assertEqual(self.status_of(vid), "available")

    @classmethod
    def tearDownClass(cls):
        # The catalog outlives the class (the Keystone is shared): its endpoints go.
        try:
            admin = cls.class_token("admin")
            _, _, doc = keystone_request(cls.ks_url, "GET", "/endpoints",
                                         headers={"X-Auth-Token": admin})
            for ep in (doc or {}).get("endpoints", []):
                if ep["url"].startswith(cls.api_root):
                    keystone_request(cls.ks_url, "DELETE", "/endpoints/" + ep["id"],
                                     headers={"X-Auth-Token": admin})
        finally:
            super().tearDownClass()
