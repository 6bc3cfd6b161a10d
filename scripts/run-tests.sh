#!/bin/bash
# scripts/run-tests.sh: the runner behind `make test` (which builds first).
#
# 1. Starts a throwaway stack (scripts/stack.sh start) in $VOLMGR_TEST_STACK_DIR
#    (default .stack/test, so it never disturbs a `make run` stack in .stack);
#    a trap stops it on exit, INT and TERM.  Its env (VOLMGR_STACK_ENV, the
#    VOLMGR_* URLs, VOLMGR_REPO) is exported to every suite, unit ones too.
#    When integration suites run, a throwaway Keystone is started on that
#    stack too (scripts/keystone-stack.py), in the background while the unit
#    tests run; its env file (VOLMGR_KEYSTONE_ENV) is exported to the
#    integration suites, and it is stopped with the stack.  A throwaway
#    Glance (scripts/glance-stack.py) is started the same way, in parallel,
#    and its env file exported as VOLMGR_GLANCE_ENV.
# 2. Unit: for every tests/unit/test_X.c runs build/tests/test_X (Criterion)
#    with --json, counting tests passed/failed (crashes count as failed; a
#    missing binary or one that dies without a report counts as one failure).
# 3. Integration: /usr/bin/python3 -m unittest discover -s tests/integration
#    -p 'test_*.py' -v, with VOLMGR_STACK_ENV=<stack dir>/env and the stack's
#    env exported; "Ran N" / "FAILED (failures=a, errors=b, skipped=c)"
#    parsed (errors count as failed, skipped are not counted as passed).
# 4. Faults: the same for tests/faults (each fault class starts servers of its
#    own with scripts/stack.sh, so it needs no shared stack).
# 5. HA (only when VOLMGR_SUITES names it; make test-ha does): the same for tests/ha, whose
#    classes start a RabbitMQ cluster and a PostgreSQL primary with a standby of their own
#    (scripts/stack.sh start-ha), so it needs no shared stack either.
# 6. Containers (only when VOLMGR_SUITES names it; scripts/test-containers.sh does, with
#    VOLMGR_TRANSPORT_URL naming the broker's container and VOLMGR_BIN_DIR the links that run
#    the programs in volmgr's image): the same for tests/containers, on the stack.
# Ends with exactly one line "N passed, N failed"; exits 1 when anything failed.
#
# Knobs: VOLMGR_UNIT_TIMEOUT (s per unit binary, default 300),
#        VOLMGR_IT_TIMEOUT (s for the integration run, default 3600),
#        VOLMGR_TEST_FILTER (a Criterion --filter pattern for unit tests),
#        VOLMGR_IT_PATTERN (unittest -p pattern, default test_*.py),
#        VOLMGR_BUILD_DIR (where the unit binaries are, default build; make test
#        SANITIZE=1 sets build-san and VOLMGR_BIN_DIR=bin-san for the daemons),
#        VOLMGR_SUITES (which of "unit integration faults ha containers" run; default
#        the first three),
#        VOLMGR_FAULT_TIMEOUT (s for the fault run, default 900; the ha run too),
#        VOLMGR_TEST_ORDER (integration and faults: "random", a seed, or
#        "reverse" runs classes and their tests in that order through
#        tests/shuffled.py, to catch a test that depends on another; default:
#        unittest's name order),
#        VOLMGR_TEST_DURATIONS (integration and faults in name order: how many of
#        the slowest classes and tests tests/durations.py lists after the run, with
#        per-file totals; default 20, 0 runs plain `unittest discover`).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
PY=/usr/bin/python3
STACK_DIR=${VOLMGR_TEST_STACK_DIR:-$REPO/.stack/test}
UNIT_TIMEOUT=${VOLMGR_UNIT_TIMEOUT:-300}
IT_TIMEOUT=${VOLMGR_IT_TIMEOUT:-3600}
FAULT_TIMEOUT=${VOLMGR_FAULT_TIMEOUT:-900}
CONTAINER_TIMEOUT=${VOLMGR_CONTAINER_TIMEOUT:-600}
SUITES=" ${VOLMGR_SUITES:-unit integration faults} "
LOGDIR=$REPO/build/test-logs
mkdir -p "$LOGDIR"
# The harness appends the log tails of each failed class or test here (harness_proc.py);
# they are repeated before the summary line.
export VOLMGR_FAILURE_LOGS=$LOGDIR/failure-logs.txt
: >"$VOLMGR_FAILURE_LOGS"

passed=0
failed=0
stack_started=0
keystone_pid=''
keystone_started=0
glance_pid=''
glance_started=0

stop_keystone() {
    [ "$keystone_started" = 1 ] || return 0
    keystone_started=0
    # A start still running ends within its own timeout.
    [ -z "$keystone_pid" ] || wait "$keystone_pid" 2>/dev/null
    keystone_pid=''
    "$PY" "$REPO/scripts/keystone-stack.py" stop "$STACK_DIR" \
        || echo "run-tests: keystone stop failed" >&2
}

