"""The service layer: the only wiring of the domain to the database, the clock and files.

Shared modules, which every use case may import: ``context`` (the workspace, database,
operator, clock and calendar a use case runs with), ``step`` (one step on one case: the
case row, its audit event and what it causes, in one transaction), ``outbox`` (the one
writer of notice rows), ``letters`` (a case's documents, queued inside a step),
``records`` (scoped reads, access checks and the read log) and ``snapshots`` (the
imported registers' files).

Use-case modules, one per group, which import the shared ones and never each other:
``cases``, ``sweep``, ``dispatch``, ``documents``, ``campaigns``, ``roster``, ``compare``,
``ledger``, ``stats``, ``review``, ``report``, ``org``, ``audit``, ``workflows``; and
``lease`` (the scheduler's single-runner lease). A caller that needs two of them (the
CLI, the scheduler) calls both.
"""
