"""Glance for the integration tests: the throwaway image service that scripts/run-tests.sh
starts once per run (scripts/glance-stack.py; its env file is VOLMGR_GLANCE_ENV, default
<stack dir>/glance/env), a small client of its v2 API, and GlanceMixin: a deployment whose
[glance] api_servers names it.
"""

import json
import urllib.error
import urllib.request

from harness_env import free_port, load_service_env

GLANCE_TIMEOUT = 30


def load_glance_env():
    """The variables of the Glance env file (harness_env.load_service_env)."""
    return load_service_env("glance", "the image tests need the throwaway Glance")


def glance_request(url, method, path, body=None, data=None, raw=False, timeout=GLANCE_TIMEOUT):
    """(status, body) of one request to Glance: body is sent as JSON (a PATCH as Glance's
    json-patch), data as octet-stream; the answer is bytes with raw, else JSON when it
    parses, else bytes."""
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = ("application/openstack-images-v2.1-json-patch"
                                   if method == "PATCH" else "application/json")
    elif data is not None:
        headers["Content-Type"] = "application/octet-stream"
    req = urllib.request.Request(url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, data_in = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, data_in = e.code, e.read()
    if raw:
        return status, data_in
    try:
        return status, json.loads(data_in)
    except ValueError:
        return status, data_in


class GlanceMixin:
    """For a StackTestCase: [glance] api_servers names the throwaway Glance (self.glance_url);
    image helpers that delete, at the end of each test, what they created."""

    glance_options = {}
    # True: [glance] api_servers names a port nobody listens on before the real server, so
    # that every call of both daemons has to go on to the next server.
    glance_dead_server_first = False

    @classmethod
    def _build(cls):
        cls.glance_env = load_glance_env()
        cls.glance_url = cls.glance_env["VOLMGR_GLANCE_URL"]
        servers = cls.glance_url
        if cls.glance_dead_server_first:
            servers = "http://127.0.0.1:%d/, %s" % (free_port(), servers)
        cls.extra_sections = dict(cls.extra_sections)
        cls.extra_sections["glance"] = dict({"api_servers": servers}, **cls.glance_options)
        super()._build()

    def setUp(self):
        super().setUp()
        self._images = []

    def tearDown(self):
        for image_id in self._images:
            self.glance("DELETE", "/v2/images/" + image_id)
        super().tearDown()

    def glance(self, method, path, body=None, data=None, raw=False):
        return glance_request(self.glance_url, method, path, body=body, data=data, raw=raw)

    def create_image(self, data=None, name="it-image", **props):
        """An image of raw bytes data (None: left queued, without data); props are further
        image properties. Returns its id; the image is deleted after the test."""
        body = {"name": name, "disk_format": "raw", "container_format": "bare"}
        body.update(props)
        st, doc = self.glance("POST", "/v2/images", body=body)
        self.assertEqual(st, 201, "glance image create: %s %s" % (st, doc))
        self._images.append(doc["id"])
        if data is not None:
            st, doc2 = self.glance("PUT", "/v2/images/%s/file" % doc["id"], data=data)
            self.assertEqual(st, 204, "glance upload: %s %s" % (st, doc2))
        return doc["id"]

    def forget_image(self, image_id):
        """Deletes image_id after the test too (an image volmgr created)."""
        self._images.append(image_id)

    def image(self, image_id):
        """The image's record, or None when Glance does not know it."""
        st, doc = self.glance("GET", "/v2/images/" + image_id)
        return doc if st == 200 else None
