"""The one finalization of an extend (manager/finalize.sql): the same set of messages applied
once message by message (a manager with batch_size = 1) and once as one group (the class's
manager, held with SIGSTOP while they are published, so that they arrive in one batch) leaves
the same rows in every table it touches, compared column by column after masking what
legitimately differs (generated ids, timestamps, the volumes' own ids and names).

The set: successful completions (two available volumes, one attached), a completion with
error = true, one whose backing store was not grown, a stale one (its reservation already
settled), a duplicate (one cast published twice), and two extend_volume casts.
"""

import datetime
import json
import os
import signal
import uuid

from harness import (BIN, EXTEND_NEW_SIZE, EXTEND_RESERVATIONS, StackTestCase,
                     completion_cast, context_dict, extend_cast)

BATCH = 16
BATCH_CONFIG = "[manager]\nbatch_size = %d\nbatch_window_ms = 400\n" % BATCH

# Payload keys of a notification that hold the volume's or attachment's timestamps.
PAYLOAD_TIMES = ("created_at", "launched_at", "attach_time")


class FinalizeDifferentialTest(StackTestCase):

    maxDiff = None

    @classmethod
    def _config_text(cls):
        return super()._config_text().replace("[manager]\n", BATCH_CONFIG)

    # ---- processes ----

    def stop_proc(self, name):
        """Stops the process last started under name (by its pid) and forgets it."""
        proc = self._proc(name)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        type(self)._procs = [p for p in self._procs if p[1] is not proc]

    def log_of(self, name):
        path = [p for n, _, p in self._procs if n == name][-1]
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def start_manager(self, name, config_text):
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write(config_text)
        return self._start(name, [os.path.join(BIN, "volume-manager"), "--config-file", path])

    # ---- the set of messages ----

    def extending(self, project, file_gib, attached=False, keys=False):
        """A volume extending 1 -> 2 GiB with a live +1 GiB reservation and its pending
        extend, as the API leaves it, and with keys its two admin-metadata keys (which the
        API removes before it casts a completion). Returns (volume id, reservation)."""
        res = self.live_reservation(project)
        md = {EXTEND_NEW_SIZE: "2", EXTEND_RESERVATIONS: json.dumps([res])} if keys else None
        vid = self.insert_volume(size=1, status="extending", previous_status="available",
                                 project=project, file_gib=file_gib, admin_md=md)
        if attached:
            self.insert_attachment(vid, instance_uuid=str(uuid.uuid4()), mark_in_use=False)
            self._sql("UPDATE volumes SET attach_status = 'attached' WHERE id = %s", (vid,))
        self._sql("INSERT INTO volmgr_pending_extends (volume_id, project_id, new_size,"
                  " reservations, instance_uuid, started_at, deadline) VALUES (%s, %s, 2, %s,"
                  " NULL, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc' + interval '1 hour')",
                  (vid, project, json.dumps([res])))
        return vid, res

    def scenario(self, run):
        """Sets up the volumes of one run in a project of its own. Returns (project, the
        messages in publishing order, labels: every id of the run -> a name shared by both
        runs)."""
        project = "%s-%s" % (self.PROJECT, run)
        labels = {project: "<project>"}
        msgs = []

        def ctx(label):
            return context_dict("admin", project, is_admin=True, request_id="req-" + label)

        def add(label, vid, res, msg):
            labels[vid] = "<vol-%s>" % label
            labels[vid[:8]] = "<vol8-%s>" % label
            for i, r in enumerate(res):
                labels[r] = "<res-%s-%d>" % (label, i)
            labels[msg["_unique_id"]] = "<msg-%s>" % label
            msgs.append(msg)

        for label, file_gib, attached in (("ok1", 2, False), ("ok2", 2, False),
                                          ("attached", 2, True), ("mismatch", 1, False)):
            vid, res = self.extending(project, file_gib, attached)
            add(label, vid, [res], completion_cast(vid, 2, [res], False, context=ctx(label)))
        vid, res = self.extending(project, 1)
        add("error", vid, [res], completion_cast(vid, 2, [res], True, context=ctx("error")))
        # Stale: the message settles a reservation that was committed already, while the
        # volume waits for another extend.
        vid, res = self.extending(project, 2)
        old = self.live_reservation(project)
        self._sql("UPDATE reservations SET deleted = true, deleted_at = now() AT TIME ZONE"
                  " 'utc' WHERE uuid = %s", (old,))
        self._sql("UPDATE quota_usages SET reserved = reserved - 1 WHERE project_id = %s"
                  " AND resource = 'gigabytes' AND deleted = false", (project,))
        add("stale", vid, [res, old], completion_cast(vid, 2, [old], False, context=ctx("stale")))
        vid, res = self.extending(project, 2)
        dup = completion_cast(vid, 2, [res], False, context=ctx("dup"))
        add("dup", vid, [res], dup)
        msgs.append(dup)
        for label in ("extend1", "extend2"):
            vid, res = self.extending(project, 1, keys=True)
            add(label, vid, [res], extend_cast(vid, 2, [res], context=ctx(label)))
        return project, msgs, labels

    def wait_processed(self, msgs):
        ids = sorted({m["_unique_id"] for m in msgs})
        self.poll(lambda: self.sql_value("SELECT count(*) FROM volmgr_processed_messages "
                                         "WHERE unique_id = ANY(%s) AND outcome <> 'running'",
                                         (ids,)) == len(ids),
                  timeout=30, msg="every message processed")
        self.poll(lambda: self.queue_count(self.routing_key) == 0, timeout=15,
                  msg="the queue drained")

    # ---- the rows ----

    def pool_total(self):
        return self.sql_value("SELECT coalesce(sum(allocated_capacity_gb), 0) "
                              "FROM volmgr_pool_stats")

    def rows(self, query, params):
        with self._db.cursor() as cur:
            cur.execute(query, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    @staticmethod
    def mask(value, labels, column=""):
        if isinstance(value, (datetime.datetime, datetime.date)):
            return "<time>"
        if column in ("id", "usage_id") and value not in labels:
            return "<generated id>"
        if isinstance(value, str):
            if column == "payload":
                payload = json.loads(value)
                for key in PAYLOAD_TIMES:
                    if payload.get(key) is not None:
                        payload[key] = "<time>"
                for a in payload.get("volume_attachment") or []:
                    a["attach_time"] = "<time>"
                    a["id"] = "<attachment>"
                    a["instance_uuid"] = "<instance>"
                value = json.dumps(payload, sort_keys=True)
            for key in sorted(labels, key=len, reverse=True):
                value = value.replace(key, labels[key])
        return value

    def snapshot(self, project, msgs, labels):
        """Every row the run's messages could have touched, masked, sorted per table."""
        vids = [k for k, v in labels.items() if v.startswith("<vol-")]
        uids = sorted({m["_unique_id"] for m in msgs})
        queries = {
            "volumes": ("SELECT * FROM volumes WHERE project_id = %s", (project,)),
            "quota_usages": ("SELECT * FROM quota_usages WHERE project_id = %s", (project,)),
            "reservations": ("SELECT * FROM reservations WHERE project_id = %s", (project,)),
            "volume_admin_metadata": ("SELECT * FROM volume_admin_metadata "
                                      "WHERE volume_id = ANY(%s)", (vids,)),
            "volmgr_pending_extends": ("SELECT * FROM volmgr_pending_extends "
                                       "WHERE volume_id = ANY(%s)", (vids,)),
            "messages": ("SELECT * FROM messages WHERE resource_uuid = ANY(%s)", (vids,)),
            "volmgr_processed_messages": ("SELECT * FROM volmgr_processed_messages "
                                          "WHERE unique_id = ANY(%s)", (uids,)),
        }
        tables = {table: self.rows(query, params) for table, (query, params) in queries.items()}
        # The outbox's rows go once published: what was queued is what the relay published.
        tables["notifications"] = [
            {"event_type": m["event_type"], "publisher_id": m["publisher_id"],
             "priority": m["priority"], "payload": json.dumps(m["payload"])}
            for m in self.published_notifications() if m["payload"].get("volume_id") in vids]
        return {table: sorted(sorted((k, repr(self.mask(v, labels, k))) for k, v in row.items())
                              for row in rows)
                for table, rows in tables.items()}

    # ---- the test ----

    def test_message_by_message_and_one_group_leave_the_same_rows(self):
        # One group: the class's manager (batch_size 16) held while the casts queue up.
        group_project, group_msgs, group_labels = self.scenario("group")
        self.assertLessEqual(len(group_msgs), BATCH)
        pool = self.pool_total()
        with self.manager_held():
            self.publish_many(group_msgs)
        self.wait_processed(group_msgs)
        group_pool = self.pool_total() - pool
        self.assertIn("group commit: 6 extends finalized, 0 already processed, 2 taken out "
                      "of 10 deliveries", self.log_of("volume-manager"),
                      "one batch, the set sorted as expected")

        # Message by message: a manager with batch_size 1 instead.
        single_project, single_msgs, single_labels = self.scenario("single")
        self.stop_proc("volume-manager")
        with open(self.config_file) as f:
            config = f.read().replace("batch_size = %d" % BATCH, "batch_size = 1")
        self.start_manager("volume-manager-k1", config)
        try:
            pool = self.pool_total()
            self.publish_many(single_msgs)
            self.wait_processed(single_msgs)
            single_pool = self.pool_total() - pool
        finally:
            self.stop_proc("volume-manager-k1")
            type(self).manager_pid = self._start(
                "volume-manager", [os.path.join(BIN, "volume-manager"), "--config-file",
                                   self.config_file]).pid

        group = self.snapshot(group_project, group_msgs, group_labels)
        single = self.snapshot(single_project, single_msgs, single_labels)
        for table in group:
            self.assertTrue(single[table], "the set leaves rows in " + table)
            self.assertEqual(single[table], group[table], table)
        self.assertEqual(single_pool, group_pool, "volmgr_pool_stats: allocated capacity added")
        self.assertEqual(group_pool, 6, "six extends of 1 GiB finalized")
        outcomes = dict(self.sql("SELECT unique_id, outcome FROM volmgr_processed_messages "
                                 "WHERE unique_id = ANY(%s)",
                                 ([m["_unique_id"] for m in single_msgs],)))
        self.assertEqual(sorted(outcomes.values()),
                         sorted(["completed", "completed", "completed", "size_mismatch",
                                 "rolled_back", "stale", "completed", "extended",
                                 "extended"]))
