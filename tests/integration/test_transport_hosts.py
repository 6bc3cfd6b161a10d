"""Several brokers and database hosts in one URL (issue 17): the daemons and volctl take
oslo.messaging's multi-host transport_url and libpq's multi-host connection URI, and use the
first host that answers. Here the first host of each is a loopback port nobody listens on, so
every connection has to go on to the stack's real broker and database. (A cluster that loses
a node is make test-ha's.)"""

import json

from harness import StackTestCase, free_port


def dead_first_transport(url):
    """url with a host that refuses every connection written before its own host."""
    scheme, rest = url.split("://", 1)
    creds = rest.split("@", 1)[0] + "@" if "@" in rest.split("/", 1)[0] else ""
    return "%s://%s127.0.0.1:%d,%s" % ("rabbit" if scheme == "amqp" else scheme, creds,
                                       free_port(), rest)


def dead_first_database(url):
    scheme, rest = url.split("://", 1)
    user, hosts = rest.split("@", 1) if "@" in rest.split("/", 1)[0] else ("", rest)
    sep = "&" if "?" in hosts else "?"
    return "%s://%s127.0.0.1:%d,%s%starget_session_attrs=read-write" % (
        scheme, user + "@" if user else "", free_port(), hosts, sep)


class TransportHostsTest(StackTestCase):

    def hosts_env(self):
        return {"VOLMGR_TRANSPORT_URL": dead_first_transport(self.transport_url),
                "VOLMGR_DB_URL": dead_first_database(self.db_url)}

    def test_manager_and_volctl_go_past_a_host_that_does_not_answer(self):
        env = self.hosts_env()
        self.stop_manager()
        self.addCleanup(self.restart_manager)
        proc = self.start_manager(**env)
        type(self).manager_pid = proc.pid
        self.poll(lambda: all(self.consumer_count(q) for q in self.service_queues), timeout=30,
                  msg="the manager consumes its queues through the second broker host")

        # The manager works through both: an extend is committed.
        vid = self.create_volume(size=1)
        status, _, doc = self.extend(vid, 2)
        self.assertEqual(status, 202, doc)
        self.poll(lambda: self.sql_value("SELECT size FROM volumes WHERE id = %s", (vid,)) == 2,
                  msg="the extend is finalized")
        self.assertIn("host 2 of 2, after 1 that did not answer", self.log_text(proc))

        # volctl: the database (quota check) and the broker (dead-letter list).
        saved = dict(self.proc_env)
        self.proc_env.update(env)
        try:
            self.volctl_ok("quota", "check", "--all")
            out = self.volctl_ok("dlq", "list", "--json")
            self.assertIsInstance(json.loads(out), list)
        finally:
            self.proc_env.clear()
            self.proc_env.update(saved)

    def test_no_host_answers(self):
        saved = dict(self.proc_env)
        self.proc_env["VOLMGR_TRANSPORT_URL"] = "rabbit://volmgr:s3cret@127.0.0.1:%d," \
            "volmgr:s3cret@127.0.0.1:%d/" % (free_port(), free_port())
        try:
            rc, out = self.volctl("dlq", "list", "--json")
        finally:
            self.proc_env.clear()
            self.proc_env.update(saved)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("none of the 2 hosts answered", out)
        self.assertNotIn("s3cret", out)
