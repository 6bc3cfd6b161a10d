"""Keystone for the integration tests: the throwaway Keystone that scripts/run-tests.sh starts
once per run (scripts/keystone-stack.py; its env file is VOLMGR_KEYSTONE_ENV, default
<stack dir>/keystone/env), tokens of its users, and KeystoneTestCase: a deployment whose shim
runs with auth_strategy keystone against it.

The users (scripts/keystone-stack.py): admin (project admin, role admin), demo (project demo,
member), alt (project alt, member), nova (project service, service), cinder (project service,
service: the shim's own user), plain (project service, member only).
"""

import json
import os
import re
import urllib.error
import urllib.request

from harness import StackTestCase
from harness_env import PYTHON, REPO, free_port, load_service_env

PROJECT_OF = {"admin": "admin", "demo": "demo", "alt": "alt", "nova": "service",
              "cinder": "service", "plain": "service"}


def load_keystone_env():
    """The variables of the Keystone env file (harness_env.load_service_env)."""
    return load_service_env("keystone", "the Keystone tests need the throwaway Keystone")


def keystone_request(url, method, path, body=None, headers=None, timeout=30):
    """(status, headers, json or None) of one request to Keystone."""
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    req = urllib.request.Request(url + path, json.dumps(body).encode()
                                 if body is not None else None, hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data, status, rh = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        data, status, rh = e.read(), e.code, e.headers
    return status, rh, json.loads(data) if data else None


def issue_token(url, user, password, project=None):
    """(token, token body) of a password authentication scoped to the user's project."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project or PROJECT_OF[user],
                              "domain": {"id": "default"}}}}}
    st, hd, doc = keystone_request(url, "POST", "/auth/tokens", body)
    if st != 201:
        raise RuntimeError("Keystone refused a token for %s: %s %s" % (user, st, doc))
    return hd["X-Subject-Token"], doc["token"]


class KeystoneTestCase(StackTestCase):
    """A deployment whose shim validates tokens with the throwaway Keystone (or with the one
    keystone_url() names). self.token(user) is a token of that user, issued once per class;
    self.project_id[name] and self.user_id[name] are Keystone's ids."""

    auth_strategy = "keystone"
    token_cache_time = 300
    # Further [keystone_authtoken] keys of a class.
    authtoken_options = {}

    @classmethod
    def keystone_url(cls):
        """Where the shim validates tokens (a subclass may start a Keystone of its own)."""
        return cls.ks["VOLMGR_KEYSTONE_URL"]

    @classmethod
    def _build(cls):
        cls.ks = load_keystone_env()
        cls.ks_url = cls.ks["VOLMGR_KEYSTONE_URL"]
        cls.ks_password = cls.ks["VOLMGR_KEYSTONE_PASSWORD"]
        cls._tokens = {}
        cls.project_id, cls.user_id = {}, {}
        for user in PROJECT_OF:
            cls.class_token(user)
        cls.extra_sections = dict(cls.extra_sections)
        cls.extra_sections["keystone_authtoken"] = {
            "www_authenticate_uri": cls.ks_url,
            "auth_url": cls.keystone_url(),
            "auth_type": "password",
            "username": "cinder",
            "password": cls.ks_password,
            "project_name": "service",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "service_token_roles": "service",
            "token_cache_time": str(cls.token_cache_time),
            "http_connect_timeout": "2",
        }
        cls.extra_sections["keystone_authtoken"].update(cls.authtoken_options)
        super()._build()

    @classmethod
    def class_token(cls, user):
        if user not in cls._tokens:
            token, body = issue_token(cls.ks_url, user, cls.ks_password)
            cls._tokens[user] = token
            cls.project_id[PROJECT_OF[user]] = body["project"]["id"]
            cls.user_id[user] = body["user"]["id"]
        return cls._tokens[user]

    def token(self, user):
        return self.class_token(user)

    def new_token(self, user):
        """A token of user issued now (not the class's shared one)."""
        return issue_token(self.ks_url, user, self.ks_password)[0]

    def revoke(self, token):
        st, _, doc = keystone_request(self.ks_url, "DELETE", "/auth/tokens", headers={
            "X-Auth-Token": self.token("admin"), "X-Subject-Token": token})
        self.assertEqual(st, 204, "revoking a token: %s %s" % (st, doc))

    def as_user(self, user, method, path, body=None, project=None, headers=None, **kw):
        """A request with user's token to /v3/<project><path> (project: the user's own)."""
        project = project or self.project_id[PROJECT_OF[user]]
        return self.http(method, "/v3/%s%s" % (project, path), body=body,
                         token=self.token(user), headers=headers, **kw)

    def create_as(self, user, size=1):
        st, _, doc = self.as_user(user, "POST", "/volumes",
                                  {"volume": {"size": size, "name": "ks-vol"}})
        self.assertEqual(st, 202, "create as %s: %s %s" % (user, st, doc))
        vid = doc["volume"]["id"]
        self.wait_status(vid, "available", timeout=8)
        return vid


class OwnKeystoneTestCase(KeystoneTestCase):
    """A KeystoneTestCase whose shim talks to a second Keystone server of the class's own:
    the same database and keys as the shared one (so tokens of either are valid at both),
    tokens that expire after token_expiration seconds, and a server a test may stop
    (stop_own_keystone) without disturbing the other classes."""

    token_expiration = 3600

    @classmethod
    def keystone_url(cls):
        return "http://127.0.0.1:%d/v3" % cls.own_port

    @classmethod
    def _build(cls):
        cls.own_port = free_port()
        super()._build()
        cls.start_own_keystone()

    @classmethod
    def start_own_keystone(cls):
        with open(cls.ks["VOLMGR_KEYSTONE_CONF"]) as f:
            text = f.read()
        text = re.sub(r"(?m)^expiration = .*$", "expiration = %d" % cls.token_expiration, text)
        text = re.sub(r"(?m)^log_file = .*$",
                      "log_file = %s" % os.path.join(cls.log_dir, "keystone-own.log"), text)
        conf = os.path.join(cls.tmp, "keystone.conf")
        with open(conf, "w") as f:
            f.write(text)
        cls._start("keystone", [PYTHON, os.path.join(REPO, "scripts", "keystone_wsgi.py"),
                                conf, str(cls.own_port)])
        cls._wait_until("the class's own Keystone answers",
                        lambda: keystone_request(cls.keystone_url(), "GET", "")[0] == 200)

    def stop_own_keystone(self):
        """Stops the class's Keystone; a cleanup starts it again for the tests after."""
        proc = self._proc("keystone")
        proc.terminate()
        proc.wait(timeout=10)
        self.forget(proc)
        self.addCleanup(self.start_own_keystone)

    def own_token(self, user):
        """A token of user issued now by the class's own Keystone (token_expiration)."""
        return issue_token(self.keystone_url(), user, self.ks_password)[0]
