"""Broker and database faults during a stream of 1,000+ requests (issue 4): RabbitMQ stopped
(rabbitmqctl stop: the node goes down) and started again on the same data; PostgreSQL crashed
(pg_ctl stop -m immediate) and started again. Each class runs on servers of its own."""

from faultlib import FaultTestCase, outage


class BrokerRestartTest(FaultTestCase):

    def test_broker_stopped_and_started(self):
        self.run_stream(outage("broker-stop", "broker-start", self.requests // 3))


class DatabaseCrashTest(FaultTestCase):

    def test_postgresql_immediate_stop_and_start(self):
        self.run_stream(outage("db-stop", "db-start", self.requests // 3))
