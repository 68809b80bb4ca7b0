"""`python -m benchmarks [--quick] [--strict] [NAME...]`: run the benchmarks, print one JSON
object per measured configuration. Exit status 0 even when a target is missed, unless
--strict is given (then 1)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import (
    bench_cli_help,
    bench_ledger,
    bench_notices,
    bench_roster,
    bench_sweep,
    bench_transitions,
    bench_verify,
    emit,
)

BENCHMARKS: dict[str, Callable[[bool], list[dict[str, Any]]]] = {
    "transitions_sqlite": bench_transitions.run_sqlite,
    "transitions_postgresql": bench_transitions.run_postgresql,
    "cli_help": bench_cli_help.run,
    "sweep_find_due": bench_sweep.run_find,
    "sweep_rate": bench_sweep.run_rate,
    "sweep_growth": bench_sweep.run_growth,
    "notices_email": bench_notices.run_email,
    "letters_render": bench_notices.run_render,
    "roster_province": bench_roster.run,
    "ledger": bench_ledger.run,
    "audit_verify": bench_verify.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="smoke size: seconds, not minutes")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    missed = False
    for name in args.names or BENCHMARKS:
        for record in BENCHMARKS[name](args.quick):
            emit(record)
            missed = missed or not record["passed"]
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
