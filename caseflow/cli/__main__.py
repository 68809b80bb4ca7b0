"""`python -m caseflow.cli`: the same command as the installed `caseflow`."""

from caseflow.cli import main

main()
