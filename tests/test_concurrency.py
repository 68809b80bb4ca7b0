"""Two caseworkers advancing the same case at the same moment, in two real processes."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from caseflow.services.audit import audit_verify
from caseflow.services.cases import advance, open_case, show_case
from caseflow.services.context import Context
from tests.conftest import child

ROUNDS = 15


def _worker(workspace: str, barrier: Any, jobs: Any, results: Any) -> None:
    from typer.testing import CliRunner

    from caseflow.cli import app

    runner = CliRunner()
    while True:
        job = jobs.get()
        if job is None:
            return
        barrier.wait(timeout=60)
        result = runner.invoke(app, ["-w", workspace, "case", "advance", *job])
        results.put((result.exit_code, result.stderr.strip()))


def _returned_case(ctx: Context) -> int:
    number = open_case(ctx, child(), occurred_on=date(2026, 11, 2)).number
    advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 3))
    advance(ctx, number, "confirm_dropout", {"reason": "learning"}, occurred_on=date(2026, 11, 4))
    advance(
        ctx,
        number,
        "return_to_school",
        {"placement": "original_class", "school": "天堂小学"},
        occurred_on=date(2026, 11, 5),
    )
    return number


@pytest.mark.slow
def test_two_processes_advancing_one_case_exactly_one_wins_each_round(
    workspace: Path, ctx: Context
) -> None:
    number = _returned_case(ctx)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    jobs = [spawn.Queue(), spawn.Queue()]
    results = spawn.Queue()
    workers = [
        spawn.Process(target=_worker, args=(str(workspace), barrier, q, results)) for q in jobs
    ]
    for worker in workers:
        worker.start()
    outcomes: Counter[int] = Counter()
    try:
        for _ in range(ROUNDS):
            version = show_case(ctx, number)["version"]
            job = [
                str(number),
                "check_in",
                "--set",
                "attending=steady",
                "--expect-version",
                str(version),
                "--date",
                "2026-11-06",
            ]
            for queue in jobs:
                queue.put(job)
            pair = sorted(results.get(timeout=120) for _ in jobs)
            codes = [code for code, _ in pair]
            assert codes == [0, 3], pair
            assert "nothing was changed" in pair[1][1] or "not " + str(version) in pair[1][1]
            outcomes.update(codes)
    finally:
        for queue in jobs:
            queue.put(None)
        for worker in workers:
            worker.join(timeout=60)
    assert outcomes == {0: ROUNDS, 3: ROUNDS}
    view = show_case(ctx, number)
    assert view["version"] == 4 + ROUNDS
    check_ins = [e for e in view["history"] if e.get("trigger") == "check_in"]
    assert len(check_ins) == ROUNDS
    assert audit_verify(ctx).intact


def _race_once(workspace: str, barrier: Any, number: int, results: Any) -> None:
    from caseflow.errors import CaseflowError
    from caseflow.services.cases import advance
    from caseflow.services.context import open_context

    context = open_context(Path(workspace))
    barrier.wait(timeout=60)
    try:
        advance(
            context,
            number,
            "located",
            {"whereabouts": "在外省务工地找到"},
            occurred_on=date(2026, 11, 6),
        )
        results.put(0)
    except CaseflowError as exc:
        results.put(exc.exit_code)


@pytest.mark.slow
def test_racing_without_an_expected_version_never_applies_both(
    workspace: Path, ctx: Context
) -> None:
    """Both processes read 'missing'; one moves the case, the other is refused or conflicts."""
    spawn = multiprocessing.get_context("spawn")
    for round_number in range(4):
        number = open_case(ctx, child(10 + round_number), occurred_on=date(2026, 11, 2)).number
        advance(ctx, number, "start_verification", occurred_on=date(2026, 11, 3))
        advance(ctx, number, "report_missing", occurred_on=date(2026, 11, 4))
        barrier = spawn.Barrier(2)
        results = spawn.Queue()
        racers = [
            spawn.Process(target=_race_once, args=(str(workspace), barrier, number, results))
            for _ in range(2)
        ]
        for racer in racers:
            racer.start()
        codes = sorted(results.get(timeout=120) for _ in racers)
        for racer in racers:
            racer.join(timeout=60)
        assert codes[0] == 0 and codes[1] in (1, 3), codes
        view = show_case(ctx, number)
        assert view["state"] == "verifying"
        assert sum(1 for e in view["history"] if e.get("trigger") == "located") == 1
    assert audit_verify(ctx).intact
