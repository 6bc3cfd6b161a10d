"""Secrets stay secret (issue 11): a 503 body names no internal detail (the compute endpoint's
URL and its credentials, the broker's address, vhost and exchange): the reason goes to the
shim's log, masked, under the request id the body gives. The token file of the tokenfile
strategy is refused at start when group or others may read it, and is read again on SIGHUP.
Each test starts a shim of its own next to the class's, on its own port, and stops it by pid.
"""

import json
import os
import signal
import time
import uuid

import msgpack   # Debian python3-msgpack
import pika

from harness import (BIN, STARTUP_TIMEOUT, StackTestCase, cast_message, completion_cast,
                     context_dict, free_port, read_text, unpack, volume_primitive)

CONNECTOR = {"host": "compute1", "ip": "127.0.0.1", "initiator": None}
COMPUTE_USER = "nova-svc"
COMPUTE_PASSWORD = "Pw-" + uuid.uuid4().hex


class SecretsTest(StackTestCase):

    # ---- a second shim ----

    def start_shim(self, name, auth=None, env=None):
        """Starts another bin/api-shim as name with the class's configuration on a free port,
        its [api] auth_strategy line replaced by the lines of auth (a list) when given, and env
        added to its environment. Returns (Popen, root URL, log path); the shim is stopped by
        pid when the test ends."""
        port = free_port()
        text = self._config_text().replace("port = %d" % self.shim_port, "port = %d" % port)
        if auth:
            text = text.replace("auth_strategy = noauth", "\n".join(auth))
        config = os.path.join(self.tmp, name + ".conf")
        with open(config, "w") as f:
            f.write(text)
        proc = self._start(name, [os.path.join(BIN, "api-shim"), "--config-file", config],
                           env=env)
        self.addCleanup(self._stop_shim, proc)
        return proc, "http://127.0.0.1:%d" % port, os.path.join(self.log_dir, name + ".log")

    def _stop_shim(self, proc):
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=15)
        self.forget(proc)

    def wait_shim(self, proc, root):
        self.poll(lambda: proc.poll() is not None or
                  self._request(root, "GET", "/")[0] is not None,
                  timeout=STARTUP_TIMEOUT, msg="the second shim answers GET /")
        self.assertIsNone(proc.poll(), "the second shim exited")

    def token_file(self, text, mode, path=None):
        """Writes text to path (default: a new file in the class's directory) with mode, in
        one rename, so that a shim never reads half a file. Returns the path."""
        path = path or os.path.join(self.tmp, "tokens-" + uuid.uuid4().hex[:8])
        tmp = path + ".new"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        return path

    def attach_with_connection(self, vid):
        """os-reserve, os-initialize_connection and os-attach through the class's shim: an
        attachment with an instance and a connection, which a user's detach must ask the
        compute API about. Returns the attachment id."""
        for name, params, code in (
                ("os-reserve", {}, 202),
                ("os-initialize_connection", {"connector": CONNECTOR}, 200),
                ("os-attach", {"instance_uuid": str(uuid.uuid4()), "mountpoint": "/dev/vdb"},
                 202)):
            st, _, doc = self.action(vid, {name: params})
            self.assertEqual(st, code, "%s: %s %s" % (name, st, doc))
        return self.sql_value("SELECT id FROM volume_attachment WHERE volume_id = %s AND "
                              "NOT deleted", (vid,))

    def tokenfile_auth(self, path):
        return ["auth_strategy = tokenfile", "token_file = %s" % path]

    # ---- error bodies ----

    def test_error_body_hides_the_compute_endpoint_and_its_credentials(self):
        # Nothing listens on that port: the 409 guard's compute call fails to connect, and the
        # error text names the URL, credentials included.
        dead_port = free_port()
        url = "http://%s:%s@127.0.0.1:%d/v2.1" % (COMPUTE_USER, COMPUTE_PASSWORD, dead_port)
        proc, root, log = self.start_shim("api-shim-compute", env={"VOLMGR_COMPUTE_URL": url})
        self.wait_shim(proc, root)
        vid = self.create_volume()
        aid = self.attach_with_connection(vid)

        st, hdrs, doc = self._request(root, "POST", self.vpath(vid, suffix="/action"),
                                      body={"os-detach": {"attachment_id": aid}},
                                      token="%s:%s" % (self.USER, self.PROJECT))
        message = self.assertFault(st, doc, 503, "serviceUnavailable")
        request_id = hdrs.get("x-openstack-request-id")
        self.assertEqual(message, "Service temporarily unavailable. Request %s." % request_id)
        body = json.dumps(doc)
        for detail in (COMPUTE_PASSWORD, COMPUTE_USER, str(dead_port), "127.0.0.1", "/v2.1"):
            self.assertNotIn(detail, body)
        self.assertEqual(self.status_of(vid), "in-use", "the detach did not happen")

        # The operator finds the reason under the request id, the password masked. The line
        # is written before the reply is sent.
        text = read_text(log)
        lines = [l for l in text.splitlines() if "503 for request %s" % request_id in l]
        self.assertEqual(len(lines), 1, text[-2000:])
        self.assertIn("%s:***@127.0.0.1:%d/v2.1" % (COMPUTE_USER, dead_port), lines[0])
        self.assertNotIn(COMPUTE_PASSWORD, text)

    def test_error_body_hides_the_broker(self):
        dead_port = free_port()
        url = "amqp://volmgr:%s@127.0.0.1:%d/secret-vhost" % (COMPUTE_PASSWORD, dead_port)
        proc, root, log = self.start_shim("api-shim-broker", env={"VOLMGR_TRANSPORT_URL": url})
        self.wait_shim(proc, root)
        st, hdrs, doc = self._request(root, "POST", "/v3/%s/volumes" % self.PROJECT,
                                      body={"volume": {"size": 1}},
                                      token="%s:%s" % (self.USER, self.PROJECT))
        message = self.assertFault(st, doc, 503, "serviceUnavailable")
        request_id = hdrs.get("x-openstack-request-id")
        self.assertEqual(message, "Service temporarily unavailable. Request %s." % request_id)
        body = json.dumps(doc)
        for detail in (COMPUTE_PASSWORD, str(dead_port), "127.0.0.1", "secret-vhost",
                       self.exchange, "cinder-volume"):
            self.assertNotIn(detail, body)
        text = read_text(log)
        self.assertIn("503 for request %s: cannot connect to the message broker" % request_id,
                      text)
        self.assertNotIn(COMPUTE_PASSWORD, text)

    # ---- the token file ----

    def test_token_file_open_to_others_stops_the_shim_at_start(self):
        path = self.token_file("tok-open %s %s member\n" % (self.USER, self.PROJECT), 0o644)
        proc, _, log = self.start_shim("api-shim-open-tokens", auth=self.tokenfile_auth(path))
        rc = proc.wait(timeout=STARTUP_TIMEOUT)
        self.assertNotEqual(rc, 0)
        text = read_text(log)
        self.assertIn("[api] token_file %s has mode 0644" % path, text)
        self.assertIn("must not be readable or writable by group or others", text)
        self.assertNotIn("tok-open", text)

    def test_token_file_is_reloaded_on_sighup(self):
        line = "%s " + "%s %s member\n" % (self.USER, self.PROJECT)
        path = self.token_file(line % "tok-before", 0o600)
        proc, root, log = self.start_shim("api-shim-tokens", auth=self.tokenfile_auth(path))
        self.wait_shim(proc, root)

        def status(token):
            return self._request(root, "GET", "/v3/%s/volumes" % self.PROJECT, token=token)[0]

        self.assertEqual(status("tok-before"), 200)
        self.assertEqual(status("tok-after"), 401)

        self.token_file(line % "tok-after", 0o600, path=path)
        proc.send_signal(signal.SIGHUP)
        self.poll(lambda: status("tok-after") == 200, timeout=10,
                  msg="the token added to the file works after SIGHUP")
        self.assertEqual(status("tok-before"), 401, "the removed token stopped working")

        # A file that others may read is refused on reload too: the tokens in force stay.
        self.token_file(line % "tok-third", 0o644, path=path)
        proc.send_signal(signal.SIGHUP)
        self.poll(lambda: "the token file was not reloaded" in read_text(log), timeout=10,
                  msg="the shim logs the refused reload")
        self.assertEqual(status("tok-after"), 200)
        self.assertEqual(status("tok-third"), 401)
        self.assertIsNone(proc.poll(), "a refused reload does not stop the shim")


