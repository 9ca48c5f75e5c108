#!/usr/bin/env python3
"""Does the receiver's answer time tell how much of a wrong token was right? (it must not)

    .venv/bin/python bench/token_timing.py [--rounds 3000] [--publish]

`remediate serve` on loopback answers GET /jobs with wrong bearer tokens of the right length, sent
interleaved over one kept-alive connection: tokens sharing no prefix with the real one, half of it,
and all but its last character. Prints the median and p10 answer time of each and the ratio to the
no-prefix case. With a constant-time comparison (hmac.compare_digest over the whole header) the
ratios stay within the machine's noise (about 1.00); a comparison that stops at the first wrong
byte would grow with the prefix. A benchmark, not a test: tests/unit/front/test_receiver_auth.py
proves the comparison itself.
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
import time
from pathlib import Path

from benchlib import median, percentile, write
from monitoring import Receiver

TOKEN = "t" * 20 + "0123456789abcdef0123456789abcdef"  # 52 characters


def wrong(prefix: int) -> str:
    """A token of the right length whose first `prefix` characters are right."""
    return TOKEN[:prefix] + "x" * (len(TOKEN) - prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3000, help="requests per kind of token")
    parser.add_argument("--publish", action="store_true", help="also write into docs/benchmarks/")
    args = parser.parse_args()
    kinds = {"no prefix": wrong(0), "half right": wrong(len(TOKEN) // 2), "all but last": wrong(len(TOKEN) - 1)}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        receiver = Receiver(work, {"data_dir": str(work / "data"), "routes": []}, TOKEN).start()
        try:
            host, port = receiver.url.split("//")[1].split(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=5)
            times: dict[str, list[float]] = {kind: [] for kind in kinds}
            for _ in range(args.rounds):
                for kind, token in kinds.items():
                    started = time.perf_counter()
                    connection.request("GET", "/jobs", headers={"Authorization": f"Bearer {token}"})
                    answer = connection.getresponse()
                    answer.read()
                    times[kind].append(time.perf_counter() - started)
                    assert answer.status == 401, answer.status
        finally:
            receiver.stop()
    base = median(times["no prefix"])
    result = {"rounds": args.rounds, "token_length": len(TOKEN), "kinds": {}}
    print(f"{args.rounds} wrong tokens of each kind, {len(TOKEN)} characters, one connection, interleaved")
    for kind, values in times.items():
        row = {"median_ms": round(median(values) * 1000, 4), "p10_ms": round(percentile(values, 0.1) * 1000, 4),
               "ratio_to_no_prefix": round(median(values) / base, 3)}  # fmt: skip
        result["kinds"][kind] = row
        print(f"  {kind:13s} median {row['median_ms']:.3f} ms  p10 {row['p10_ms']:.3f} ms  "
              f"ratio {row['ratio_to_no_prefix']:.3f}")  # fmt: skip
    write("token_timing", result, args.publish)


if __name__ == "__main__":
    main()
