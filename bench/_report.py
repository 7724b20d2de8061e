"""What a benchmark reports: figures, their markdown table and the JSON under bench/results/.

Shared by bench/gateway.py and bench/propagation.py, and read back by bench/all.py.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import BenchError

RESULTS = Path(__file__).with_name("results")
HEADER = "| figure | reference | measured | ratio / target | result |"


@dataclass
class Figure:
    name: str
    reference: str
    measured: str
    versus: str  # the ratio and the target, or the target alone
    passed: bool | None  # None: reported, no target
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def result(self) -> str:
        return {True: "pass", False: "**FAIL**", None: "—"}[self.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "figure": self.name,
            "reference": self.reference,
            "measured": self.measured,
            "versus": self.versus,
            "passed": self.passed,
            "data": self.data,
        }


def row(figure: dict[str, Any]) -> str:
    """A figure's table row, from its JSON."""
    result = {True: "pass", False: "**FAIL**", None: "—"}[figure["passed"]]
    return (
        f"| {figure['figure']} | {figure['reference']} | {figure['measured']} "
        f"| {figure['versus']} | {result} |"
    )


def table(figures: list[dict[str, Any]]) -> list[str]:
    return [HEADER, "|---|---|---|---|---|", *(row(f) for f in figures)]


def write(
    benchmark: str,
    started: dt.datetime,
    machine: dict[str, Any],
    method: dict[str, Any],
    figures: list[Figure],
) -> int:
    """Print the table, write bench/results/<benchmark>-<UTC time>.json; the exit status:
    1 when a figure misses its target."""
    documents = [f.to_json() for f in figures]
    print("\n" + "\n".join(table(documents)))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{benchmark}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    document = {
        "benchmark": benchmark,
        "started": started.isoformat(timespec="seconds"),
        "machine": machine,
        "method": method,
        "figures": documents,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0 if all(f.passed is not False for f in figures) else 1


def run(script: str, main: Callable[[], int]) -> None:
    """A benchmark's entry point: exit 2 when it cannot run, 130 on Ctrl-C."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{script}: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted; every process started was stopped", file=sys.stderr)
        sys.exit(130)