stop_glance() {
    [ "$glance_started" = 1 ] || return 0
    glance_started=0
    [ -z "$glance_pid" ] || wait "$glance_pid" 2>/dev/null
    glance_pid=''
    "$PY" "$REPO/scripts/glance-stack.py" stop "$STACK_DIR" \
        || echo "run-tests: glance stop failed" >&2
}

cleanup() {
    stop_keystone
    stop_glance
    if [ "$stack_started" = 1 ]; then
        stack_started=0
        "$REPO/scripts/stack.sh" stop "$STACK_DIR" || echo "run-tests: stack stop failed" >&2
    fi
}
on_signal() {
    echo "run-tests: interrupted" >&2
    cleanup
    echo "$passed passed, $((failed + 1)) failed"
    exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

section() { printf '\n==== %s ====\n' "$*"; }

# --- unit --------------------------------------------------------------------

count_criterion_json() {   # FILE -> "passed failed"
    "$PY" - "$1" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("0 0 bad"); sys.exit(0)
p = f = 0
for s in d.get("test_suites", []):
    for t in s.get("tests", []):
        st = t.get("status", "")
        if st == "PASSED":
            p += 1
        elif st != "SKIPPED":
            f += 1
print(p, f, "ok")
EOF
}

shopt -s nullglob
unit_srcs=(); it_files=(); fault_files=(); ha_files=(); container_files=()
[[ $SUITES == *" unit "* ]] && unit_srcs=(tests/unit/test_*.c)
[[ $SUITES == *" integration "* ]] && it_files=(tests/integration/test_*.py)
[[ $SUITES == *" faults "* ]] && fault_files=(tests/faults/test_*.py)
[[ $SUITES == *" ha "* ]] && ha_files=(tests/ha/test_*.py)
[[ $SUITES == *" containers "* ]] && container_files=(tests/containers/test_*.py)

# --- stack ---------------------------------------------------------------------
# Started when there is any test to run; its env is exported to the unit
# binaries too (VOLMGR_STACK_ENV and the VOLMGR_* URLs), for tests that want it.
stack_ok=0
if [ ${#unit_srcs[@]} -gt 0 ] || [ ${#it_files[@]} -gt 0 ] || [ ${#container_files[@]} -gt 0 ]; then
    section "stack: starting in $STACK_DIR"
    stack_started=1
    if "$REPO/scripts/stack.sh" start "$STACK_DIR"; then
        stack_ok=1
        set -a
        # shellcheck disable=SC1091
        . "$STACK_DIR/env"
        set +a
        export VOLMGR_STACK_ENV=$STACK_DIR/env
        export VOLMGR_REPO=$REPO
        if [ ${#it_files[@]} -gt 0 ]; then
            "$PY" "$REPO/scripts/keystone-stack.py" start "$STACK_DIR" \
                >"$LOGDIR/keystone-start.log" 2>&1 &
            keystone_pid=$!
            keystone_started=1
            "$PY" "$REPO/scripts/glance-stack.py" start "$STACK_DIR" \
                >"$LOGDIR/glance-start.log" 2>&1 &
            glance_pid=$!
            glance_started=1
        fi
    else
        echo "run-tests: stack failed to start"
        failed=$((failed + 1))
    fi
fi

if [ ${#unit_srcs[@]} -eq 0 ]; then
    section "unit: no tests/unit/test_*.c"
fi
for src in "${unit_srcs[@]}"; do
    name=$(basename "$src" .c)
    bin=${VOLMGR_BUILD_DIR:-build}/tests/$name
    section "unit: $name"
    if [ ! -x "$bin" ]; then
        echo "run-tests: $bin missing (did 'make unit' run?)"
        failed=$((failed + 1))
        continue
    fi
    json=$LOGDIR/$name.json
    rm -f "$json"
    filter=()
    [ -n "${VOLMGR_TEST_FILTER:-}" ] && filter=(--filter "$VOLMGR_TEST_FILTER")
    timeout -k 10 "$UNIT_TIMEOUT" "$bin" --json="$json" "${filter[@]}" 2>&1
    rc=$?
    read -r p f status <<<"$(count_criterion_json "$json")"
    if [ "$status" != ok ]; then
        echo "run-tests: $name exited $rc without a report"
        p=0; f=1
    elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "run-tests: $name exited $rc with no failed test; counting one failure"
        f=1
    fi
    [ $rc -eq 124 ] && echo "run-tests: $name timed out after ${UNIT_TIMEOUT}s"
    echo "-- $name: $p passed, $f failed"
    passed=$((passed + p)); failed=$((failed + f))
done

# --- integration and faults: Python unittest suites ------------------------------

# run_unittest NAME DIR TIMEOUT PATTERN: runs the suites of DIR and adds their counts.
run_unittest() {
    local name=$1 dir=$2 timeout=$3 pattern=$4 log=$LOGDIR/$1.log rc ran result
    local runner=(-m unittest discover -s "$dir" -t "$dir" -p "$pattern" -v)
    case ${VOLMGR_TEST_ORDER:-} in
        "") [ "${VOLMGR_TEST_DURATIONS:-20}" = 0 ] \
                || runner=("$REPO/tests/durations.py" -s "$dir" -p "$pattern"
                           --top "${VOLMGR_TEST_DURATIONS:-20}") ;;
        random) runner=("$REPO/tests/shuffled.py" -s "$dir" -p "$pattern") ;;
        reverse) runner=("$REPO/tests/shuffled.py" -s "$dir" -p "$pattern" --reverse) ;;
        *) runner=("$REPO/tests/shuffled.py" -s "$dir" -p "$pattern" --seed "$VOLMGR_TEST_ORDER") ;;
    esac
    section "$name: python3 ${runner[*]}"
    (
        export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
        exec timeout -k 10 "$timeout" "$PY" "${runner[@]}"
    ) </dev/null 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    ran=$(sed -n 's/^Ran \([0-9][0-9]*\) tests\{0,1\} in .*/\1/p' "$log" | tail -n 1)
    result=$(grep -E '^(OK|FAILED)( \(.*\))?$|^NO TESTS RAN' "$log" | tail -n 1)
    field() { sed -n "s/.*[(, ]$1=\([0-9][0-9]*\).*/\1/p" <<<"$result"; }
    local nf ne ns nu p f
    nf=$(field failures); ne=$(field errors); ns=$(field skipped); nu=$(field 'unexpected successes')
    nf=${nf:-0}; ne=${ne:-0}; ns=${ns:-0}; nu=${nu:-0}
    if [ -z "$ran" ] || [ -z "$result" ]; then
        echo "run-tests: $name run ended (exit $rc) without a unittest summary"
        [ "$rc" -eq 124 ] && echo "run-tests: timed out after ${timeout}s"
        failed=$((failed + 1))
        return
    fi
    p=$((ran - nf - ne - ns - nu))
    [ $p -ge 0 ] || p=0   # errors of setUpClass count in errors but not in "Ran"
    f=$((nf + ne + nu))
    if [ "$rc" -ne 0 ] && [ $f -eq 0 ] && [ "$ran" -gt 0 ]; then
        echo "run-tests: unittest exited $rc with no failure counted; counting one"
        f=1
    fi
    echo "-- $name: $p passed, $f failed, $ns skipped"
    passed=$((passed + p)); failed=$((failed + f))
}

if [ ${#it_files[@]} -eq 0 ]; then
    section "integration: not run"
elif [ "$stack_ok" != 1 ]; then
    echo "run-tests: no stack; integration suites not run"
else
    # The Keystone suites fail (never skip) when it is missing, so a failed start shows.
    if [ -n "$keystone_pid" ]; then
        wait "$keystone_pid" || { echo "run-tests: keystone failed to start:";
                                  cat "$LOGDIR/keystone-start.log"; }
        keystone_pid=''
        export VOLMGR_KEYSTONE_ENV=$STACK_DIR/keystone/env
    fi
    # The image suites fail (never skip) when Glance is missing, as the Keystone ones do.
    if [ -n "$glance_pid" ]; then
        wait "$glance_pid" || { echo "run-tests: glance failed to start:";
                                cat "$LOGDIR/glance-start.log"; }
        glance_pid=''
        export VOLMGR_GLANCE_ENV=$STACK_DIR/glance/env
    fi
    run_unittest integration tests/integration "$IT_TIMEOUT" "${VOLMGR_IT_PATTERN:-test_*.py}"
fi
if [ ${#container_files[@]} -gt 0 ]; then
    if [ "$stack_ok" = 1 ]; then
        run_unittest containers tests/containers "$CONTAINER_TIMEOUT" 'test_*.py'
    else
        echo "run-tests: no stack; container suites not run"
    fi
fi
# The shared stack is not needed any more; the fault classes start their own.
cleanup
if [ ${#fault_files[@]} -eq 0 ]; then
    section "faults: not run"
else
    run_unittest faults tests/faults "$FAULT_TIMEOUT" 'test_*.py'
fi
if [ ${#ha_files[@]} -gt 0 ]; then
    run_unittest ha tests/ha "$FAULT_TIMEOUT" 'test_*.py'
fi

if [ -s "$VOLMGR_FAILURE_LOGS" ]; then
    section "log tails of what failed (the last lines of each process; more above)"
    cat "$VOLMGR_FAILURE_LOGS"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
