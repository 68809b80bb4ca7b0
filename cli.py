"""Run the caseflow command from a checkout: `python cli.py --help`.

The installed `caseflow` command runs the same app (caseflow.cli:main).
"""

from caseflow.cli import main

if __name__ == "__main__":
    main()
