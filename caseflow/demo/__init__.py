"""The demo: a synthetic county (``county``), the scenario its people play against the
shipped workflow (``scenario``: the one place that may name its states and triggers), the
local mail and robot capture (``capture``), and the run that puts them together (``run``).
Nothing imports this package but the CLI's ``demo`` command (and the tests)."""
