"""auth_strategy keystone (issue 13): tokens validated by the throwaway Keystone, as
keystonemiddleware's auth_token does: missing and invalid tokens, the project in the URL,
admins, client-sent role headers, revoked tokens, service tokens and the 409 guard of bug
2004555.
"""

import uuid

from harness_keystone import (KeystoneTestCase, OwnKeystoneTestCase, keystone_request,
                              load_keystone_env)

CONNECTOR = {"host": "compute1", "ip": "127.0.0.1", "initiator": None}
UNAUTHORIZED = "The request you have made requires authentication."


def attached_volume(case):
    """A volume of demo's project attached (legacy sequence, as demo) to a server the compute
    stub knows, then begin_detaching: the 409 guard will ask about it."""
    def act(vid, name, params):
        return case.as_user("demo", "POST", "/volumes/%s/action" % vid, {name: params})
    vid = case.create_as("demo")
    instance = str(uuid.uuid4())
    for name, params, code in (
            ("os-reserve", {}, 202),
            ("os-initialize_connection", {"connector": CONNECTOR}, 200),
            ("os-attach", {"instance_uuid": instance, "mountpoint": "/dev/vdb"}, 202),
            ("os-begin_detaching", {}, 202)):
        st, _, doc = act(vid, name, params)
        case.assertEqual(st, code, "%s: %s %s" % (name, st, doc))
    aid = case.sql_value("SELECT id FROM volume_attachment WHERE volume_id = %s AND "
                         "NOT deleted", (vid,))
    case.stub("POST", "/_fixture/attachments",
              {"server_id": instance, "volume_id": vid, "attachment_id": aid,
               "project_id": case.project_id["demo"]})
    return vid


