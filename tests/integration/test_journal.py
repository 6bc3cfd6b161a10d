"""The journal (issue 4): the manager declares a stream and relays to it every message it
receives, and `volctl replay --from-journal --since T` replays those of them received since T,
up to now, to where they were first sent, without a capture taken beforehand."""

import json
import time

from harness import StackTestCase, completion_cast, context_dict


class JournalTest(StackTestCase):
    journal = True

    def replay(self, *args):
        rc, out = self.volctl("replay", "--from-journal", "--json", *args)
        self.assertEqual(rc, 0, out)
        return json.loads(out[out.index("{"):])

    def test_replay_from_journal_keeps_ids_then_new_ids_follow_the_state_machine(self):
        since = int(time.time()) - 2
        ctx = context_dict("admin", self.PROJECT, is_admin=True)
        vols = [self.insert_volume(size=1, status="extending", previous_status="available")
                for _ in range(3)]
        for v in vols:
            self.publish(completion_cast(v, 2, [], True, context=ctx))
        for v in vols:
            self.wait_status(v, "error_extending")
        self.sql("UPDATE volumes SET status = 'extending' WHERE id = %s", (vols[0],))

        res = self.replay("--since", str(since), "--method", "extend_volume_completion")
        self.assertEqual((res["matched"], res["published"], res["failed"]), (3, 3, 0))
        self.manager_barrier()
        self.assertEqual(self.status_of(vols[0]), "extending", "kept ids: no effect")

        res = self.replay("--since", str(since), "--method", "extend_volume_completion",
                          "--new-ids")
        # The journal holds the 3 casts, the 3 copies of the first replay and the barrier's
        # completion cast.
        self.assertEqual(res["published"], 7)
        self.wait_status(vols[0], "error_extending")

    def test_since_later_than_everything_replays_nothing(self):
        res = self.replay("--since", str(int(time.time()) + 3600))
        self.assertEqual(res["published"], 0)

    def test_the_journal_is_a_stream(self):
        # A passive declare succeeds only for an existing queue; a stream refuses basic.get.
        self.assertIsNotNone(self.queue_count(self.exchange + ".journal"))
