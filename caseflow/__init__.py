"""caseflow: a workflow engine for school-dropout cases (控辍保学)."""

__version__ = "0.1.0"