class KeystoneAuthTest(KeystoneTestCase):

    # Short, so that a revoked token stops working within the test.
    token_cache_time = 2

    def assertChallenge(self, st, hd, doc):
        self.assertFault(st, doc, 401)
        self.assertEqual(hd.get("WWW-Authenticate"), 'Keystone uri="%s"' % self.ks_url)

    def test_missing_and_invalid_tokens_are_401_with_the_challenge(self):
        demo = self.project_id["demo"]
        for token in (None, "", "not-a-token", "gAAAAA" + "x" * 200, "demo:" + demo):
            for _ in range(2):    # the second time from the cache of invalid tokens
                st, hd, doc = self.http("GET", "/v3/%s/volumes" % demo, token=token)
                self.assertChallenge(st, hd, doc)
        # version discovery stays open
        st, _, _ = self.http("GET", "/", token=None)
        self.assertIn(st, (200, 300))

    def test_an_unknown_token_is_judged_before_the_body(self):
        """A token the cache does not know is validated from the head: an invalid one is
        refused before a byte of a large body is read, and a valid one's body is then read as
        usual."""
        demo = self.project_id["demo"]
        sock = self.raw_connection()
        sock.sendall(b"POST /v3/%s/volumes HTTP/1.1\r\nHost: x\r\nX-Auth-Token: gAAAAA%s\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n"
                     % (demo.encode(), uuid.uuid4().hex.encode()))
        head = self.read_head(sock)
        self.assertTrue(head.startswith(b"HTTP/1.1 401"), head)
        self.assertIn(b"WWW-Authenticate: Keystone", head)
        # a valid token not yet in the cache: the body follows its head's validation
        st, _, doc = self.http("POST", "/v3/%s/volumes" % demo,
                               body={"volume": {"size": 1, "name": "after-the-head"}},
                               token=self.new_token("demo"))
        self.assertEqual(st, 202, doc)

    def test_member_creates_in_its_project(self):
        queue = self.capture_queue()
        vid = self.create_as("demo")
        row = self.sql("SELECT project_id, user_id FROM volumes WHERE id = %s", (vid,))[0]
        self.assertEqual(tuple(row), (self.project_id["demo"], self.user_id["demo"]))
        # The cast carries who Keystone says the caller is, domains included.
        msg, _, _ = self.captured(queue, method="create_volume")
        self.assertEqual(msg["_context_user_id"], self.user_id["demo"])
        self.assertEqual(msg["_context_project_id"], self.project_id["demo"])
        self.assertEqual((msg["_context_user_domain"], msg["_context_project_domain"]),
                         ("default", "default"))
        self.assertTrue(msg["_context_user_identity"].endswith(" - default default"))
        self.assertIsNone(msg["_context_auth_token"])
        st, _, doc = self.as_user("demo", "GET", "/volumes/%s" % vid)
        self.assertEqual(st, 200, doc)
        # the URL may leave the project out (3.67): the token's project is meant
        st, _, doc = self.http("GET", "/v3/volumes/%s" % vid, token=self.token("demo"),
                               version="3.67")
        self.assertEqual(st, 200, doc)

    def test_another_projects_user(self):
        vid = self.create_as("demo")
        demo = self.project_id["demo"]
        # naming the other project in the URL: Cinder's 400
        st, _, doc = self.as_user("alt", "GET", "/volumes/%s" % vid, project=demo)
        self.assertFault(st, doc, 400, "badRequest")
        # through its own project the volume does not exist
        st, _, doc = self.as_user("alt", "GET", "/volumes/%s" % vid)
        self.assertFault(st, doc, 404, "itemNotFound")
        st, _, doc = self.as_user("alt", "POST", "/volumes/%s/action" % vid,
                                  {"os-extend": {"new_size": 2}})
        self.assertFault(st, doc, 404, "itemNotFound")
        self.assertEqual(self.sql_value("SELECT size FROM volumes WHERE id = %s", (vid,)), 1)

    def test_admin_sees_every_project_through_its_own(self):
        vid = self.create_as("demo")
        st, _, doc = self.as_user("admin", "GET", "/volumes/detail?all_tenants=1")
        self.assertEqual(st, 200, doc)
        self.assertIn(vid, [v["id"] for v in doc["volumes"]])
        # an admin token is scoped to one project too: Cinder's 400 for another in the URL
        st, _, doc = self.as_user("admin", "GET", "/volumes/%s" % vid,
                                  project=self.project_id["demo"])
        self.assertFault(st, doc, 400, "badRequest")
        # the admin-only action, on another project's volume
        st, _, doc = self.as_user("admin", "POST", "/volumes/%s/action" % vid,
                                  {"os-reset_status": {"status": "error"}})
        self.assertEqual(st, 202, doc)
        self.assertEqual(self.status_of(vid), "error")

    def test_client_sent_roles_are_ignored(self):
        vid = self.create_as("demo")
        st, _, doc = self.as_user("demo", "POST", "/volumes/%s/action" % vid,
                                  {"os-reset_status": {"status": "error"}},
                                  roles="admin", headers={"X-Roles": "admin"})
        self.assertFault(st, doc, 403, "forbidden")
        self.assertEqual(self.status_of(vid), "available")

    def test_revoked_token_stops_working_within_the_cache_time(self):
        token = self.new_token("demo")
        path = "/v3/%s/volumes" % self.project_id["demo"]
        st, _, doc = self.http("GET", path, token=token)
        self.assertEqual(st, 200, doc)
        self.revoke(token)
        # cached for at most token_cache_time seconds, then Keystone says no
        self.poll(lambda: self.http("GET", path, token=token)[0] == 401,
                  timeout=self.token_cache_time + 5, msg="the revoked token is refused")
        st, hd, doc = self.http("GET", path, token=token)
        self.assertChallenge(st, hd, doc)

    def test_invalid_service_token_is_401(self):
        st, hd, doc = self.as_user("demo", "GET", "/volumes",
                                   headers={"X-Service-Token": "bogus"})
        self.assertChallenge(st, hd, doc)


