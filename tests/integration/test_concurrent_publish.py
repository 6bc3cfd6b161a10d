"""Pipelined publisher confirms (api-shim/publish.c): many requests publishing at once share
one confirming connection and are all answered after their own confirm.

Each volume belongs to a project of its own, because an os-extend holds its project's quota
row lock until the confirm: requests of one project would publish one after another.
"""

import concurrent.futures
import uuid

from harness import JSON, StackTestCase, unpack

REQUESTS = 64
SHIM_WORKERS = 32


class ConcurrentPublishTest(StackTestCase):

    @classmethod
    def _config_text(cls):
        return super()._config_text().replace("workers = 8\n",
                                              "workers = %d\n" % SHIM_WORKERS)

    def tap_queue(self):
        """A queue that receives a copy of every message the shim publishes."""
        name = "it-tap-" + uuid.uuid4().hex[:8]
        with self.amqp() as ch:
            ch.queue_declare(queue=name, exclusive=False, auto_delete=False)
            ch.queue_bind(queue=name, exchange=self.exchange, routing_key="#")
        self.addCleanup(self.delete_queue, name)
        return name

    def extend_casts_in(self, queue):
        """volume id -> number of extend_volume casts taken from queue."""
        seen = {}
        while True:
            got = self.get_message(queue)
            if got is None:
                return seen
            if got[0].content_type == JSON:
                continue   # the relay's notifications cross the exchange too
            msg = unpack(got[1])
            if msg.get("method") == "extend_volume":
                vid = msg["args"]["volume"]["versioned_object.data"]["id"]
                seen[vid] = seen.get(vid, 0) + 1

    def test_concurrent_extends_all_confirmed_once(self):
        tap = self.tap_queue()
        vols = [(self.insert_volume(size=1, file_gib=1, project="pp-%d-%s" % (i, self.rand)),
                 "pp-%d-%s" % (i, self.rand)) for i in range(REQUESTS)]

        def one(vp):
            return self.extend(vp[0], 2, project=vp[1])[0]

        with concurrent.futures.ThreadPoolExecutor(max_workers=REQUESTS) as pool:
            statuses = list(pool.map(one, vols))
        self.assertEqual(statuses, [202] * REQUESTS)
        expected = {vid: 1 for vid, _ in vols}
        self.poll(lambda: self.queue_count(tap) >= REQUESTS,
                  msg="every cast reached the tap queue")
        self.assertEqual(self.extend_casts_in(tap), expected, "each cast arrived exactly once")
        for vid, _ in vols:
            self.wait_status(vid, "available")
            self.assertEqual(self.volume_row(vid)["size"], 2)
