"""noauth is honest (issue 13): it trusts every caller, so the shim refuses to listen on an
address other than loopback unless [api] noauth_allow_remote = true, and warns at start."""

import os
import re
import subprocess

from harness import BIN, StackTestCase, free_port, read_text


class NoauthListenTest(StackTestCase):

    def shim_with(self, listen, allow=None):
        """Runs a second shim on this class's configuration with [api] listen (and
        noauth_allow_remote) changed, until it exits or listens (then it is stopped).
        Returns (exit code, or None when it listened; its output)."""
        with open(self.config_file) as f:
            text = f.read()
        text = re.sub(r"(?m)^listen = .*$", "listen = %s" % listen, text)
        text = re.sub(r"(?m)^port = .*$", "port = %d" % free_port(), text)
        if allow is not None:
            text = text.replace("[api]\n", "[api]\nnoauth_allow_remote = %s\n" % allow)
        path = os.path.join(self.tmp, "listen.conf")
        with open(path, "w") as f:
            f.write(text)
        log = os.path.join(self.tmp, "listen.log")
        with open(log, "w") as out:
            p = subprocess.Popen([os.path.join(BIN, "api-shim"), "--config-file", path],
                                 stdout=out, stderr=subprocess.STDOUT, env=self.proc_env,
                                 start_new_session=True)
        try:
            self.poll(lambda: p.poll() is not None or "listening on" in read_text(log),
                      timeout=15, msg="the shim exits or listens")
            listened = p.poll() is None
        finally:
            if p.poll() is None:
                p.terminate()
            p.wait(timeout=15)
        return None if listened else p.returncode, read_text(log)

    def test_refuses_a_remote_address(self):
        for listen in ("0.0.0.0", "::"):
            rc, out = self.shim_with(listen)
            self.assertEqual(rc, 1, out)
            self.assertIn("noauth_allow_remote", out)
            self.assertNotIn("listening on", out)

    def test_loopback_warns_and_remote_may_be_allowed(self):
        self.assertIn("auth: noauth trusts", self.log_text(self._proc("api-shim")))
        rc, out = self.shim_with("0.0.0.0", allow="true")
        self.assertIsNone(rc, "the shim exited: %s" % out)
        self.assertIn("listening on 0.0.0.0", out)
        self.assertIn("auth: noauth trusts", out)