class TokensKeptOutTest(StackTestCase):
    """What volmgr publishes and dead-letters carries no caller's token (issue 11)."""

    dead_letters_purged = True

    def test_a_dead_letter_has_no_token(self):
        token = "gAAAAA-secret-" + uuid.uuid4().hex
        ctx = dict(context_dict("admin", self.PROJECT, is_admin=True), auth_token=token)
        vid = str(uuid.uuid4())
        # Poison: an extend of a size no volume can have is refused by the schema.
        msg = cast_message("extend_volume", {"volume": volume_primitive(vid),
                                             "new_size": 0, "reservations": []},
                           context=ctx)
        self.publish(msg)
        props, body = self.poll(lambda: self.take_dead_letter(contains=vid.encode()),
                                timeout=10, msg="the dead letter")
        self.assertNotIn(token.encode(), body)
        got = unpack(body)
        self.assertIsNone(got["_context_auth_token"])
        self.assertEqual(got["_context_project_id"], self.PROJECT, "the rest is kept")

    def test_the_shims_casts_carry_no_token(self):
        queue = self.capture_queue()
        vid = self.create_volume()
        st, _, _ = self.extend(vid, 2, token="%s:%s" % (self.USER, self.PROJECT))
        self.assertEqual(st, 202)
        msg, body, _ = self.captured(queue, method="extend_volume")
        self.assertIn("_context_auth_token", msg)
        self.assertIsNone(msg["_context_auth_token"])
        self.assertNotIn(b"%s:%s" % (self.USER.encode(), self.PROJECT.encode()), body)
        self.assertEqual(msg["_context_user_id"], self.USER, "the rest of the context is sent")


