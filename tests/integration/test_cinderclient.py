"""Debian's python-cinderclient against the api-shim (issue 2: "Real clients work").

The CLI runs as a process of its own (forked by harness_cli's server) with its noauth plugin
(X-Auth-Token "<user>:<project>") at microversion 3.70 (the client predates 3.71); every step
is checked in the database too.
"""

import os
import re
import shutil

from harness import GIB, PYTHON, StackTestCase
from harness_cli import run_cli

UUID_ROW = re.compile(r"^\|\s*id\s*\|\s*([0-9a-f-]{36})\s*\|", re.M)


def cinder_argv():
    """The cinder command as a process of its own runs it (the interop suite's way; the
    integration suites fork it from harness_cli's server, run_cinder)."""
    exe = shutil.which("cinder") or "/usr/bin/cinder"
    if os.path.exists(exe):
        return [exe]
    return [PYTHON, "-m", "cinderclient.shell"]


def run_cinder(test, *args, version="3.70", user=None, ok=True):
    """(exit code, output: stdout, then stderr) of the cinder CLI for test's stack, as test's
    user (or user) in its project at microversion version; with ok, a failure fails test."""
    argv = [
        "--os-auth-type", "noauth",
        "--os-user-id", user or test.USER,
        "--os-project-id", test.PROJECT,
        "--os-endpoint", test.api_root + "/v3",
        "--os-volume-api-version", version,
    ] + list(args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    rc, out, err = run_cli("cinder", argv, env, timeout=60)
    out += err
    if ok:
        test.assertEqual(rc, 0, "cinder %s exited %d:\n%s" % (" ".join(args), rc, out))
    return rc, out


class CinderClientTest(StackTestCase):

    def cinder(self, *args, user=None, ok=True):
        return run_cinder(self, *args, user=user, ok=ok)

    def test_create_list_show_extend_reset_delete(self):
        _, out = self.cinder("create", "--name", "ccvol", "1")
        m = UUID_ROW.search(out)
        self.assertIsNotNone(m, "create printed the id:\n" + out)
        vid = m.group(1)
        self.assertEqual(self.sql_value("SELECT project_id FROM volumes WHERE id = %s", (vid,)),
                         self.PROJECT)
        self.wait_status(vid, "available")
        self.assertEqual(self.file_size(vid), 1 * GIB)

        _, out = self.cinder("list")
        self.assertIn(vid, out)
        self.assertIn("ccvol", out)

        _, out = self.cinder("show", vid)
        self.assertRegex(out, r"\|\s*size\s*\|\s*1\s*\|")
        self.assertRegex(out, r"\|\s*status\s*\|\s*available\s*\|")

        self.cinder("extend", vid, "2")
        self.poll(lambda: self.volume_row(vid)["size"] == 2, msg="size 2 after cinder extend")
        self.wait_status(vid, "available")
        self.assertEqual(self.file_size(vid), 2 * GIB)
        self.assertEqual(self.usage("gigabytes"), (2, 0))
        _, out = self.cinder("show", vid)
        self.assertRegex(out, r"\|\s*size\s*\|\s*2\s*\|")

        # reset-state is admin-only: the plain user is refused, the admin user is not
        rc, out = self.cinder("reset-state", "--state", "error", vid, ok=False)
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(self.status_of(vid), "available")
        self.cinder("reset-state", "--state", "error", vid, user="admin")
        self.assertEqual(self.status_of(vid), "error")
        self.cinder("reset-state", "--state", "available", vid, user="admin")
        self.assertEqual(self.status_of(vid), "available")

        self.cinder("delete", vid)
        self.poll(lambda: self.volume_row(vid)["deleted"], msg="deleted after cinder delete")
        self.poll(lambda: self.file_size(vid) is None, timeout=5, msg="backing file removed")
        self.poll(lambda: self.usage("gigabytes") == (0, 0), timeout=5, msg="quota back")
        _, out = self.cinder("list")
        self.assertNotIn(vid, out)

    def test_extend_refusal_is_reported(self):
        _, out = self.cinder("create", "--name", "ccsmall", "2")
        vid = UUID_ROW.search(out).group(1)
        self.wait_status(vid, "available")
        rc, out = self.cinder("extend", vid, "1", ok=False)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("New size for extend must be greater than current size", out)
        self.assertEqual(self.volume_row(vid)["size"], 2)
