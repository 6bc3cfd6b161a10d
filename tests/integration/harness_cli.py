"""The OpenStack command-line clients (`cinder`, `openstack`) as the tests run them: each
command is a process of its own, forked from a server that imported the client once.

Starting the interpreter and importing python-cinderclient costs a second or more per command
(python-openstackclient twice that), which the suites paid for every one of their few hundred
commands. A fork server pays it once per run and program: it imports the client's shell (one
client only: cinderclient's configures logging when imported, which the openstack command
would inherit), then for each request forks a child that sets the command's environment, argv, stdin (/dev/null),
stdout and stderr (files of the caller's) and runs the client's console-script entry point
exactly as /usr/bin/cinder or /usr/bin/openstack does, `sys.exit(main())`. Every command
still runs in a process of its own, with nothing left from the one before.

    run_cli(program, args, env, timeout) -> (exit code, stdout, stderr)

The server is this file run as a script with the program's name; it reads one JSON request a
line on stdin and answers one JSON line on its own copy of stdout.
"""

import atexit
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from harness_env import PYTHON, read_text

# program -> the module whose main() its console script runs.
CLIENT_SHELLS = {
    "cinder": "cinderclient.shell",
    "openstack": "openstackclient.shell",
}
# How often the server looks whether a command ended (it also enforces the deadline).
_WAIT_STEP = 0.01

_servers = {}   # program -> its server's Popen
_server_lock = threading.Lock()


# ---------------------------------------------------------------------------------------
# the caller's side
# ---------------------------------------------------------------------------------------

def _server_of(program):
    """The running fork server of program, started at its first command of the run."""
    server = _servers.get(program)
    if server is None or server.poll() is not None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        server = subprocess.Popen([PYTHON, os.path.abspath(__file__), program],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, text=True, start_new_session=True)
        _servers[program] = server
    return server


@atexit.register
def _stop_servers():
    """Ends the servers at the end of the run (one exits when its stdin closes)."""
    for server in _servers.values():
        if server.poll() is None:
            server.stdin.close()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)


def run_cli(program, args, env, timeout):
    """Runs `program ARGS` (a key of CLIENT_SHELLS) with exactly the environment env (a
    dict) and stdin /dev/null. Returns (exit code, stdout, stderr) as text; after timeout
    seconds the command is killed and subprocess.TimeoutExpired raised, as
    subprocess.run(timeout=...) does."""
    with tempfile.TemporaryDirectory(prefix="volmgr-cli-") as tmp:
        out_path = os.path.join(tmp, "stdout")
        err_path = os.path.join(tmp, "stderr")
        for path in (out_path, err_path):   # there to read even if the command never ran
            open(path, "wb").close()
        request = {"args": list(args), "env": dict(env),
                   "stdout": out_path, "stderr": err_path, "timeout": timeout}
        with _server_lock:
            server = _server_of(program)
            server.stdin.write(json.dumps(request) + "\n")
            server.stdin.flush()
            answer = server.stdout.readline()
        if not answer:
            raise RuntimeError("the CLI fork server ended (exit %s)" % server.poll())
        answer = json.loads(answer)
        out, err = read_text(out_path), read_text(err_path)
    if answer["timed_out"]:
        raise subprocess.TimeoutExpired([program] + list(args), timeout, out, err)
    return answer["rc"], out, err


# ---------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------

def _child(program, request, answers_fd):
    """In the forked child: becomes the command and never returns."""
    try:
        os.close(answers_fd)
        os.environ.clear()
        os.environ.update(request["env"])
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.argv = [program] + request["args"]
        main = importlib.import_module(CLIENT_SHELLS[program]).main
        rc = 0
        try:
            sys.exit(main())
        except SystemExit as e:
            # sys.exit's own rules: None is 0, an integer is the status, else print it, 1.
            if e.code is None:
                rc = 0
            elif isinstance(e.code, int):
                rc = e.code
            else:
                print(e.code, file=sys.stderr)
                rc = 1
    except BaseException:  # the command's own failure, reported as Python would
        import traceback
        traceback.print_exc()
        rc = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(rc & 0xFF)


def _wait(pid, timeout):
    """The answer for child pid: its exit code (the negated signal when one killed it), and
    whether it was killed because timeout seconds had passed."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"rc": os.waitstatus_to_exitcode(status), "timed_out": False}
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return {"rc": os.waitstatus_to_exitcode(status), "timed_out": True}
        time.sleep(_WAIT_STEP)


def _serve(program):
    # cliff, under python-openstackclient, names the application after sys.argv[0] when it
    # is imported.
    sys.argv = [program]
    importlib.import_module(CLIENT_SHELLS[program])
    # Answers go to a copy of stdout; stdout itself becomes /dev/null, so that nothing a
    # command prints can end up among them.
    answers_fd = os.dup(1)
    answers = os.fdopen(answers_fd, "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(program, request, answers_fd)
        answers.write(json.dumps(_wait(pid, request["timeout"])) + "\n")


if __name__ == "__main__":
    _serve(sys.argv[1])
