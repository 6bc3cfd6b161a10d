"""Hostile request bodies are bounded before jansson builds anything (issue 11): the same
pre-scan limits as messages (size, depth, element count) answer 413, and the shim serves the
next request as before.
"""

import os
import socket
import threading
import time
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


class EarlyAnswerTest(StackTestCase):
    """What the head decides is answered before the body is read."""

    def test_an_unauthenticated_request_is_refused_before_its_body(self):
        sock = self.raw_connection()
        sock.sendall(b"POST /v3/%s/volumes HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n"
                     % self.PROJECT.encode())
        # Not a byte of the body is sent: the answer comes from the head alone.
        self.assertTrue(self.read_head(sock).startswith(b"HTTP/1.1 401"))

    def test_a_chunked_body_past_the_limit_is_cut_off(self):
        sock = self.raw_connection()
        sock.sendall(b"POST /v3/%s/volumes HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s:%s\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     % (self.PROJECT.encode(), self.USER.encode(), self.PROJECT.encode()))
        piece = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        # Far past the 1 MiB limit, and past what the two ends' socket buffers on loopback
        # can take in (4 MiB once fitted in them), so that only a server that reads it all
        # lets the whole go.
        total = 64 * 1024 * 1024
        sent = 0
        try:
            # Never the last chunk: the server must answer without waiting for the end.
            while sent < total:
                sock.sendall(piece)
                sent += 65536
        except OSError:
            pass  # the server closed the connection after its answer
        try:
            head = self.read_head(sock)
        except OSError:
            head = b""  # a reset may overtake the answer on the client's side
        self.assertLess(sent, total, "the server read the whole body")
        self.assertIn(head[:12], (b"", b"HTTP/1.1 413"))
        # The server's own account: the request was answered 413.
        shim_log = os.path.join(self.log_dir, "api-shim.log")
        self.poll(lambda: '/volumes" status: 413' in open(shim_log).read(), timeout=10,
                  msg="a 413 in the access log")


class WaitingCallsTest(StackTestCase):
    """A request waiting for the manager holds no server thread (issue 11): with the manager
    stopped, twice as many calls as the shim has threads wait, and everything else is served
    meanwhile; the waiting calls get 504 when their time is up."""

    rpc_response_timeout = 6
    CALLS = 16

    def test_waiting_calls_do_not_block_other_requests(self):
        # Reserved volumes written directly: more than the project's volume quota.
        vids = [self.insert_volume(status="attaching", file_gib=1) for _ in range(self.CALLS)]
        results = {}

        def initialize(vid):
            results[vid] = self.http(
                "POST", self.vpath(vid, suffix="/action"),
                {"os-initialize_connection": {"connector": {"host": "compute1"}}})

        with self.manager_held():
            threads = [threading.Thread(target=initialize, args=(v,)) for v in vids]
            started = time.monotonic()
            for t in threads:
                t.start()
            # Every call is out (the broker confirmed it; the manager cannot answer) ...
            self.poll(lambda: self.log_text("api-shim").count("call initialize_connection")
                      >= self.CALLS, timeout=10, msg="%d calls published" % self.CALLS)
            # ... and, while they all still wait, the shim answers the rest at once.
            for _ in range(5):
                t0 = time.monotonic()
                st, _, _ = self.http("GET", "/", token=None)
                self.assertEqual(st, 300)
                st, _, doc = self.http("GET", "/v3/%s/volumes" % self.PROJECT)
                self.assertEqual(st, 200, doc)
                self.assertLess(time.monotonic() - t0, 2.0)
            self.assertEqual(results, {}, "no call was answered yet")
            for t in threads:
                t.join(timeout=self.rpc_response_timeout + 10)
            elapsed = time.monotonic() - started
        self.assertEqual(len(results), self.CALLS)
        for vid, (st, _, doc) in results.items():
            self.assertFault(st, doc, 504, contains="initialize_connection")
        self.assertLess(elapsed, self.rpc_response_timeout + 5,
                        "the calls were answered at their deadline, not one after another")


class SlowClientsTest(StackTestCase):
    """512 connections that trickle their heads a byte a second (slowloris) neither lock other
    clients out nor stay open past their deadline."""

    api_options = {"client_header_timeout": 4, "max_connections_per_address": 256}
    SLOW = 512

    def test_trickling_clients_are_cut_off_and_others_served(self):
        slow = []
        # Two client addresses of the loopback network, 256 connections each.
        for i in range(self.SLOW):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.addCleanup(sock.close)
            sock.bind(("127.0.0.%d" % (2 + i % 2), 0))
            sock.connect(("127.0.0.1", self.shim_port))
            sock.setblocking(False)
            slow.append(sock)
        started = time.monotonic()
        head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 64
        sent = 0
        closed = set()
        served = 0
        while len(closed) < self.SLOW and time.monotonic() - started < 15:
            # One byte a second on every slow connection ...
            for n, sock in enumerate(slow):
                if n in closed:
                    continue
                try:
                    sock.send(head[sent:sent + 1])
                    if sock.recv(1) == b"":
                        closed.add(n)
                except BlockingIOError:
                    pass
                except OSError:
                    closed.add(n)
            sent = min(sent + 1, len(head) - 1)
            # ... while another client is answered at once.
            t0 = time.monotonic()
            st, _, doc = self.http("GET", "/v3/%s/volumes" % self.PROJECT)
            self.assertEqual(st, 200, doc)
            self.assertLess(time.monotonic() - t0, 2.0)
            served += 1
            time.sleep(1.0)  # the trickle's pace, not a synchronisation
        self.assertEqual(len(closed), self.SLOW, "slow connections still open")
        self.assertGreaterEqual(time.monotonic() - started, 3.5, "cut off before the deadline")
        self.assertGreater(served, 2)
        self.poll(lambda: "did not arrive in time" in self.log_text("api-shim"), timeout=5,
                  msg="the sweeper's log line")


class UnsentCallTest(StackTestCase):
    """A call that cannot be sent is answered at once, although its request was suspended
    before the send (so that a fast reply finds it waiting)."""

    def test_an_unroutable_call_gets_its_503_at_once(self):
        vid = self.insert_volume(status="attaching", file_gib=1)
        # No manager consumes for this backend: the mandatory publish comes back.
        self.sql("UPDATE volumes SET host = 'nowhere@nothing' WHERE id = %s", (vid,))
        t0 = time.monotonic()
        st, _, doc = self.action(vid, {"os-initialize_connection":
                                       {"connector": {"host": "compute1"}}})
        self.assertFault(st, doc, 503, contains="Service temporarily unavailable")
        self.assertLess(time.monotonic() - t0, 10, "answered by its own failure, not a timeout")
