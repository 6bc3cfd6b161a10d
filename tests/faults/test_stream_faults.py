"""Hostile traffic and operator replays during a stream of 1,000+ requests (issue 4): a burst of
malformed bodies mixed into the stream, all dead-lettered with reasons while the rest is
unaffected; capture -> replay of the whole stream with volctl, with no effect the second time
and, with --new-ids, effects only where the state machine allows them."""

import json
import os
import random
import signal
import subprocess
import uuid

from faultlib import FaultTestCase
from harness import BIN, cast_message, extend_cast, pack, volume_primitive

POISON = 60


def poison_bodies(max_bytes):
    """(kind, body) of every sort of malformed message, round robin."""
    rng = random.Random(4)
    good = pack(extend_cast(str(uuid.uuid4()), 2, [str(uuid.uuid4())]))
    makers = [
        ("random bytes", lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))),
        ("truncated msgpack", lambda: good[:rng.randrange(1, len(good) - 1)]),
        ("wrong types", lambda: pack(cast_message(
            "extend_volume", {"volume": volume_primitive(str(uuid.uuid4())),
                              "new_size": "three", "reservations": 7}))),
        ("unknown method", lambda: pack(cast_message("bogus_%d" % rng.randrange(1000), {}))),
        ("oversized", lambda: pack(cast_message(
            "extend_volume", {"volume": volume_primitive(str(uuid.uuid4())), "new_size": 2,
                              "reservations": ["x" * (max_bytes + 1)]}))),
    ]
    return [makers[i % len(makers)] for i in range(POISON)]


class PoisonBurstTest(FaultTestCase):

    def test_malformed_bodies_mixed_into_the_stream(self):
        makers = poison_bodies(self.max_message_bytes)
        published = {}

        def burst(stream):
            for i, (kind, make) in enumerate(makers):
                stream.wait_sent(self.requests // 4 + i * 5)
                mid = "poison-%d-%s" % (i, uuid.uuid4().hex[:8])
                self.publish(make(), unique_id=mid)
                published[mid] = kind
            return len(published)

        stream = self.run_stream(extra=burst, dead_letters=POISON)
        rc, out = self.volctl("dlq", "list", "--json")
        self.assertEqual(rc, 0, out)
        rows = json.loads(out)
        got = {r["message_id"]: r["reason"] for r in rows}
        self.assertEqual(set(got), set(published), "every malformed body, and nothing else")
        for mid, reason in got.items():
            self.assertTrue(reason, "dead letter %s (%s) has a reason" % (mid, published[mid]))
        self.assertEqual(stream.figures["dead-lettered"], POISON)


class CaptureReplayTest(FaultTestCase):

    def processed_count(self):
        return self.sql_value("SELECT count(*) FROM volmgr_processed_messages")

    def snapshot(self, projects):
        return (self.sql("SELECT id, status, size FROM volumes WHERE project_id = ANY(%s) "
                         "ORDER BY id", (projects,)),
                self.sql("SELECT project_id, resource, in_use, reserved FROM quota_usages "
                         "WHERE project_id = ANY(%s) ORDER BY 1, 2", (projects,)),
                self.sql("SELECT count(*) FROM reservations WHERE deleted IS NOT TRUE"))

    def test_capture_then_replay_keeping_ids_and_with_new_ids(self):
        path = os.path.join(self.tmp, "stream.jsonl")
        capture = subprocess.Popen([os.path.join(BIN, "volctl"), "--config-file",
                                    self.config_file, "capture", "--output", path],
                                   env=self.proc_env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: capture.poll() is None and capture.kill())
        self.poll(lambda: self.capture_bound(), timeout=10, msg="the capture queue is bound")
        stream = self.run_stream()
        capture.send_signal(signal.SIGINT)
        self.assertEqual(capture.wait(timeout=20), 0, capture.stderr.read())
        with open(path) as f:
            records = [l for l in f if json.loads(l)["routing_key"].startswith("cinder-volume")]
        replay = os.path.join(self.tmp, "replay.jsonl")
        with open(replay, "w") as f:
            f.writelines(records)
        accepted = stream.figures["202s and confirms"]
        self.assertGreaterEqual(len(records), accepted, "the capture holds every accepted cast")
        projects = [c.project for c in stream.clients]

        # Keeping ids: every message is a recorded duplicate, nothing changes.
        before = self.snapshot(projects)
        processed = self.processed_count()
        dups = self.duplicates_suppressed()
        res = self.replay(replay)
        self.assertEqual((res["published"], res["failed"]), (len(records), 0))
        self.poll(lambda: self.duplicates_suppressed() >= dups + len(records), timeout=60,
                  msg="the manager saw every replayed message")
        self.assertEqual(self.snapshot(projects), before, "a replay keeping ids changes nothing")
        self.assertEqual(self.processed_count(), processed)
        stream.figures["replayed (kept ids)"] = len(records)

        # New ids: the state machine decides. Every volume is terminal, except the cast volumes
        # put back into extending here: only their failed completions apply again.
        again = [vid for c in stream.clients for vid in list(c.casts)[:3]]
        self.sql("UPDATE volumes SET status = 'extending' WHERE id = ANY(%s)", (again,))
        before = self.snapshot(projects)
        res = self.replay(replay, "--new-ids")
        self.assertEqual((res["published"], res["failed"]), (len(records), 0))
        self.poll(lambda: self.processed_count() >= processed + len(records), timeout=60,
                  msg="the manager ran every replayed message")
        for vid in again:
            self.assertEqual(self.status_of(vid), "error_extending", vid)
        after = self.snapshot(projects)
        changed = {r[0] for r in set(after[0]) ^ set(before[0])}
        self.assertEqual(changed, set(again), "only the volumes the state machine allowed")
        self.assertEqual(after[1:], before[1:], "quota untouched")
        rc, out = self.volctl("quota", "check", "--all")
        self.assertEqual(rc, 0, out)
        stream.figures["replayed (new ids)"] = len(records)
        stream.figures["applied again"] = len(again)
        stream.print_figures(self.id())

    def capture_bound(self):
        """A probe to a routing key no service listens on is unroutable until the capture
        queue is bound (the probe itself is left out of the replay)."""
        try:
            self.publish(b"probe", routing_key="volctl-probe." + uuid.uuid4().hex)
            return True
        except Exception:
            return False

    def replay(self, path, *args):
        rc, out = self.volctl("replay", path, "--json", *args)
        self.assertEqual(rc, 0, out)
        return json.loads(out[out.index("{"):])
