"""Wall time of `caseflow --help` against `python -c "import typer"`, the floor any typer
command pays. The help runs the way the installed `caseflow` script does
(`from caseflow.cli import main; main()`), from the repository root. Runs alternate; the
medians are compared. When the target is missed, `python -X importtime` names the caseflow
modules `--help` imported and the packages that cost the most.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from time import perf_counter
from typing import Any

from benchmarks import log, median, result

REPO = Path(__file__).resolve().parent.parent
# An installed caseflow has its bytecode compiled (pip does it), as typer has; so the
# warm-up run may write caseflow's bytecode even where the shell forbids it.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
HELP = ["-c", "from caseflow.cli import main; main()", "--help"]
TYPER = ["-c", "import typer"]
TARGET = 1.5


def wall(args: list[str]) -> float:
    start = perf_counter()
    subprocess.run([sys.executable, *args], cwd=REPO, env=ENV, check=True, capture_output=True)
    return perf_counter() - start


def import_profile() -> dict[str, Any]:
    """Caseflow modules imported by `--help`, and self import time (ms) by top package."""
    stderr = subprocess.run(
        [sys.executable, "-X", "importtime", *HELP],
        cwd=REPO,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    modules: list[str] = []
    by_package: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        name = name.strip()
        if name.startswith("caseflow"):
            modules.append(name)
        by_package[name.split(".")[0]] += int(self_us) / 1000
    heaviest = sorted(by_package.items(), key=lambda item: -item[1])[:8]
    return {
        "caseflow_modules": modules,
        "import_ms_by_package": {name: round(ms, 1) for name, ms in heaviest},
    }


def run(quick: bool) -> list[dict[str, Any]]:
    repetitions = 5 if quick else 15
    wall(HELP), wall(TYPER)  # warm the bytecode and file caches
    times: dict[str, list[float]] = {"help": [], "typer": []}
    for _ in range(repetitions):
        times["help"].append(wall(HELP))
        times["typer"].append(wall(TYPER))
    help_s, typer_s = median(times["help"]), median(times["typer"])
    log(f"cli_help: caseflow --help {help_s * 1000:.0f} ms, import typer {typer_s * 1000:.0f} ms")
    record = result(
        "cli_help",
        help_s / typer_s,
        TARGET,
        at_most=True,
        help_ms=round(help_s * 1000, 1),
        import_typer_ms=round(typer_s * 1000, 1),
        help_ms_all=[round(t * 1000, 1) for t in times["help"]],
        import_typer_ms_all=[round(t * 1000, 1) for t in times["typer"]],
        repetitions=repetitions,
    )
    if not record["passed"]:
        record.update(import_profile())
    return [record]
