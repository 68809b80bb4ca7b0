"""The `caseflow` command line: one module per command group, each command parsing its
arguments, calling a use case (``caseflow.services``) and printing its result through the
presenter (``present``)."""

# Importing a group's module registers its commands; top-level commands are listed by
# `caseflow --help` in the order their modules are imported here.
# isort: off
from caseflow.cli import init, case, figures, demo  # noqa: F401
from caseflow.cli import audit, calendar, db, notice, org, review, roster, scheduler  # noqa: F401
from caseflow.cli import grants, workflow, doctor  # noqa: F401

# isort: on
from caseflow.cli.base import app

__all__ = ["app", "main"]


def main() -> None:
    app(prog_name="caseflow")
