"""poll(): the wait deadline and the hold period, on a fake clock."""

from __future__ import annotations

from ansible_collections.incident.remediation.plugins.module_utils.polling import poll


class FakeTime:
    def __init__(self, observations):
        self.now = 0.0
        self.observations = list(observations)
        self.calls = 0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def check(self):
        self.calls += 1
        value = self.observations.pop(0) if self.observations else self.last
        self.last = value
        return value, {"at": self.now}


def run(observations, **kwargs):
    fake = FakeTime(observations)
    outcome = poll(fake.check, clock=fake.clock, sleep=fake.sleep, **kwargs)
    return outcome, fake


def test_first_success_with_no_hold():
    outcome, _ = run([True], wait=10, interval=1)
    assert (outcome.satisfied, outcome.attempts, outcome.elapsed) == (True, 1, 0)


def test_no_wait_checks_exactly_once():
    outcome, _ = run([False, True], wait=0, interval=1)
    assert (outcome.satisfied, outcome.attempts) == (False, 1)


def test_met_only_after_a_while():
    outcome, _ = run([False, False, False, True], wait=10, interval=2)
    assert outcome.satisfied and outcome.attempts == 4 and outcome.elapsed == 6


def test_deadline_passes():
    outcome, _ = run([False], wait=5, interval=2)
    assert not outcome.satisfied
    assert outcome.elapsed == 5, "the last poll is at the deadline, not past it"


def test_hold_is_reached():
    outcome, _ = run([True], wait=0, interval=2, hold=5)
    assert outcome.satisfied and outcome.held_for == 5 and outcome.attempts == 4  # 0, 2, 4, 5


def test_flapping_resets_the_hold_and_fails_past_the_deadline():
    # holds 0..4, breaks at 6 (past the 3 s wait): unsatisfied, and the longest hold is reported
    outcome, _ = run([True, True, True, False], wait=3, interval=2, hold=10)
    assert not outcome.satisfied
    assert outcome.held_for == 0 and outcome.longest_hold == 4


def test_flapping_inside_the_wait_window_starts_over():
    outcome, _ = run([True, False, True, True, True], wait=5, interval=1, hold=2)
    assert outcome.satisfied and outcome.held_for == 2 and outcome.elapsed == 4
