"""Manager faults during a stream of 1,000+ requests (issue 4): kill -9 at random points,
restarted each time; SIGSTOP for longer than the heartbeat timeout, then SIGCONT."""

import random
import signal
import time

from faultlib import FaultTestCase

KILLS = 3
STOPS = 2
HEARTBEAT = 4


class ManagerKillTest(FaultTestCase):

    def test_kill_9_at_random_points(self):
        rng = random.Random()

        def fault(stream):
            step = self.requests // (KILLS + 1)
            for k in range(1, KILLS + 1):
                stream.wait_sent(k * step + rng.randrange(-step // 3, step // 3))
                self.stop_manager(signal.SIGKILL, timeout=10)
                # Down while a few dozen more requests arrive, then back.
                stream.wait_sent(stream.count + rng.randrange(10, 60))
                self.start_manager()
            return KILLS

        self.run_stream(fault)


class ManagerStopTest(FaultTestCase):
    heartbeat_timeout_threshold = HEARTBEAT

    def test_sigstop_longer_than_the_heartbeat(self):
        def fault(stream):
            step = self.requests // (STOPS + 1)
            for k in range(1, STOPS + 1):
                stream.wait_sent(k * step)
                self._proc("volume-manager").send_signal(signal.SIGSTOP)
                try:
                    # The fault itself: frozen for well over the heartbeat timeout, so that
                    # the broker closes the connection and requeues what it held.
                    time.sleep(HEARTBEAT * 2.5)
                finally:
                    self._proc("volume-manager").send_signal(signal.SIGCONT)
            return STOPS

        self.run_stream(fault)
