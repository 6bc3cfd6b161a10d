"""The processes of a test deployment: starting them with a log file each, finding them by
name, waiting on them under a deadline, holding and stopping them by pid, reading their logs,
running volctl, and the polling every test waits with.

ProcessMixin expects of the class that composes it: tmp (the class's directory), log_dir,
proc_env (the environment of the binaries), config_file and manager_pid.
"""

import atexit
import collections
import contextlib
import os
import signal
import subprocess
import sys
import time

from harness_env import (BIN, LOG_TAIL_LINES, POLL_INTERVAL, STARTUP_TIMEOUT, poll_until,
                         read_text, tail)

# Every process a class started, so that an interrupted run (Ctrl-C skips tearDownClass)
# still stops them at interpreter exit.
_LIVE_PROCS = []
# The lines of each process's log that the end-of-run summary of a failure repeats.
FAILURE_TAIL_LINES = 15


@atexit.register
def _kill_leftovers():
    for proc in _LIVE_PROCS:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)


def thread_states(pid):
    """"threads of PID (N): main STATE WCHAN; STATE WCHAN xCOUNT, ..." for pid and each of
    its children: where a process that stopped answering waits. The other threads are
    counted by state, since a pool's idle threads all wait alike."""
    lines = []
    pids = [pid]
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                pids += [int(c) for c in f.read().split()]
    for p in pids:
        main, others = None, collections.Counter()
        with contextlib.suppress(OSError):
            for tid in os.listdir("/proc/%d/task" % p):
                with contextlib.suppress(OSError):
                    with open("/proc/%d/task/%s/stat" % (p, tid)) as f:
                        st = f.read().rsplit(")", 1)[1].split()[0]
                    with open("/proc/%d/task/%s/wchan" % (p, tid)) as f:
                        st += " " + (f.read().strip() or "-")
                    if int(tid) == p:
                        main = st
                    else:
                        others[st] += 1
        if main is None:
            lines.append("threads of %d: (gone)" % p)
            continue
        lines.append("threads of %d (%d): main %s%s" % (
            p, 1 + sum(others.values()), main,
            "".join("; %s x%d" % kv for kv in sorted(others.items()))))
    return lines


