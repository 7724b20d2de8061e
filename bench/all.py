"""`make bench`: every figure of docs/performance.md in one table.

Runs the benchmarks that measure the issue's figures, one after another (each pins its own
processes), and reads back the JSON each writes under bench/results/:

- bench/gateway.py: the data plane against nginx (throughput, latency added, memory, compile
  and swap, start from a backup, swaps under load);
- bench/propagation.py: management write → served with 1 and 50 gateways, swaps under load
  through the real control plane, and the token endpoint (bench/tokens.py).

A benchmark that misses a target still reports; one that cannot run stops the table with its
error. Prints one markdown table and writes it, with every figure's data, to
bench/results/summary-<UTC time>.json. Exit status 1 when any target is missed.

    python bench/all.py
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from _report import RESULTS, table

HERE = Path(__file__).parent
BENCHMARKS = (("gateway", "gateway.py"), ("propagation", "propagation.py"))
# Exit status of a benchmark that measured everything but missed a target.
MISSED = 1


def newest(prefix: str, since: float) -> dict[str, Any] | None:
    found = sorted(
        (p for p in RESULTS.glob(f"{prefix}-*.json") if p.stat().st_mtime >= since),
        key=lambda p: p.stat().st_mtime,
    )
    return json.loads(found[-1].read_text()) if found else None


def main() -> int:
    started = dt.datetime.now(dt.UTC)
    documents: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    for name, script in BENCHMARKS:
        print(f"\n=== {script} ===", flush=True)
        since = dt.datetime.now(dt.UTC).timestamp()
        status = subprocess.run([sys.executable, str(HERE / script)], check=False).returncode
        document = newest(name, since)
        if document is None or status not in (0, MISSED):
            failures.append(f"{script} could not run (exit status {status})")
            continue
        documents[name] = document
    figures = [f for d in documents.values() for f in d["figures"]]
    lines = table(figures)
    machine = next(iter(documents.values()))["machine"] if documents else {}
    print("\n" + "\n".join(lines))
    for failure in failures:
        print(f"\nERROR: {failure}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"summary-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "machine": machine,
                "table": lines,
                "benchmarks": documents,
                "errors": failures,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten {out.relative_to(HERE.parent)}")
    if failures:
        return 2
    return 1 if any(f.get("passed") is False for f in figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
