"""Hostile request bodies are bounded before jansson builds anything (issue 11): the same
pre-scan limits as messages (size, depth, element count) answer 413, and the shim serves the
next request as before.
"""

import uuid

from harness import StackTestCase


class HostileBodyTest(StackTestCase):

    def post_action(self, body):
        return self.http("POST", self.vpath(str(uuid.uuid4()), suffix="/action"), body=body)

    def test_a_body_of_empty_objects_is_refused_unparsed(self):
        body = b"[" + b",".join([b"{}"] * (1024 * 1024 // 3 - 1)) + b"]"
        self.assertLess(len(body), 1024 * 1024)
        st, _, doc = self.post_action(body)
        self.assertFault(st, doc, 413, contains="Request is too large.")

    def test_deep_nesting_is_refused(self):
        st, _, doc = self.post_action(b'{"os-extend": ' + b"[" * 40 + b"]" * 40 + b"}")
        self.assertFault(st, doc, 413, contains="Request is too large.")
        # Within the depth, the action's own validation answers as before.
        st, _, doc = self.post_action({"os-extend": {"new_size": [[[[1]]]]}})
        self.assertFault(st, doc, 400, "badRequest", "is not of type 'integer', 'string'")

    def test_the_shim_serves_on(self):
        for _ in range(3):
            st, _, _ = self.post_action(b"[" + b"0," * 5000 + b"0]")
            self.assertEqual(st, 413)
        st, _, doc = self.http("GET", "/", token=None)
        self.assertEqual(st, 300, doc)
        st, _, doc = self.post_action(b"{not json")
        self.assertFault(st, doc, 400, "badRequest", "Malformed request body")
