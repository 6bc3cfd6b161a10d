"""The manager forgets processed message ids older than [manager] processed_message_retention
(issue 4, review fix), in bounded batches, and keeps the younger ones."""

import uuid

from harness import StackTestCase, completion_cast, context_dict

RETENTION = 3600


class RetentionTest(StackTestCase):
    processed_message_retention = RETENTION

    def insert_processed(self, n, age_seconds):
        ids = [uuid.uuid4().hex for _ in range(n)]
        self.sql("INSERT INTO volmgr_processed_messages (unique_id, method, processed_at, "
                 "outcome) SELECT u, 'extend_volume', (now() AT TIME ZONE 'utc') - "
                 "make_interval(secs => %s), 'done' FROM unnest(%s::text[]) AS u",
                 (age_seconds, ids))
        return ids

    def count(self, ids):
        return self.sql_value("SELECT count(*) FROM volmgr_processed_messages "
                              "WHERE unique_id = ANY(%s)", (ids,))

    def test_old_ids_are_deleted_in_batches_and_young_ones_kept(self):
        # More than one batch (1000) so that the sweep has to come back for the rest.
        old = self.insert_processed(2500, RETENTION + 600)
        young = self.insert_processed(50, RETENTION - 600)
        self.poll(lambda: self.count(old) == 0, timeout=20,
                  msg="expired ids deleted (left: %s)" % self.count(old))
        self.assertEqual(self.count(young), 50, "ids inside the retention are kept")
        self.assertTrue(self.manager_alive())

    def test_an_id_inside_the_retention_still_suppresses_a_duplicate(self):
        vid = self.insert_volume(size=1, status="extending", previous_status="available")
        uid = uuid.uuid4().hex
        ctx = context_dict("admin", self.PROJECT, is_admin=True)
        self.publish(completion_cast(vid, 2, [], True, unique_id=uid, context=ctx))
        self.wait_status(vid, "error_extending")
        self.sql("UPDATE volumes SET status = 'extending' WHERE id = %s", (vid,))
        self.publish(completion_cast(vid, 2, [], True, unique_id=uid, context=ctx))
        self.manager_barrier()
        self.assertEqual(self.status_of(vid), "extending", "the duplicate did nothing")
