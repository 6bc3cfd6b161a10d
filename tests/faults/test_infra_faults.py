"""Broker and database faults during a stream of 1,000+ requests (issue 4): RabbitMQ stopped
(rabbitmqctl stop: the node goes down) and started again on the same data; PostgreSQL crashed
(pg_ctl stop -m immediate) and started again. Each class runs on servers of its own."""

from faultlib import FaultTestCase

OUTAGE_REQUESTS = 60


def outage(stop, start, at):
    """A fault function: stop at request `at`, start again once the clients sent
    OUTAGE_REQUESTS more (they keep retrying against the outage meanwhile)."""
    def fault(stream):
        stream.wait_sent(at)
        stream.tc.stack(stop)
        try:
            stream.wait_sent(stream.count + OUTAGE_REQUESTS)
        finally:
            stream.tc.stack(start)
            stream.tc.connect_database()
        return 1
    return fault


class BrokerRestartTest(FaultTestCase):

    def test_broker_stopped_and_started(self):
        self.run_stream(outage("broker-stop", "broker-start", self.requests // 3))


class DatabaseCrashTest(FaultTestCase):

    def test_postgresql_immediate_stop_and_start(self):
        self.run_stream(outage("db-stop", "db-start", self.requests // 3))
