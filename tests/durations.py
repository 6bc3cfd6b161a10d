#!/usr/bin/python3
"""Runs unittest suites as `python3 -m unittest discover -v` does and then reports where the
time went: per test file, per class (its setUpClass and tearDownClass apart from its tests)
and the slowest tests, so that a slow suite can be cut where it costs.

    /usr/bin/python3 tests/durations.py -s DIR [-p PATTERN] [--top N]

The unittest output comes first and is unchanged, so scripts/run-tests.sh counts it as it
counts discover's; the report follows it, every line starting with "durations:".
Python 3.12's own --durations reports tests only, and this machine runs 3.11.
"""

import argparse
import sys
import time
import unittest
import unittest.suite

# Class fixtures are timed by wrapping the suite's own hooks, because a result object is not
# told when setUpClass or tearDownClass run.  Keyed by class; values are seconds.
_class_setup = {}
_class_teardown = {}


def _timed_hook(original, table, pick_class):
    """Wraps a TestSuite class-fixture hook so that its run time is added to table under the
    class pick_class names (None: nothing to time)."""
    def hook(self, test, result):
        cls = pick_class(test, result)
        start = time.monotonic()
        try:
            return original(self, test, result)
        finally:
            if cls is not None:
                table[cls] = table.get(cls, 0.0) + time.monotonic() - start
    return hook


def _setup_class(test, result):
    # The hook sets a class up only when the test's class differs from the previous one.
    cls = test.__class__
    return None if getattr(result, "_previousTestClass", None) is cls else cls


def _teardown_class(test, result):
    prev = getattr(result, "_previousTestClass", None)
    return None if prev is None or prev is test.__class__ else prev


def install_fixture_timers():
    """Wraps unittest's class-fixture hooks once; later calls do nothing."""
    suite_cls = unittest.suite.TestSuite
    if getattr(suite_cls, "_durations_installed", False):
        return
    suite_cls._handleClassSetUp = _timed_hook(suite_cls._handleClassSetUp, _class_setup,
                                              _setup_class)
    suite_cls._tearDownPreviousClass = _timed_hook(suite_cls._tearDownPreviousClass,
                                                   _class_teardown, _teardown_class)
    suite_cls._durations_installed = True


class TimedResult(unittest.TextTestResult):
    """A verbose text result that also records each test's wall time (setUp to tearDown)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.test_times = []
        self._started = None

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        if self._started is not None:
            self.test_times.append((time.monotonic() - self._started, test))
            self._started = None


def report(result, top, out):
    """Prints per file, per class and per test durations of result, the slowest first."""
    tests_by_class = {}
    for secs, test in result.test_times:
        tests_by_class.setdefault(test.__class__, []).append(secs)
    classes = set(tests_by_class) | set(_class_setup) | set(_class_teardown)
    rows = []
    for cls in classes:
        setup = _class_setup.get(cls, 0.0)
        teardown = _class_teardown.get(cls, 0.0)
        tests = sum(tests_by_class.get(cls, []))
        rows.append((setup + tests + teardown, setup, tests, teardown,
                     len(tests_by_class.get(cls, [])), cls))
    by_file = {}
    for total, setup, tests, teardown, _, cls in rows:
        f = by_file.setdefault(cls.__module__, [0.0, 0.0])
        f[0] += total
        f[1] += setup + teardown
    w = out.write
    w("\ndurations: per file (total s, of it class set-up and tear-down s)\n")
    for mod, (total, fixtures) in sorted(by_file.items(), key=lambda kv: -kv[1][0]):
        w("durations: %8.1f %8.1f  %s\n" % (total, fixtures, mod))
    w("durations: per class (total, setUpClass, tests, tearDownClass s; test count)\n")
    for total, setup, tests, teardown, n, cls in sorted(rows, key=lambda r: -r[0])[:top]:
        w("durations: %8.1f %8.1f %8.1f %8.1f %4d  %s.%s\n"
          % (total, setup, tests, teardown, n, cls.__module__, cls.__qualname__))
    w("durations: slowest tests (s)\n")
    for secs, test in sorted(result.test_times, key=lambda t: -t[0])[:top]:
        w("durations: %8.1f  %s\n" % (secs, test.id()))
    all_fixtures = sum(_class_setup.values()) + sum(_class_teardown.values())
    all_tests = sum(s for s, _ in result.test_times)
    w("durations: sum %.1f s = class fixtures %.1f s + tests %.1f s\n"
      % (all_fixtures + all_tests, all_fixtures, all_tests))


def run(suite, top):
    """Runs suite verbosely, prints the report and returns the result."""
    install_fixture_timers()
    runner = unittest.TextTestRunner(verbosity=2, resultclass=TimedResult)
    result = runner.run(suite)
    report(result, top, sys.stderr)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-s", "--start", required=True, help="directory to discover in")
    ap.add_argument("-p", "--pattern", default="test_*.py")
    ap.add_argument("--top", type=int, default=40, help="classes and tests to list")
    args = ap.parse_args()
    loaded = unittest.defaultTestLoader.discover(args.start, pattern=args.pattern,
                                                 top_level_dir=args.start)
    return 0 if run(loaded, args.top).wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
