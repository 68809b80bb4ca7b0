"""From five register files to cases: a synthetic county with planted discrepancies,
imported and compared, must give exactly the planted answer."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

from caseflow.demo.county import REGISTERS, generate_county, write_registers
from caseflow.services.audit import audit_verify
from caseflow.services.cases import open_cases
from caseflow.services.compare import compare
from caseflow.services.context import Context
from caseflow.services.roster import import_roster
from tests.conftest import audit_trail

REFERENCE = date(2026, 9, 1)
AS_OF = date(2026, 11, 20)


def imported_county(ctx: Context, folder: Path, seed: int = 1):
    county = generate_county(seed, children=1500, reference_date=REFERENCE)
    paths = write_registers(county, folder, formats={"student": "gbk", "disability": "xlsx"})
    summaries = {name: import_roster(ctx, name, paths[name], as_of=AS_OF) for name in REGISTERS}
    return county, summaries


def test_every_planted_suspect_is_found_and_nothing_else(ctx, tmp_path) -> None:
    county, summaries = imported_county(ctx, tmp_path)
    for name, summary in summaries.items():
        assert summary.rejected == len(county.truth.rejects.get(name, {})), name
    found = {s.id_number: frozenset(s.flags) for s in compare(ctx, as_of=AS_OF).suspects}
    assert found == county.truth.flags


def test_opening_cases_for_the_county_twice_opens_each_suspect_once(ctx, tmp_path) -> None:
    county, _ = imported_county(ctx, tmp_path)
    comparison = compare(ctx, as_of=AS_OF)
    first = open_cases(ctx, comparison)
    assert len(first.opened) == len(county.truth.flags)
    second = open_cases(ctx, compare(ctx, as_of=AS_OF))
    assert second.opened == [] and second.unchanged == len(county.truth.flags)
    assert audit_verify(ctx).intact


def test_roster_compare_command_writes_masked_findings_and_reveals_only_when_asked(
    cli, ctx, tmp_path
) -> None:
    county, _ = imported_county(ctx, tmp_path / "files")
    listed = cli("roster", "compare", "--as-of", AS_OF.isoformat(), "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == len(county.truth.flags)
    assert all("********" in row["id_number"] for row in rows)
    assert not any(i in listed.stdout for i in county.truth.flags)
    output = tmp_path / "findings.csv"
    written = cli("roster", "compare", "--as-of", AS_OF.isoformat(), "-o", str(output))
    assert written.exit_code == 0, written.stderr
    with output.open(encoding="utf-8-sig") as stream:
        table = list(csv.reader(stream))
    assert table[0][:3] == ["身份证号", "姓名", "比对结果"] and len(table) == len(rows) + 1
    revealed = cli("roster", "compare", "--as-of", AS_OF.isoformat(), "--json", "--reveal")
    assert {row["id_number"] for row in json.loads(revealed.stdout)} == set(county.truth.flags)
    assert audit_trail(ctx)[-1]["action"] == "roster.reveal"
    opened = cli("--lang", "zh", "roster", "compare", "--as-of", AS_OF.isoformat(), "--open-cases")
    assert opened.exit_code == 0 and f"已登记案件 {len(rows)} 件；" in opened.stdout
