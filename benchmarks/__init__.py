"""Benchmarks for caseflow: `python -m benchmarks [--quick] [--strict] [NAME...]`.

Each benchmark measures caseflow against a baseline taken in the same run (the machine is
shared and noisy, so absolute figures mean little) and prints one JSON object per measured
configuration on stdout: ``{"name", "ratio", "target", "passed", ...raw figures}``.
Progress goes to stderr.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from typing import Any


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def result(name: str, ratio: float, target: float, *, at_most: bool, **raw: Any) -> dict[str, Any]:
    """One configuration's figures; ``at_most`` says whether the target is a ceiling."""
    passed = ratio <= target if at_most else ratio >= target
    return {"name": name, "ratio": round(ratio, 3), "target": target, "passed": passed, **raw}


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)