class KeystoneServiceTokenTest(KeystoneTestCase):
    """The 409 guard of bug 2004555 asks the compute service unless the request carries a
    valid service token with a service role; X-Service-Roles sent by a client means nothing."""

    stub_auto_complete = True

    def act(self, vid, name, params, headers=None):
        return self.as_user("demo", "POST", "/volumes/%s/action" % vid, {name: params},
                            headers=headers)

    def attached(self):
        return attached_volume(self)

    def test_guard(self):
        vid = self.attached()
        terminate = ("os-terminate_connection", {"connector": CONNECTOR})
        refused = (
            (None, 409),
            # a client's own claim to be a service: not a token Keystone knows
            ({"X-Service-Token": "nova:service", "X-Service-Roles": "service"}, 401),
            # a valid service token without the service role
            ({"X-Service-Token": self.token("plain"), "X-Service-Roles": "service"}, 409),
            # a member's user token as the service token
            ({"X-Service-Token": self.token("demo")}, 409),
        )
        for headers, code in refused:
            st, _, doc = self.act(vid, *terminate, headers=headers)
            self.assertFault(st, doc, code)
            self.assertEqual(self.status_of(vid), "detaching")
        st, _, doc = self.act(vid, *terminate,
                              headers={"X-Service-Token": self.token("nova")})
        self.assertEqual(st, 202, doc)


class KeystoneExpiryAndOutageTest(OwnKeystoneTestCase):
    """Expired tokens, and a Keystone that stops: cached tokens work until their cache time
    ends, then 503; a token the cache does not know is 503 at once; nothing is let through."""

    token_expiration = 4
    token_cache_time = 6

    def path(self):
        return "/v3/%s/volumes" % self.project_id["demo"]

    def assertChallenge(self, st, hd, doc):
        self.assertFault(st, doc, 401)
        self.assertEqual(hd.get("WWW-Authenticate"), 'Keystone uri="%s"' % self.ks_url)

    def test_expired_token_is_401(self):
        token = self.own_token("demo")
        st, _, doc = self.http("GET", self.path(), token=token)
        self.assertEqual(st, 200, doc)
        # cached until its expiry (before token_cache_time), then Keystone says no
        self.poll(lambda: self.http("GET", self.path(), token=token)[0] == 401,
                  timeout=self.token_expiration + 5, msg="the expired token is refused")
        self.assertChallenge(*self.http("GET", self.path(), token=token))

    def test_keystone_stopped(self):
        cached = self.new_token("demo")
        st, _, doc = self.http("GET", self.path(), token=cached)
        self.assertEqual(st, 200, doc)
        self.stop_own_keystone()
        st, _, doc = self.http("GET", self.path(), token=cached)
        self.assertEqual(st, 200, "a cached token works while Keystone is away: %s" % doc)
        fresh = self.new_token("demo")
        for token in (fresh, fresh, "not-a-token"):
            st, _, doc = self.http("GET", self.path(), token=token)
            self.assertFault(st, doc, 503)
        st, _, doc = self.http("POST", self.path(), {"volume": {"size": 1}}, token=fresh)
        self.assertFault(st, doc, 503)
        self.assertEqual(self.sql_value("SELECT count(*) FROM volumes"), 0)
        # no token at all needs no Keystone to be refused
        st, hd, doc = self.http("GET", self.path(), token=None)
        self.assertChallenge(st, hd, doc)
        # the cached token's time ends: 503 too, never a pass
        self.poll(lambda: self.http("GET", self.path(), token=cached)[0] == 503,
                  timeout=self.token_cache_time + 5, msg="the cached token ends")