class ProcessMixin:
    """Processes by name and pid, their logs, volctl, and polling with a deadline."""

    # ---- starting, finding, forgetting ----

    @classmethod
    def _start(cls, name, argv, env=None):
        """Starts argv as name in a session of its own, its output appended to
        <log_dir>/<name>.log; env (a dict) is added to the class's proc_env for it alone."""
        log_path = os.path.join(cls.log_dir, name + ".log")
        logf = open(log_path, "ab")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, cwd=cls.tmp,
                                    env=dict(cls.proc_env, **(env or {})),
                                    start_new_session=True)
        finally:
            logf.close()
        cls._procs.append((name, proc, log_path))
        _LIVE_PROCS.append(proc)
        return proc

    @classmethod
    def _proc(cls, name):
        """The process last started under name."""
        for n, p, _ in reversed(cls._procs):
            if n == name:
                return p
        raise KeyError(name)

    @classmethod
    def forget(cls, proc):
        """Drops a process that a test stopped (or expects to exit) from those that the set-up
        waits checks stay alive and that tear-down stops."""
        cls._procs = [p for p in cls._procs if p[1] is not proc]

    def log_text(self, proc):
        """The whole log of proc (a Popen, or the name it was last started under)."""
        if isinstance(proc, str):
            proc = self._proc(proc)
        for _, p, path in self._procs:
            if p is proc:
                return read_text(path)
        raise KeyError(proc.pid)

    # ---- the manager ----

    @classmethod
    def _manager_argv(cls, config_file=None):
        return [os.path.join(BIN, "volume-manager"), "--config-file",
                config_file or cls.config_file]

    def start_manager(self, name="volume-manager", config_file=None, **env):
        """Starts a bin/volume-manager as name (default configuration: the class's), with env
        added to its environment. Returns its Popen."""
        return self._start(name, self._manager_argv(config_file), env=env)

    def stop_manager(self, sig=signal.SIGTERM, timeout=15, name="volume-manager"):
        """Sends sig to the class's manager (or the process started as name), waits for its
        exit and forgets it. Returns its Popen."""
        proc = self._proc(name)
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
        self.forget(proc)
        return proc

    def manager_alive(self):
        proc = self._proc("volume-manager")
        return proc.poll() is None

    @contextlib.contextmanager
    def manager_held(self, name=None):
        """The class's manager (or the process started as name) stopped (SIGSTOP) for the
        block and continued after it, whatever happens: what the block sends waits in the
        queue meanwhile."""
        pid = self.manager_pid if name is None else self._proc(name).pid
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    # ---- waiting ----

    @classmethod
    def _wait_until(cls, what, fn, timeout=STARTUP_TIMEOUT):
        """Waits for fn() to be truthy during set-up; an exception of fn means "not yet". A
        process of the class that exits meanwhile, or the deadline, raises RuntimeError."""
        errors = [None]

        def ready():
            for name, proc, log_path in cls._procs:
                rc = proc.poll()
                if rc is not None:
                    raise RuntimeError("%s exited with %s while waiting for %s; log tail:\n%s"
                                       % (name, rc, what, tail(log_path)))
            try:
                return fn()
            except Exception as e:  # not ready yet: keep the reason for the message
                errors[0] = e
                return False

        ok, _ = poll_until(ready, timeout)
        if not ok:
            raise RuntimeError("timed out after %.0fs waiting for %s (last error: %r)"
                               % (timeout, what, errors[0]))

    def poll(self, fn, timeout=15, interval=POLL_INTERVAL, msg=None):
        """Calls fn until it returns something truthy (returned), or fails the test."""
        ok, last = poll_until(fn, timeout, interval)
        if not ok:
            self.fail("%s (not true after %.1fs; last value %r)"
                      % (msg or "condition", timeout, last))
        return last

    def settle(self, fn, duration=1.5, interval=POLL_INTERVAL):
        """Asserts that fn() stays truthy for duration seconds (a negative check has to wait
        for something that should not happen: keep it short)."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            self.assertTrue(fn(), "condition stopped holding")
            time.sleep(interval)

    # ---- stopping ----

    @classmethod
    def _stop_procs(cls):
        """SIGTERM to every process of the class at once (their shutdowns overlap rather
        than add up), then waits for each, with SIGKILL for one that ignores it for 10 s."""
        stopping = []
        for name, proc, _ in reversed(cls._procs):
            if proc.poll() is not None:
                continue
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                continue
            stopping.append((name, proc))
        for name, proc in stopping:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sys.stderr.write("harness: %s (pid %d) ignored SIGTERM for 10s; SIGKILL\n"
                                 % (name, proc.pid))
                proc.kill()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    sys.stderr.write("harness: %s (pid %d) survived SIGKILL\n"
                                     % (name, proc.pid))

    # ---- logs on failure ----

    @classmethod
    def _print_logs(cls, why):
        """Writes each process's log tail, and where the threads of a running one and of its
        children wait, to stderr; and a shorter form for the end of the run."""
        sys.stderr.write("\n".join(["", "==== %s: log tails ====" % why]
                                    + cls._proc_reports(LOG_TAIL_LINES)) + "\n")
        # scripts/run-tests.sh repeats the shorter form after its summary, where a reader of
        # only the end of a long run (a CI page) still finds why a set-up or a test failed.
        summary = os.environ.get("VOLMGR_FAILURE_LOGS")
        if summary:
            with open(summary, "a") as f:
                f.write("\n".join(["==== %s ====" % why]
                                   + cls._proc_reports(FAILURE_TAIL_LINES)) + "\n")

    @classmethod
    def _proc_reports(cls, tail_lines):
        """Per process of the class: a heading, its thread states when it runs, and the last
        tail_lines lines of its log."""
        out = []
        for name, proc, log_path in getattr(cls, "_procs", []):
            if name == "compute-stub":
                continue
            running = proc.poll() is None
            state = "running" if running else "exited %s" % proc.returncode
            out.append("---- %s (pid %d, %s): %s ----" % (name, proc.pid, state, log_path))
            if running:
                out += thread_states(proc.pid)
            out.append(tail(log_path, tail_lines))
        return out

    def _report_on_failure(self):
        outcome = getattr(self, "_outcome", None)
        failed = False
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errors = getattr(outcome, "errors", None)
            if errors:  # Python < 3.11
                failed = any(exc is not None for _, exc in errors)
            elif result is not None:
                mine = [t for t, _ in result.failures + result.errors if t is self]
                failed = bool(mine) or not getattr(outcome, "success", True)
        if failed:
            self._print_logs("%s failed" % self.id())

    # ---- volctl ----

    @classmethod
    def _run_volctl(cls, *args, timeout=30, env=None):
        """(exit code, combined output) of bin/volctl with the class's config; env (a dict)
        is added to the class's proc_env for it."""
        p = subprocess.run([os.path.join(BIN, "volctl"), "--config-file", cls.config_file]
                           + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=dict(cls.proc_env, **(env or {})),
                           timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def volctl(self, *args):
        """(exit code, combined output) of bin/volctl with this class's config."""
        return self._run_volctl(*args)

    def volctl_ok(self, *args):
        rc, out = self._run_volctl(*args)
        self.assertEqual(rc, 0, "volctl %s exited %d:\n%s" % (" ".join(args), rc, out))
        return out
