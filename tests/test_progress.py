"""Progress on standard error, as a person at a terminal sees it: shown when stderr is a
terminal (a pty here), absent when it is not (a pipe, a file, cron)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from caseflow.services.sweep import sweep
from tests.test_compare import county  # noqa: F401 - the registers' fixture
from tests.test_dispatch import overdue_case, rows

REPO = Path(__file__).resolve().parent.parent
# Variables by which a CI runner tells rich to treat a pipe as a terminal, or not.
_RICH_OVERRIDES = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _RICH_OVERRIDES}
    # A caseworker's terminal: the Chinese interface, as installed.
    return {**env, "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1", "CASEFLOW_LANG": "zh"}


def caseflow_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run caseflow with standard error on a pseudo-terminal (120 columns) and standard
    output on a pipe: the exit code, standard output, and what the terminal received."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    received = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal side closed
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        process = subprocess.run(
            [sys.executable, str(REPO / "cli.py"), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=_environment(),
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
    reader.join(timeout=10)
    os.close(controller)
    return process.returncode, process.stdout.decode("utf-8"), received.decode("utf-8", "replace")


def caseflow_in_a_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "cli.py"), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=120,
        check=False,
    )


def test_dispatch_shows_its_progress_on_a_terminal(ctx, workspace) -> None:
    overdue_case(ctx)
    queued = sweep(ctx).notices
    code, out, terminal = caseflow_on_a_terminal("-w", str(workspace), "notify", "dispatch")
    assert code == 0, terminal
    assert f"正在投递通知：已处理{queued}份" in terminal
    assert "正在投递通知" not in out  # progress never mixes into the output
    assert all(row.status == "sent" for row in rows(ctx))


def test_dispatch_shows_no_progress_when_standard_error_is_not_a_terminal(ctx, workspace) -> None:
    overdue_case(ctx)
    sweep(ctx)
    result = caseflow_in_a_pipe("-w", str(workspace), "notify", "dispatch")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "正在投递通知" not in result.stdout
    assert all(row.status == "sent" for row in rows(ctx))


@pytest.mark.usefixtures("county")
def test_the_register_comparison_shows_progress_on_a_terminal_only(workspace) -> None:
    compared = ("-w", str(workspace), "roster", "compare")
    code, out, terminal = caseflow_on_a_terminal(*compared)
    assert code == 0, terminal
    assert "正在比对名册（五查四比对）" in terminal and "正在比对名册" not in out
    piped = caseflow_in_a_pipe(*compared)
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout == out  # the same findings either way


def test_the_demo_names_its_stages_on_a_terminal_and_says_nothing_in_a_pipe(
    tmp_path: Path,
) -> None:
    small = ("--children", "60", "--days", "2")
    code, out, terminal = caseflow_on_a_terminal(
        "demo", str(tmp_path / "shown"), *small, "--lang", "zh"
    )
    assert code == 0, terminal
    assert "正在" in terminal and "已完成" in terminal
    assert "正在生成示范县" not in out
    quiet = caseflow_in_a_pipe("demo", str(tmp_path / "quiet"), *small)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