class ServiceTokenRolesRequiredTest(KeystoneTestCase):
    """service_token_roles_required = true: a valid service token without a service role is
    refused, as keystonemiddleware refuses it."""

    authtoken_options = {"service_token_roles_required": "true"}

    def test_service_token_needs_the_role(self):
        st, hd, doc = self.as_user("demo", "GET", "/volumes",
                                   headers={"X-Service-Token": self.token("plain")})
        self.assertFault(st, doc, 401)
        self.assertIn("Keystone uri=", hd.get("WWW-Authenticate"))
        st, _, doc = self.as_user("demo", "GET", "/volumes",
                                  headers={"X-Service-Token": self.token("nova")})
        self.assertEqual(st, 200, doc)
        st, _, doc = self.as_user("demo", "GET", "/volumes")
        self.assertEqual(st, 200, doc)

class NovaServiceUserTest(KeystoneTestCase):
    """[nova] with keystoneauth's options and no endpoint: the shim's 409 guard and the
    manager's volume-extended event reach the compute API found in Keystone's catalog, with a
    token of the nova service user."""

    @classmethod
    def _build(cls):
        env = load_keystone_env()
        cls.nova_options = {
            "auth_url": env["VOLMGR_KEYSTONE_URL"], "auth_type": "password",
            "username": "nova", "password": env["VOLMGR_KEYSTONE_PASSWORD"],
            "project_name": "service", "user_domain_name": "Default",
            "project_domain_name": "Default", "region_name": "RegionOne",
            "interface": "internal",
        }
        super()._build()
        admin = {"X-Auth-Token": cls.class_token("admin")}
        _, _, doc = keystone_request(cls.ks_url, "POST", "/services", {"service": {
            "type": "compute", "name": "nova-stub"}}, headers=admin)
        cls.compute_service = doc["service"]["id"]
        keystone_request(cls.ks_url, "POST", "/endpoints", {"endpoint": {
            "service_id": cls.compute_service, "interface": "internal",
            "url": cls.compute_url, "region_id": "RegionOne"}}, headers=admin)

    @classmethod
    def tearDownClass(cls):
        try:
            keystone_request(cls.ks_url, "DELETE", "/services/%s" % cls.compute_service,
                             headers={"X-Auth-Token": cls.class_token("admin")})
        finally:
            super().tearDownClass()

    def token_user(self, token):
        st, _, doc = keystone_request(self.ks_url, "GET", "/auth/tokens", headers={
            "X-Auth-Token": self.token("admin"), "X-Subject-Token": token})
        self.assertEqual(st, 200, doc)
        return doc["token"]["user"]["name"]

    def test_compute_calls_carry_the_service_users_token(self):
        vid = attached_volume(self)
        st, _, doc = self.as_user("demo", "POST", "/volumes/%s/action" % vid,
                                  {"os-terminate_connection": {"connector": CONNECTOR}})
        self.assertFault(st, doc, 409, "conflictingRequest")
        asked = [r for r in self.stub("GET", "/_fixture/requests")["requests"]
                 if "/os-volume_attachments/" in r["path"]]
        self.assertTrue(asked, "the guard asked the compute API")
        self.assertTrue(asked[-1]["path"].startswith("/v2.1/servers/"), asked[-1])
        self.assertEqual(self.token_user(asked[-1]["x_auth_token"]), "nova")
        # the manager's event: an online extend of the in-use volume
        st, _, doc = self.as_user("demo", "POST", "/volumes/%s/action" % vid,
                                  {"os-roll_detaching": {}})
        self.assertEqual(st, 202, doc)
        st, _, doc = self.as_user("demo", "POST", "/volumes/%s/action" % vid,
                                  {"os-extend": {"new_size": 2}}, version="3.42")
        self.assertEqual(st, 202, doc)
        events = self.poll(lambda: self.stub_events(), timeout=10, msg="volume-extended sent")
        self.assertEqual(events[0]["tag"], vid)
        posted = [r for r in self.stub("GET", "/_fixture/requests")["requests"]
                  if r["path"].endswith("/os-server-external-events")]
        self.assertEqual(self.token_user(posted[-1]["x_auth_token"]), "nova")
