"""The HTTP side of a test deployment: requests to the api-shim (volumes, actions, Cinder's
fault bodies) and to the compute stand-in's control routes.

ApiMixin expects of the class that composes it: api_root, stub_root, PROJECT, USER, and the
wait_status() method of the database part.
"""

import http.client
import json
import socket
import urllib.parse

from harness_env import DEFAULT


class ApiMixin:

    def raw_connection(self):
        """A plain TCP connection to the shim, closed when the test ends, for requests that
        http.client cannot send (a head without its body, a trickle)."""
        sock = socket.create_connection(("127.0.0.1", self.shim_port), timeout=10)
        self.addCleanup(sock.close)
        return sock

    @staticmethod
    def read_head(sock):
        """The bytes read from sock up to the end of an answer's head (or the connection's)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data
    """Requests to the shim and to the compute stub."""

    @staticmethod
    def _request(root, method, path, body=None, token=None, roles=None, version=None,
                 headers=None, timeout=15):
        """(status, headers, json or text) of one request, or (None, None, None) when the
        server did not answer."""
        p = urllib.parse.urlsplit(root)
        conn = http.client.HTTPConnection(p.hostname, p.port, timeout=timeout)
        hdrs = {"Accept": "application/json"}
        if token is not None:
            hdrs["X-Auth-Token"] = token
        if roles:
            hdrs["X-Roles"] = roles if isinstance(roles, str) else ",".join(roles)
        if version is not None:
            hdrs["OpenStack-API-Version"] = "volume %s" % version
        data = None
        if body is not None:
            if isinstance(body, bytes):
                data = body
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            status, rheaders = resp.status, resp.headers
        except (OSError, http.client.HTTPException):
            conn.close()
            return None, None, None
        conn.close()
        doc = None
        if raw:
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = raw.decode("utf-8", "replace")
        return status, rheaders, doc

    @classmethod
    def _shim_ready(cls):
        st, _, _ = cls._request(cls.api_root, "GET", "/", token=None)
        return st is not None and st > 0

    @classmethod
    def _stub_ready(cls):
        st, _, _ = cls._request(cls.stub_root, "GET", "/_fixture/events")
        return st == 200

    # ---- the shim ----

    def http(self, method, path, body=None, token=DEFAULT, roles=None, version=None,
             headers=None):
        """(status, headers, json) of a request to the shim. path is absolute ("/v3/...").
        token defaults to "<USER>:<PROJECT>" (None: no X-Auth-Token). headers is an
        email.message.Message (case-insensitive get)."""
        if token is DEFAULT:
            token = "%s:%s" % (self.USER, self.PROJECT)
        st, hd, doc = self._request(self.api_root, method, path, body=body, token=token,
                                    roles=roles, version=version, headers=headers)
        if st is None:
            self.fail("api-shim did not answer %s %s" % (method, path))
        return st, hd, doc

    def admin(self, method, path, body=None, project=None, **kw):
        return self.http(method, path, body=body, token="admin:%s" % (project or self.PROJECT),
                         **kw)

    def vpath(self, volume_id, project=None, suffix=""):
        return "/v3/%s/volumes/%s%s" % (project or self.PROJECT, volume_id, suffix)

    def action(self, volume_id, body, project=None, token=None, **kw):
        project = project or self.PROJECT
        return self.http("POST", self.vpath(volume_id, project, "/action"), body=body,
                         token=token or "%s:%s" % (self.USER, project), **kw)

    def admin_action(self, volume_id, body, project=None, **kw):
        project = project or self.PROJECT
        return self.action(volume_id, body, project=project, token="admin:%s" % project, **kw)

    def extend(self, volume_id, new_size, project=None, **kw):
        return self.action(volume_id, {"os-extend": {"new_size": new_size}}, project=project,
                           **kw)

    def complete(self, volume_id, error=False, project=None, **kw):
        inner = {} if error is Ellipsis else {"error": error}
        return self.admin_action(volume_id, {"os-extend_volume_completion": inner},
                                 project=project, **kw)

    def reset_status(self, volume_id, status, project=None, **kw):
        return self.admin_action(volume_id, {"os-reset_status": {"status": status}},
                                 project=project, **kw)

    def get_volume(self, volume_id, project=None, admin=True):
        project = project or self.PROJECT
        token = "admin:%s" % project if admin else "%s:%s" % (self.USER, project)
        st, _, doc = self.http("GET", self.vpath(volume_id, project), token=token)
        self.assertEqual(st, 200, "GET volume %s: %s %s" % (volume_id, st, doc))
        return doc["volume"]

    def create_volume(self, size=1, project=None, name=None, volume_type=None, wait=True):
        project = project or self.PROJECT
        body = {"volume": {"size": size, "name": name or "it-vol"}}
        if volume_type:
            body["volume"]["volume_type"] = volume_type
        st, _, doc = self.http("POST", "/v3/%s/volumes" % project, body=body,
                               token="%s:%s" % (self.USER, project))
        self.assertIn(st, (200, 202), "create volume: %s %s" % (st, doc))
        vid = doc["volume"]["id"]
        if wait:
            self.wait_status(vid, "available", timeout=8)
        return vid

    def assertFault(self, status, doc, code, name=None, contains=None):
        """A Cinder fault body {"<name>": {"code": code, "message": ...}}."""
        self.assertEqual(status, code, "expected HTTP %d, got %d: %s" % (code, status, doc))
        self.assertIsInstance(doc, dict, "fault body is not a JSON object: %r" % (doc,))
        self.assertEqual(len(doc), 1, "fault body must have one key: %r" % (doc,))
        fname, inner = next(iter(doc.items()))
        if name:
            self.assertEqual(fname, name, "fault name: %r" % (doc,))
        self.assertEqual(inner.get("code"), code, "fault code: %r" % (doc,))
        self.assertIsInstance(inner.get("message"), str, "fault message: %r" % (doc,))
        if contains is not None:
            for piece in ([contains] if isinstance(contains, str) else contains):
                self.assertIn(piece, inner["message"], "fault message: %r" % (doc,))
        return inner["message"]

    # ---- compute stub control ----

    def stub(self, method, path, body=None):
        st, _, doc = self._request(self.stub_root, method, path, body=body)
        self.assertEqual(st, 200, "compute stub %s %s: %s %s" % (method, path, st, doc))
        return doc

    def stub_reset(self):
        self.stub("POST", "/_fixture/reset")

    def stub_mode(self, mode="ok", **kw):
        body = {"mode": mode}
        body.update(kw)
        self.stub("POST", "/_fixture/mode", body)

    def stub_events(self):
        return self.stub("GET", "/_fixture/events")["events"]

    def stub_swaps(self):
        """The swap requests (Nova's swap_volume) the stub received, with their outcome."""
        return self.stub("GET", "/_fixture/swaps")["swaps"]
