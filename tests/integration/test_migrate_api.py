"""os-migrate_volume and os-migrate_volume_completion through the api-shim (docs/cinder.md
§16.3): every refusal with its code and Cinder's message, the rows an accepted migration
leaves, the migrate_volume cast on the source's queue, and the migrate_volume_completion call
with the destination's row, answered by the test in the manager's place.

The volumes are seeded in SQL on the first backend; the second manager (host2@filestore) is
the destination. The source manager is held (SIGSTOP) while a request is accepted, so that
the rows and the message read are the API's, before any manager acted on them.
"""

import threading
import uuid

from harness import StackTestCase
from harness_mq import MSGPACK, pack
from test_cinderclient import run_cinder

MSG_INVALID = ("Invalid volume: Volume %s status must be available or in-use, must not be "
               "migrating, have snapshots, be replicated, be part of a group and destination "
               "host/cluster must be different than the current one")


class MigrateApiTest(StackTestCase):

    second_backend = True

    # ---- helpers ----

    def migrate(self, vid, params, admin=True, version=None):
        body = {"os-migrate_volume": params}
        if admin:
            return self.admin_action(vid, body, version=version)
        return self.action(vid, body, version=version)

    def complete_migration(self, vid, params, admin=True):
        body = {"os-migrate_volume_completion": params}
        if admin:
            return self.admin_action(vid, body)
        return self.action(vid, body)

    def migration_row(self, vid):
        rows = self.sql("SELECT status, previous_status, migration_status, host FROM volumes "
                        "WHERE id = %s", (vid,))
        return dict(zip(("status", "previous_status", "migration_status", "host"), rows[0]))

    def assert_refused(self, vid, params, code, contains, version=None, admin=True):
        """A refused request leaves the row as it was."""
        before = self.migration_row(vid)
        st, _, doc = self.migrate(vid, params, admin=admin, version=version)
        name = {400: "badRequest", 403: "forbidden", 404: "itemNotFound"}[code]
        self.assertFault(st, doc, code, name, contains)
        self.assertEqual(self.migration_row(vid), before)

    def service_row(self, host, disabled=False, age_s=0, cluster=None):
        """A cinder-volume services row whose last heartbeat is age_s seconds old."""
        self.sql("INSERT INTO services (created_at, updated_at, deleted, host, \"binary\", "
                 "topic, report_count, disabled, availability_zone, cluster_name) VALUES "
                 "((now() AT TIME ZONE 'utc') - make_interval(secs => %s), "
                 "(now() AT TIME ZONE 'utc') - make_interval(secs => %s), false, %s, "
                 "'cinder-volume', 'cinder-volume', 1, %s, 'nova', %s)",
                 (age_s, age_s, host, disabled, cluster))

    def set_migration_status(self, vid, value):
        self.sql("UPDATE volumes SET migration_status = %s WHERE id = %s", (value, vid))

    # ---- os-migrate_volume: refusals ----

    def test_non_admin_is_forbidden(self):
        vid = self.insert_volume()
        self.assert_refused(vid, {"host": self.service_host2}, 403,
                            "volume_extension:volume_admin_actions:migrate_volume",
                            admin=False)

    def test_missing_volume_is_404(self):
        st, _, doc = self.migrate(str(uuid.uuid4()), {"host": self.service_host2})
        self.assertFault(st, doc, 404, "itemNotFound", "could not be found")

    def test_unknown_down_disabled_hosts(self):
        vid = self.insert_volume()
        down, disabled = "down%s@filestore" % self.rand, "off%s@filestore" % self.rand
        self.service_row(down, age_s=3600)
        self.service_row(disabled, disabled=True)
        for host in ("nowhere@filestore", down, disabled, down + "#filestore",
                     self.host2, self.service_host2 + "#otherpool"):
            with self.subTest(host=host):
                self.assert_refused(vid, {"host": host}, 400,
                                    "Invalid host: No available service named '%s'" % host)

    def test_same_backend(self):
        vid = self.insert_volume()
        for host in (self.service_host, self.volume_host):
            with self.subTest(host=host):
                self.assert_refused(vid, {"host": host}, 400, MSG_INVALID % vid)

    def test_volume_state_refusals(self):
        dest = {"host": self.service_host2}
        err = self.insert_volume(status="error")
        self.assert_refused(err, dest, 400, MSG_INVALID % err)
        for ms in ("starting", "migrating", "target:%s" % uuid.uuid4()):
            vid = self.insert_volume()
            self.set_migration_status(vid, ms)
            with self.subTest(migration_status=ms):
                self.assert_refused(vid, dest, 400, MSG_INVALID % vid)
        replicated = self.insert_volume()
        self.sql("UPDATE volumes SET replication_status = 'enabled' WHERE id = %s",
                 (replicated,))
        self.assert_refused(replicated, dest, 400, MSG_INVALID % replicated)
        grouped = self.insert_volume()
        self.sql("UPDATE volumes SET group_id = %s WHERE id = %s", (str(uuid.uuid4()), grouped))
        self.assert_refused(grouped, dest, 400, MSG_INVALID % grouped)
        snapped = self.insert_volume()
        self.sql("INSERT INTO snapshots (created_at, deleted, id, volume_id, user_id, "
                 "project_id, status, volume_size, volume_type_id) VALUES "
                 "(now() AT TIME ZONE 'utc', false, %s, %s, %s, %s, 'available', 1, %s)",
                 (str(uuid.uuid4()), snapped, self.USER, self.PROJECT, self.default_type_id()))
        self.assert_refused(snapped, dest, 400, MSG_INVALID % snapped)

    def test_bodies_and_microversions(self):
        vid = self.insert_volume()
        h2 = self.service_host2
        cases = [
            (None, {}, "'host' is a required property"),
            (None, {"host": ""}, "Invalid input received: Host field is missing."),
            (None, {"host": 5}, "5 is not of type 'string'"),
            (None, {"host": h2, "cluster": "c1"}, "Additional properties are not allowed"),
            (None, {"host": h2, "force_host_copy": "maybe"}, "force_host_copy"),
            (None, {"host": h2, "lock_volume": []}, "lock_volume"),
            (None, {"host": "x" * 256}, "is too long"),
            ("3.16", {}, "Invalid input received: One and only one of cluster and host "
                         "must be set."),
            ("3.16", {"host": h2, "cluster": "c1"}, "One and only one of cluster and host"),
            ("3.16", {"host": None, "cluster": ""}, "One and only one of cluster and host"),
            ("3.16", {"cluster": "nocluster"},
             "Invalid host: No available service named 'nocluster'"),
        ]
        for version, params, contains in cases:
            with self.subTest(version=version, params=params):
                self.assert_refused(vid, params, 400, contains, version=version)

    # ---- os-migrate_volume: accepted ----

    def accept(self, vid, params, version=None):
        """Sends the request with the source manager held; returns the cast it published
        (its msgpack dict) and the row as the API left it."""
        queue = self.capture_queue()
        with self.manager_held():
            st, _, doc = self.migrate(vid, params, version=version)
            self.assertEqual(st, 202, doc)
            self.assertIsNone(doc)
            row = self.migration_row(vid)
            msg, _, props = self.captured(queue, method="migrate_volume")
        self.assertEqual(props.content_type, MSGPACK)
        return msg, row

    def test_accepted_available(self):
        vid = self.insert_volume()
        msg, row = self.accept(vid, {"host": self.service_host2, "force_host_copy": "true"})
        self.assertEqual(row, {"status": "available", "previous_status": "available",
                               "migration_status": "starting", "host": self.volume_host})
        self.assertEqual(msg["version"], "3.5")
        args = msg["args"]
        self.assertEqual(args["volume"]["versioned_object.data"]["id"], vid)
        self.assertEqual(args["volume"]["versioned_object.data"]["migration_status"],
                         "starting")
        self.assertEqual(args["host"], {"host": self.volume_host2, "cluster_name": None,
                                        "capabilities": {}})
        self.assertIs(args["force_host_copy"], True)
        self.assertTrue(msg["_context_is_admin"])

    def test_lock_volume_puts_available_in_maintenance(self):
        vid = self.insert_volume()
        msg, row = self.accept(vid, {"host": self.volume_host2, "lock_volume": True})
        self.assertEqual((row["status"], row["previous_status"], row["migration_status"]),
                         ("maintenance", "available", "starting"))
        self.assertIs(msg["args"]["force_host_copy"], False)
        self.assertEqual(msg["args"]["host"]["host"], self.volume_host2)

    def test_lock_volume_leaves_in_use(self):
        vid = self.insert_volume()
        self.insert_attachment(vid, str(uuid.uuid4()))
        _, row = self.accept(vid, {"host": self.service_host2, "lock_volume": True})
        self.assertEqual((row["status"], row["previous_status"], row["migration_status"]),
                         ("in-use", "in-use", "starting"))

    def test_after_a_finished_migration_and_at_316(self):
        vid = self.insert_volume()
        self.set_migration_status(vid, "success")
        msg, row = self.accept(vid, {"host": self.service_host2, "cluster": None},
                               version="3.16")
        self.assertEqual(row["migration_status"], "starting")
        self.assertEqual(msg["args"]["host"]["host"], self.volume_host2)

    def test_cluster_migration(self):
        cluster = "cl%s@filestore" % self.rand
        member = "m%s@filestore" % self.rand
        self.service_row(member, cluster=cluster)
        vid = self.insert_volume()
        msg, row = self.accept(vid, {"cluster": cluster}, version="3.16")
        self.assertEqual(row["migration_status"], "starting")
        self.assertEqual(msg["args"]["host"], {"host": member + "#filestore",
                                               "cluster_name": cluster, "capabilities": {}})
        # The same cluster again is no migration.
        again = self.insert_volume()
        self.sql("UPDATE volumes SET cluster_name = %s WHERE id = %s", (cluster, again))
        self.assert_refused(again, {"cluster": cluster}, 400, MSG_INVALID % again,
                            version="3.16")

    def test_unconfirmed_cast_rolls_back(self):
        """The update and the cast commit together: a broker that does not confirm the cast
        within publish_timeout gets the request a 503 and leaves the row as it was."""
        vid = self.insert_volume()
        before = self.migration_row(vid)
        with self.broker_blocked():
            st, _, doc = self.migrate(vid, {"host": self.service_host2, "lock_volume": True})
        self.assertFault(st, doc, 503, "serviceUnavailable")
        self.assertEqual(self.migration_row(vid), before)

    # ---- os-migrate_volume_completion ----

    def pair(self, src_status="migrating", dst_status="target"):
        """A source and a destination volume; dst_status "target" is "target:<source>"."""
        src = self.insert_volume()
        dst = self.insert_volume()
        self.set_migration_status(src, src_status)
        self.set_migration_status(dst, "target:%s" % src if dst_status == "target"
                                  else dst_status)
        return src, dst

    def test_completion_refusals(self):
        src, dst = self.pair()
        st, _, doc = self.complete_migration(src, {"new_volume": dst}, admin=False)
        self.assertFault(st, doc, 403, "forbidden",
                         "volume_extension:volume_admin_actions:migrate_volume_completion")
        missing = str(uuid.uuid4())
        st, _, doc = self.complete_migration(src, {"new_volume": missing})
        self.assertFault(st, doc, 404, "itemNotFound", "Volume %s could not be found." % missing)
        st, _, doc = self.complete_migration(src, {"new_volume": "not-a-uuid"})
        self.assertFault(st, doc, 400, "badRequest", "is not a 'uuid'")
        st, _, doc = self.complete_migration(src, {})
        self.assertFault(st, doc, 400, "badRequest", "'new_volume' is a required property")
        st, _, doc = self.complete_migration(src, {"new_volume": dst, "error": "perhaps"})
        self.assertFault(st, doc, 400, "badRequest", "is not a boolean")

        idle, dst2 = self.pair(src_status=None)
        st, _, doc = self.complete_migration(idle, {"new_volume": dst2})
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid volume: Source volume not mid-migration.")
        src3, dst3 = self.pair()
        self.set_migration_status(dst3, None)
        st, _, doc = self.complete_migration(src3, {"new_volume": dst3})
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid volume: Destination volume not mid-migration.")
        other = str(uuid.uuid4())
        src4, dst4 = self.pair(dst_status="target:%s" % other)
        st, _, doc = self.complete_migration(src4, {"new_volume": dst4})
        self.assertFault(st, doc, 400, "badRequest",
                         "Invalid volume: Destination has migration_status target:%s, "
                         "expected target:%s." % (other, src4))

    def test_completion_without_migration(self):
        """Neither volume migrating: Cinder's swap shortcut answers the new id at once; an
        attached source is refused (volmgr moves no attachment outside a migration)."""
        src, dst = self.pair(src_status=None, dst_status=None)
        st, _, doc = self.complete_migration(src, {"new_volume": dst})
        self.assertEqual((st, doc), (200, {"save_volume_id": dst}))
        self.insert_attachment(src, str(uuid.uuid4()))
        st, _, doc = self.complete_migration(src, {"new_volume": dst})
        self.assertFault(st, doc, 400, "badRequest", "neither it nor volume %s" % dst)
        st, _, doc = self.complete_migration(src, {"new_volume": dst, "error": True})
        self.assertEqual((st, doc), (200, {"save_volume_id": dst}))

    def test_completion_call(self):
        """The call goes to the source's backend with both Volume primitives; the test
        answers it in the held manager's place and the API returns the call's result."""
        src, dst = self.pair()
        queue = self.capture_queue()
        with self.manager_held():
            answer = {}

            def request():
                answer["r"] = self.complete_migration(src, {"new_volume": dst,
                                                            "error": False})
            t = threading.Thread(target=request)
            t.start()
            msg, _, props = self.captured(queue, method="migrate_volume_completion")
            args = msg["args"]
            self.assertEqual(args["volume"]["versioned_object.data"]["id"], src)
            new = args["new_volume"]["versioned_object.data"]
            self.assertEqual((new["id"], new["migration_status"]), (dst, "target:%s" % src))
            self.assertIs(args["error"], False)
            self.assertTrue(msg["_reply_q"].startswith("reply_"))
            self.publish(pack({"result": src, "failure": None, "ending": True,
                               "_msg_id": msg["_msg_id"]}),
                         routing_key=msg["_reply_q"], exchange="")
            t.join(timeout=20)
        self.assertFalse(t.is_alive())
        st, _, doc = answer["r"]
        self.assertEqual((st, doc), (200, {"save_volume_id": src}))

    def test_completion_call_failure(self):
        """A refusal of the manager is Cinder's 400 with the exception's text."""
        src, dst = self.pair()
        queue = self.capture_queue()
        with self.manager_held():
            answer = {}
            t = threading.Thread(target=lambda: answer.update(
                r=self.complete_migration(src, {"new_volume": dst, "error": True})))
            t.start()
            msg, _, _ = self.captured(queue, method="migrate_volume_completion")
            self.assertIs(msg["args"]["error"], True)
            failure = '{"class": "InvalidVolume", "module": "cinder.exception", ' \
                      '"message": "Invalid volume: not today.", "tb": [], "args": [], ' \
                      '"kwargs": {}}'
            self.publish(pack({"result": None, "failure": failure, "ending": True,
                               "_msg_id": msg["_msg_id"]}),
                         routing_key=msg["_reply_q"], exchange="")
            t.join(timeout=20)
        st, _, doc = answer["r"]
        self.assertFault(st, doc, 400, "badRequest", "Invalid volume: not today.")

    # ---- python-cinderclient ----

    def test_cinder_migrate(self):
        """`cinder migrate` (admin) sends the action at 3.70 as Cinder's own client builds
        it; an unknown host is reported (the client prints the failure and exits 0)."""
        vid = self.insert_volume()
        _, out = run_cinder(self, "migrate", vid, "nowhere@filestore", user="admin")
        self.assertIn("Migration for volume %s failed: Invalid host: No available service "
                      "named 'nowhere@filestore' (HTTP 400)" % vid, out)
        queue = self.capture_queue()
        with self.manager_held():
            _, out = run_cinder(self, "migrate", "--lock-volume", "True", vid,
                                self.service_host2, user="admin")
            self.assertIn("Request to migrate volume %s has been accepted." % vid, out)
            row = self.migration_row(vid)
            msg, _, _ = self.captured(queue, method="migrate_volume")
        self.assertEqual((row["status"], row["migration_status"]), ("maintenance", "starting"))
        self.assertEqual(msg["args"]["host"]["host"], self.volume_host2)
