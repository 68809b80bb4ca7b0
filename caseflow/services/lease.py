"""Leases: at most one holder of a named role (the scheduler) per database.

A lease is one row of ``scheduler_lease``: who holds it and until when. It is taken with
one atomic UPDATE that succeeds only when the lease has expired or is already ours (an
INSERT when the row is missing; the primary key settles a race between two first
starts), renewed by its holder well before it expires, and released on a clean exit. A
holder that crashes simply stops renewing: once the lease expires, another takes over.

Times are UTC. The holder names the host and process (``host:pid``), so the message to a
second instance can say who to look for.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from caseflow import db
from caseflow.models import SchedulerLease
from caseflow.services.context import Context

SCHEDULER = "scheduler"

_LEASE = SchedulerLease.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        return f"{self.holder} until {self.expires_at.isoformat(timespec='seconds')}"


@dataclass(frozen=True)
class Attempt:
    """The outcome of ``acquire``: ``taken`` by us, or held by ``lease.holder``."""

    taken: bool
    lease: Lease


def holder_id() -> str:
    """This process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _lease(row: Any) -> Lease:
    return Lease(row.name, row.holder, _utc(row.acquired_at), _utc(row.expires_at))


def _read(connection: Connection, name: str) -> Lease | None:
    row = connection.execute(select(_LEASE).where(_LEASE.c.name == name)).first()
    return None if row is None else _lease(row)


def current(ctx: Context, name: str = SCHEDULER) -> Lease | None:
    with db.read(ctx.engine) as connection:
        return _read(connection, name)


def acquire(
    ctx: Context,
    holder: str,
    ttl: timedelta,
    *,
    name: str = SCHEDULER,
    now: datetime | None = None,
) -> Attempt:
    """Take the lease if it is free, expired or already ours; else say who holds it."""
    moment = _utc(now or ctx.now())
    expires = moment + ttl
    take = (
        update(_LEASE)
        .where(
            _LEASE.c.name == name,
            or_(_LEASE.c.expires_at < moment, _LEASE.c.holder == holder),
        )
        .values(
            holder=holder,
            acquired_at=case((_LEASE.c.holder == holder, _LEASE.c.acquired_at), else_=moment),
            expires_at=expires,
        )
    )
    with db.write(ctx.engine) as connection:
        if connection.execute(take).rowcount == 1:
            lease = _read(connection, name)
            assert lease is not None
            return Attempt(True, lease)
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(_LEASE).values(
                        name=name, holder=holder, acquired_at=moment, expires_at=expires
                    )
                )
            return Attempt(True, Lease(name, holder, moment, expires))
        except IntegrityError:
            pass  # the row exists: someone else holds the lease, or just took it
        lease = _read(connection, name)
        assert lease is not None
        return Attempt(False, lease)


def renew(
    ctx: Context,
    holder: str,
    ttl: timedelta,
    *,
    name: str = SCHEDULER,
    now: datetime | None = None,
) -> bool:
    """Push our lease's expiry forward; False when it is no longer ours."""
    moment = _utc(now or ctx.now())
    with db.write(ctx.engine) as connection:
        result = connection.execute(
            update(_LEASE)
            .where(_LEASE.c.name == name, _LEASE.c.holder == holder)
            .values(expires_at=moment + ttl)
        )
        return result.rowcount == 1


def release(
    ctx: Context, holder: str, *, name: str = SCHEDULER, now: datetime | None = None
) -> bool:
    """Let the lease go now (it stays on record as expired); False when it was not ours."""
    moment = _utc(now or ctx.now())
    with db.write(ctx.engine) as connection:
        result = connection.execute(
            update(_LEASE)
            .where(_LEASE.c.name == name, _LEASE.c.holder == holder)
            .values(expires_at=moment)
        )
        return result.rowcount == 1
