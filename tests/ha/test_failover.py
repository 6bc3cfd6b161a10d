"""Failover during a stream of 1,000+ requests (issue 17, make test-ha).

The class's servers are a RabbitMQ cluster of three nodes and a PostgreSQL primary with a
synchronous streaming standby (scripts/stack.sh start-ha); the deployment is two manager
processes with the same configuration file (competing consumers of the same quorum queues,
rabbit_quorum_queue = true) and the shim, with the multi-host transport_url and database URL.
Each scenario is the fault stream of tests/faults/faultlib.py: it passes only with nothing
lost, nothing applied twice and no quota drift, and prints its figures, among them how long
the failover took.

  * The node that leads the quorum queue the shim's casts go to is stopped during the stream
    (its VM goes away), then started again: the daemons move to the surviving nodes, another
    node leads the queue, and the stream completes.
  * The primary is crashed (pg_ctl stop -m immediate) and the standby promoted: the daemons
    reconnect to the new primary (target_session_attrs=read-write picks it), the stream
    completes, and volctl works against the multi-host URL.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "faults"))

import psycopg2   # noqa: E402  (Debian python3-psycopg2)

from faultlib import FaultTestCase, outage  # noqa: E402

# The class's manager processes, as the harness names them (manager_processes = 2).
MANAGERS = ("volume-manager", "volume-manager-peer2")
# How long the deployment may take to work again after a failover.
RECOVERY_TIMEOUT = 60


def tcp_peers(pid):
    """The (local port, remote port) of every established TCP connection of process pid."""
    out = subprocess.run(["ss", "-Htnp", "state", "established"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10,
                         check=True).stdout.decode()
    peers = []
    for line in out.splitlines():
        fields = line.split()
        # Recv-Q, Send-Q, local address:port, peer address:port, users:((...,pid=N,...))
        if len(fields) >= 5 and "pid=%d," % pid in fields[4]:
            peers.append((int(fields[2].rsplit(":", 1)[1]), int(fields[3].rsplit(":", 1)[1])))
    return peers


class FailoverTest(FaultTestCase):

    stack_start = "start-ha"
    manager_processes = len(MANAGERS)
    rabbit_quorum_queue = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.stack_env()
        cls.rabbit_nodes = env["VOLMGR_RABBIT_NODES"].split()
        cls.rabbit_ports = [int(p) for p in env["VOLMGR_RABBIT_PORTS"].split()]
        cls.pg_ports = [int(p) for p in env["VOLMGR_PG_PORTS"].split()]
        # The queue the shim casts a volume's requests to (Cinder's volume RPC API: the
        # topic, the volume's service host and its server).
        cls.cast_queue = cls.routing_key

    # ---- the cluster as RabbitMQ reports it ----

    def rabbitmqctl(self, node, *args):
        """rabbitmqctl -q ARGS against node (1-3): its output, without headers."""
        return self.stack("rabbitmqctl", node, "-q", *args)

    def leader(self, queue, via):
        """The node (1-3) that leads quorum queue `queue`, as node `via` reports it."""
        for line in self.rabbitmqctl(via, "list_queues", "--no-table-headers",
                                     "name", "leader").splitlines():
            name, _, leader = line.partition("\t")
            if name == queue and leader.strip() in self.rabbit_nodes:
                return self.rabbit_nodes.index(leader.strip()) + 1
        self.fail("node %d lists no leader of %s" % (via, queue))

    def broker_connections(self):
        """{manager name: [(local port, node 1-3)] of its connections to the brokers}."""
        return {name: [(local, self.rabbit_ports.index(remote) + 1)
                       for local, remote in tcp_peers(self._proc(name).pid)
                       if remote in self.rabbit_ports]
                for name in MANAGERS}

    # ---- the databases ----

    def heartbeats(self, port):
        """The managers' heartbeats so far as the server at port has them (services rows)."""
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="volmgr",
                                dbname=self._dbname, connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT sum(report_count) FROM services WHERE host = %s",
                            (self.service_host,))
                return cur.fetchone()[0]
        finally:
            conn.close()

    # ---- the scenarios ----

    def test_broker_leader_node_stopped_and_started(self):
        stopped = {}

        def stop(stream):
            node = self.leader(self.cast_queue, via=1)
            before = self.broker_connections()
            t0 = time.monotonic()
            self.stack("node-stop", node)
            stopped["node"] = node
            survivor = 1 if node != 1 else 2

            def moved():
                """Every manager consumes again, through surviving nodes only, on connections
                that a surviving node lists."""
                conns = self.broker_connections()
                if not all(c and all(n != node for _, n in c) for c in conns.values()):
                    return None
                listed = self.rabbitmqctl(survivor, "list_connections", "--no-table-headers",
                                          "peer_port").split()
                if not all(str(local) in listed for c in conns.values() for local, _ in c):
                    return None
                if not all(self.consumer_count(q) == len(MANAGERS)
                           for q in self.service_queues):
                    return None
                return conns

            after = self.poll(moved, timeout=RECOVERY_TIMEOUT, interval=0.2,
                              msg="every manager consumes again through the surviving nodes")
            stream.figures["broker node stopped"] = node
            stream.figures["s from rabbitmqctl stop until every manager consumes again"] = round(
                time.monotonic() - t0, 1)
            stream.figures["managers' nodes before, after"] = "%s, %s" % (
                sorted({n for c in before.values() for _, n in c}),
                sorted({n for c in after.values() for _, n in c}))
            self.assertIn(node, {n for c in before.values() for _, n in c},
                          "the managers were connected to the node that led their queue")
            self.assertNotEqual(self.leader(self.cast_queue, via=survivor), node,
                                "another node leads the queue")

        def start(stream):
            self.stack("node-start", stopped["node"])
            running = self.rabbitmqctl(stopped["node"], "eval",
                                       "length(rabbit_nodes:all_running()).")
            self.assertEqual(running.strip(), "3", "the node rejoined the cluster")

        self.run_stream(outage(stop, start, self.requests // 3))

    def test_database_primary_crash_and_standby_promoted(self):
        standby = self.pg_ports[1]

        def promote(stream):
            beats = self.heartbeats(standby)
            t0 = time.monotonic()
            self.stack("standby-promote")
            self.poll(lambda: self.heartbeats(standby) != beats, timeout=RECOVERY_TIMEOUT,
                      msg="a manager commits its heartbeat on the new primary")
            stream.figures["s from pg_ctl promote until a manager's first commit on it"] = round(
                time.monotonic() - t0, 1)

        self.run_stream(outage("primary-stop", promote, self.requests // 3))

        # The class's multi-host URL leads to the old standby, which accepts writes.
        with self._db.cursor() as cur:
            cur.execute("SELECT inet_server_port(), pg_is_in_recovery()")
            self.assertEqual(cur.fetchone(), (standby, False))
        # Every daemon's sessions are on the new primary.
        for name in MANAGERS + ("api-shim",):
            ports = {remote for _, remote in tcp_peers(self._proc(name).pid)}
            self.assertIn(standby, ports, "%s is connected to the new primary" % name)
        self.volctl_ok("quota", "check", "--all")
