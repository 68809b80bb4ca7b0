"""What the README says about `caseflow demo` and the quickstart is what they do. The demo
runs once, as the README shows it (`caseflow demo DIR`, default arguments), and the
quickstart's register steps run on its files; every number the README states about them
is read from the README and checked against those real runs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from caseflow.cli import app
from caseflow.resources import shipped

README = Path(__file__).resolve().parent.parent / "README.md"
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def section(heading: str) -> str:
    """The README's text under a ``## heading`` up to the next ``## ``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}")
    return text[start : text.index("\n## ", start + 1)]


def stated(pattern: str, text: str) -> re.Match[str]:
    found = re.search(pattern, text, re.DOTALL)
    assert found, f"the README no longer says {pattern!r}"
    return found


@dataclass(frozen=True)
class Run:
    folder: Path
    printed: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("readme") / "caseflow-demo"
    result = CliRunner().invoke(app, ["demo", str(folder)])
    assert result.exit_code == 0, result.stderr
    return Run(folder, result.stdout)


def test_the_demo_county_is_the_one_the_readme_describes(demo: Run) -> None:
    text = section("See it work")
    claim = stated(
        r"It invents a county \((\w+); (\w+) townships, .*? about ([\d,]+)\s+children", text
    )
    county, townships, children = claim.groups()
    made = stated(
        r"^(\w+) \(synthetic, seed \d+\): (\d+) townships, .*?, (\d+) children", demo.printed
    )
    assert made.group(1) == county
    assert int(made.group(2)) == NUMBERS[townships]
    about = int(children.replace(",", ""))
    assert abs(int(made.group(3)) - about) <= about * 0.05  # "about"
    days = stated(r"plays\s+(\d+) days of casework", text).group(1)
    assert f"\n{days} days of casework, " in demo.printed


def test_the_cases_and_commands_the_readme_points_at_are_the_demos_own(demo: Run) -> None:
    text = section("See it work")
    stories = re.findall(r"^caseflow case show (\d+)\s+# (.+)$", text, re.MULTILINE)
    assert len(stories) >= 4
    for number, story in stories:
        pattern = rf"case show {number}\s+# {re.escape(story)}$"
        assert re.search(pattern, demo.printed, re.MULTILINE), (number, story)
    last_day = stated(r"\d+ days of casework, \S+ to (\S+):", demo.printed).group(1)
    days = set(re.findall(r"--as-of (\d{4}-\d{2}-\d{2})", text))
    assert days == {last_day}
    caseworker = stated(r"caseflow --as (\S+) case list", text).group(1)
    assert f"--as {caseworker} case list" in demo.printed


def test_the_files_the_readme_names_are_in_the_demo_workspace(demo: Run) -> None:
    text = section("See it work")
    for folder in re.findall(r"`(\w+)/`", text):
        assert any((demo.folder / folder).iterdir()), folder
    assert list((demo.folder / "ledgers").glob("county-*.xlsx"))
    assert (demo.folder / "registers" / "truth.json").is_file()


def test_the_quickstart_finds_exactly_the_children_the_readme_says(
    demo: Run, tmp_path: Path
) -> None:
    text = section("Quickstart")
    runner = CliRunner()
    workspace = tmp_path / "my-county"

    def run(*args: str) -> str:
        result = runner.invoke(app, ["-w", str(workspace), *args])
        assert result.exit_code == 0, (args, result.stderr)
        return result.stdout

    assert runner.invoke(app, ["init", str(workspace), "--example-org"]).exit_code == 0
    run("org", "apply")
    loop = stated(
        r"for source in ([\w ]+); do\s+caseflow roster import \$source "
        r"\.\./caseflow-demo/registers/\$source\.csv --as-of (\S+)",
        text,
    )
    for source in loop.group(1).split():
        run(
            "roster",
            "import",
            source,
            str(demo.folder / "registers" / f"{source}.csv"),
            "--as-of",
            loop.group(2),
        )
    compare = stated(r"caseflow roster compare --as-of (\S+) -o (\S+) --open-cases", text)
    printed = run(
        "roster",
        "compare",
        "--as-of",
        compare.group(1),
        "-o",
        str(tmp_path / compare.group(2)),
        "--open-cases",
        "--lang",
        "zh",  # the README shows the Chinese interface
    )
    children = int(stated(r"finds exactly the (\d+) children the demo planted", text).group(1))
    planted = json.loads((demo.folder / "registers" / "truth.json").read_text("utf-8"))
    assert len(planted["flags"]) == children
    assert f"：疑似辍学 {children} 人" in printed
    assert f"已登记案件 {children} 件；" in printed
    cases = json.loads(run("case", "list", "--json"))
    assert len(cases) == children


def test_the_example_organisation_is_the_one_the_readme_describes() -> None:
    text = section("Quickstart")
    claim = stated(r"\((\w+): (\w+) townships, (\w+) schools,", text)
    org = yaml.safe_load((shipped("examples") / "small-county" / "org.yaml").read_text("utf-8"))
    kinds = [unit["kind"] for unit in org["units"]]
    assert org["county"] == claim.group(1)
    assert kinds.count("township") == NUMBERS[claim.group(2)]
    assert kinds.count("school") == NUMBERS[claim.group(3)]


def quickstart_script() -> str:
    """The Quickstart's shell blocks, in order, as one script."""
    blocks = re.findall(r"^```bash\n(.*?)^```$", section("Quickstart"), re.MULTILINE | re.DOTALL)
    return "set -euo pipefail\n" + "\n".join(blocks)


def test_the_quickstart_runs_as_written(demo: Run, tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    shutil.copytree(demo.folder / "registers", tmp_path / "caseflow-demo" / "registers")
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CASEFLOW_LANG": "zh",
    }
    environment.pop("CASEFLOW_WORKSPACE", None)
    result = subprocess.run(
        ["bash", "-c", quickstart_script()],
        check=False,
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
