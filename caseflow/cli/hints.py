"""The provisional-calendar hint: what a caseworker reads under a due date counted before
its year's official holidays were known, and what to do about it. The commands that show
due dates print it once, after their output (never once per case), on standard output
with the rest."""

from caseflow.i18n import N_, _

PROVISIONAL_HINT = N_(
    "Note: the official holidays of the year of a provisional deadline are not loaded yet, "
    "so it is counted with only Saturdays and Sundays off. Once the State Council publishes "
    "that year's arrangement, upgrade chinese-calendar (pip install -U chinese-calendar), or "
    "list the year's rest days (rest_days) and make-up working days (working_days) in the "
    "workspace's holidays.yaml and add the year to complete_years; the next escalation "
    "sweep (caseflow escalate) then counts these deadlines again and records it in the "
    "audit. `caseflow calendar check` shows the deadlines waiting to be counted again."
)


def provisional_hint() -> str:
    """The hint in the reader's language."""
    return _(PROVISIONAL_HINT)
