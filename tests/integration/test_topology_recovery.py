"""Queues deleted under a running manager come back without a restart (issue 4, review fix):
the manager asks the broker for consumer-cancel notifications, so deleting a service queue
cancels its consumer and the manager reconnects and declares its topology again; a deleted
dead-letter queue is declared again by the first dead letter that finds it missing.
"""

import uuid

from harness import DLQ, StackTestCase, completion_cast, context_dict


class TopologyRecoveryTest(StackTestCase):

    def test_deleted_service_queue_is_declared_again_and_served(self):
        self.delete_queue(self.routing_key)
        self.poll(lambda: self.queue_count(self.routing_key) is not None, timeout=15,
                  msg="the manager declared %s again" % self.routing_key)
        # The new queue is consumed: a cast to it is handled.
        self.manager_barrier(timeout=15)
        self.assertTrue(self.manager_alive())

    def test_deleted_dead_letter_queue_is_declared_again_on_demand(self):
        self.delete_queue(DLQ)
        body = b"\xc1 not msgpack"
        self.publish(body)
        props, got = self.wait_dead_letter(body=body, timeout=15)
        self.assertEqual(got, body)

    def test_unrelated_casts_still_work_after_recovery(self):
        vid = self.insert_volume(size=1, status="extending", previous_status="available")
        self.delete_queue(self.routing_key)
        self.poll(lambda: self.queue_count(self.routing_key) is not None, timeout=15,
                  msg="queue declared again")
        uid = uuid.uuid4().hex
        self.publish(completion_cast(vid, 2, [], True, unique_id=uid,
                                     context=context_dict("admin", self.PROJECT,
                                                          is_admin=True)))
        self.wait_status(vid, "error_extending", timeout=15)
        self.assertEqual(len(self.processed(uid)), 1)
