#!/usr/bin/python3
"""The runner behind `make test-interop` (which installs python3-cinder and
python3-oslo.messaging and builds first).

Starts a throwaway RabbitMQ and PostgreSQL (scripts/stack.sh start) in
$VOLMGR_INTEROP_STACK_DIR (default .stack/interop) and a throwaway Glance on it
(scripts/glance-stack.py, its env file exported as VOLMGR_GLANCE_ENV), runs every tests/interop/test_*.py with
unittest (VOLMGR_INTEROP_PATTERN, e.g. test_scheduler.py, runs fewer), stops the stack by pid, and ends with one line "N passed, N failed" (errors count
as failed, skips as neither). Exits 1 when anything failed.
"""

import os
import subprocess
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK = os.path.join(REPO, "scripts", "stack.sh")
GLANCE = [sys.executable, os.path.join(REPO, "scripts", "glance-stack.py")]
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness  # noqa: E402  (the stack's env file, read as the integration tests read it)


def main():
    stack_dir = os.environ.get("VOLMGR_INTEROP_STACK_DIR",
                               os.path.join(REPO, ".stack", "interop"))
    if subprocess.run([STACK, "start", stack_dir]).returncode != 0:
        print("interop: the stack did not start")
        print("0 passed, 1 failed")
        return 1
    try:
        os.environ["VOLMGR_STACK_ENV"] = os.path.join(stack_dir, "env")
        os.environ.update(harness.load_stack_env())
        # The image tests fail (never skip) when Glance is missing.
        if subprocess.run(GLANCE + ["start", stack_dir]).returncode == 0:
            os.environ["VOLMGR_GLANCE_ENV"] = os.path.join(stack_dir, "glance", "env")
        here = os.path.dirname(os.path.abspath(__file__))
        pattern = os.environ.get("VOLMGR_INTEROP_PATTERN", "test_*.py")
        suite = unittest.defaultTestLoader.discover(here, pattern=pattern, top_level_dir=here)
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    finally:
        subprocess.run(GLANCE + ["stop", stack_dir])
        subprocess.run([STACK, "stop", stack_dir])
    bad = [t for t, _ in result.failures + result.errors] + result.unexpectedSuccesses
    failed = len(bad)
    # A class whose set-up failed ran none of its tests: it counts once, as failed.
    passed = result.testsRun - len(result.skipped) - sum(
        isinstance(t, unittest.TestCase) for t in bad)
    print("\n%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