class JournalTokenTest(StackTestCase):
    """The journal keeps no caller's token: the shim's casts carry none, and the manager relays
    what it receives to the journal with the token of another publisher (a real cinder-api
    sends one in every cast) replaced by null. The stream is not bound to the exchange, so the
    broker keeps nothing there on its own."""

    journal = True

    def journal_until(self, done):
        """The bodies of the messages the journal stream holds from its start (the records of
        the manager's batches), read until done(bodies) is true or ten seconds passed."""
        bodies = []
        with self.amqp() as ch:
            ch.basic_qos(prefetch_count=64)

            def take(channel, method, props, body):
                if props.content_type == "application/x-volmgr-journal":
                    # A sequence of [exchange, routing_key, content_type, message_id, body].
                    unpacker = msgpack.Unpacker(raw=False)
                    unpacker.feed(body)
                    bodies.extend(rec[4] for rec in unpacker)
                else:
                    bodies.append(body)
                channel.basic_ack(method.delivery_tag)

            ch.basic_consume(queue=self.exchange + ".journal", on_message_callback=take,
                             arguments={"x-stream-offset": "first"})
            deadline = time.monotonic() + 10
            while not done(bodies) and time.monotonic() < deadline:
                ch.connection.process_data_events(time_limit=0.5)
        return bodies

    def test_the_journal_holds_no_token_of_the_shims_casts(self):
        token = "%s:%s" % (self.USER, self.PROJECT)
        vid = self.create_volume()
        st, _, _ = self.extend(vid, 2, token=token)
        self.assertEqual(st, 202)

        def extend_of(body):
            msg = unpack(body)
            return (msg.get("method") == "extend_volume" and
                    msg["args"]["volume"]["versioned_object.data"]["id"] == vid)

        bodies = self.journal_until(lambda got: any(extend_of(b) for b in got))
        self.assertTrue(any(extend_of(b) for b in bodies), "the extend cast in the journal")
        for body in bodies:
            self.assertNotIn(token.encode(), body)
            self.assertIsNone(unpack(body).get("_context_auth_token"))

    def test_the_journal_keeps_no_token_of_other_publishers(self):
        secret = "gAAAAA-a-real-cinder-api-token"
        vid = self.insert_volume(size=1, status="extending", previous_status="available")
        ctx = context_dict("admin", self.PROJECT, is_admin=True)
        ctx["auth_token"] = secret
        # No queue takes what no service listens for: a journal bound to the exchange would.
        with self.assertRaises(pika.exceptions.UnroutableError):
            self.publish({"unbound": secret}, routing_key="volmgr-it.nobody-listens")
        self.publish(completion_cast(vid, 2, [], True, context=ctx))
        self.wait_status(vid, "error_extending")

        def completion_of(body):
            msg = unpack(body)
            return (msg.get("method") == "extend_volume_completion" and
                    msg["args"]["volume"]["versioned_object.data"]["id"] == vid)

        bodies = self.journal_until(lambda got: any(completion_of(b) for b in got))
        kept = [b for b in bodies if completion_of(b)]
        self.assertEqual(len(kept), 1, "the completion relayed to the journal once")
        self.assertIn("_context_auth_token", unpack(kept[0]))
        self.assertIsNone(unpack(kept[0])["_context_auth_token"])
        self.assertEqual(unpack(kept[0])["_context_user_id"], "admin", "the rest is kept")
        for body in bodies:
            self.assertNotIn(secret.encode(), body)
