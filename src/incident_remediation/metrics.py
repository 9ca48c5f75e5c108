"""The receiver's own metrics, in Prometheus' text format (no client library: a few counters suffice)."""

from __future__ import annotations

import itertools
import threading

from incident_remediation.journal import STATES

INVALID, TOO_LARGE, UNAUTHORIZED, UNRECORDED = "invalid", "too_large", "unauthorized", "journal"
QUEUE_FULL = "queue_full"
REJECTED = (INVALID, TOO_LARGE, UNAUTHORIZED, UNRECORDED, QUEUE_FULL)  # why a request's alerts were not taken
BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, float("inf"))
HELP = {
    "remediate_incidents_total": "Incident outcomes the jobs recorded, by host, route and outcome (resolved, failed,"
    " refused, unreachable, ...).",
    "remediate_requests_rejected_total": "Requests refused whole (none of their alerts recorded), by reason.",
    "remediate_confirmations_total": "Stability windows confirmed at their end, by outcome (resolved: stable;"
    " regressed: the alert back or a condition not held inside the window).",
}
CONFIRMED = ("resolved", "regressed")  # stability.ENDS


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: dict[tuple[str, tuple], float] = {}
        self.duration_sum = 0.0
        self.duration_buckets = [0] * len(BUCKETS)
        for reason in REJECTED:  # at 0 from the start, so the first rejection is an increase() an alert sees
            self.counters[("remediate_requests_rejected_total", (("reason", reason),))] = 0
        for outcome in CONFIRMED:  # the first regression too
            self.counters[("remediate_confirmations_total", (("outcome", outcome),))] = 0

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + amount

    def reject(self, reason: str) -> None:
        """Count a request refused whole (none of its alerts recorded); ``reason`` is one of REJECTED."""
        if reason not in REJECTED:
            raise ValueError(f"unknown rejection reason {reason!r}: add it to metrics.REJECTED")
        self.inc("remediate_requests_rejected_total", reason=reason)

    def observe_job(self, seconds: float) -> None:
        with self.lock:
            self.duration_sum += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.duration_buckets[i] += 1

    def render(self, jobs_by_state: dict[str, int], held: int = 0) -> str:
        lines = [
            "# HELP remediate_alerts_total Alerts received, by verdict (accepted, deduped, cooldown, refused, ...).",
            "# TYPE remediate_alerts_total counter",
        ]
        with self.lock:
            counters = sorted(self.counters.items())
            buckets, total = list(self.duration_buckets), self.duration_sum
        for name, samples in itertools.groupby(counters, key=lambda item: item[0][0]):
            if name != "remediate_alerts_total":  # its HELP and TYPE lead the page, samples or not
                if name in HELP:
                    lines.append(f"# HELP {name} {HELP[name]}")
                lines.append(f"# TYPE {name} counter")
            for (_, labels), value in samples:
                inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(f"{name}{{{inner}}} {value:g}" if inner else f"{name} {value:g}")
        lines += ["# HELP remediate_jobs Jobs in the journal, by state.", "# TYPE remediate_jobs gauge"]
        for state in STATES:
            lines.append(f'remediate_jobs{{state="{state}"}} {jobs_by_state.get(state, 0)}')
        lines += ["# HELP remediate_job_states_unrecorded Job starts and ends the journal could not take (a full disk),"
                  " held in memory until it can.", "# TYPE remediate_job_states_unrecorded gauge",
                  f"remediate_job_states_unrecorded {held}"]  # fmt: skip
        lines += ["# HELP remediate_job_duration_seconds Time from a job's start to its end.",
                  "# TYPE remediate_job_duration_seconds histogram"]  # fmt: skip
        for bound, count in zip(BUCKETS, buckets, strict=True):
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'remediate_job_duration_seconds_bucket{{le="{le}"}} {count}')
        lines.append(f"remediate_job_duration_seconds_sum {total:g}")
        lines.append(f"remediate_job_duration_seconds_count {buckets[-1]}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
