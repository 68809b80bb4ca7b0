"""SQLModel tables. The schema itself is created and upgraded by the migrations in
``caseflow/migrations``; these classes describe it for queries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class Child(SQLModel, table=True):
    __tablename__ = "child"

    id: int | None = Field(default=None, primary_key=True)
    id_number: str = Field(unique=True, max_length=18)
    name: str
    sex: str = Field(max_length=1)
    birth_date: date
    ethnicity: str | None = None
    township: str = Field(index=True)
    village: str
    group_name: str | None = None
    school: str | None = None
    grade: str | None = None
    class_name: str | None = None
    student_number: str | None = None


class Guardian(SQLModel, table=True):
    __tablename__ = "guardian"

    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="child.id", index=True)
    name: str
    relation: str | None = None
    phone: str | None = None
    workplace: str | None = None
    # legal: a legal guardian (parents; others under 民法典 art. 27, on legal_basis);
    # carer: an entrusted carer (被委托照护人, 未成年人保护法 art. 22).
    capacity: str = Field(default="carer", sa_column_kwargs={"server_default": "carer"})
    legal_basis: str | None = Field(default=None, sa_column=Column(Text))


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    __table_args__ = (
        Index(
            "ix_case_file_one_open_per_child",
            "child_id",
            unique=True,
            sqlite_where=text("is_open"),
            postgresql_where=text("is_open"),
        ),
        # The sweep asks for open provisional deadlines counted with another calendar
        # coverage than its own: a range scan that finds nothing on an ordinary day.
        Index(
            "ix_case_file_provisional",
            "due_counted_with",
            "id",
            sqlite_where=text("is_open = 1 AND due_provisional = 1"),
            postgresql_where=text("is_open AND due_provisional"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="child.id", index=True)
    workflow: str
    workflow_version: int
    state: str = Field(index=True)
    entered_on: date
    due_on: date | None = Field(default=None, index=True)
    due_provisional: bool = False
    # The calendar coverage (WorkCalendar.coverage) due_on was counted with; NULL: unknown.
    due_counted_with: str | None = None
    version: int = 1
    is_open: bool = True
    opened_on: date
    last_event_on: date
    source: str
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    counters: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    departments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Where a ``returns`` transition leads back to (innermost last), and who moved the case
    # into its current state.
    came_from: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    entered_by: str | None = None
    repeat_count: int = 0
    deadline_from: date | None = None
    extended_days: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # A pending extension request (engine.ExtensionRequest.as_json); NULL: none. Cleared
    # when it is approved or rejected, or when the case leaves the state it was made in.
    extension_request: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )
    ladder_version: int | None = None
    next_rung: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_action_on: date | None = Field(default=None, index=True)
    township: str = Field(index=True)
    village: str
    school: str | None = None
    chain: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    created_at: datetime


class CaseReferral(SQLModel, table=True):
    """Every department a case was ever handed to: the department keeps seeing it."""

    __tablename__ = "case_referral"
    __table_args__ = (Index("ix_case_referral_department", "department", "case_id"),)

    case_id: int = Field(foreign_key="case_file.id", primary_key=True)
    department: str = Field(primary_key=True)
    referred_on: date


class OrgVersion(SQLModel, table=True):
    """Each organisation file applied with `caseflow org apply`; the latest is in force."""

    __tablename__ = "org_version"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    applied_at: datetime
    operator: str


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    recorded_at: str
    occurred_on: str | None = None
    operator: str
    os_user: str
    action: str = Field(index=True)
    case_id: int | None = Field(default=None, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(unique=True, max_length=64)
    hash: str = Field(unique=True, max_length=64)


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int
    hash: str = Field(max_length=64)


class Operator(SQLModel, table=True):
    __tablename__ = "operator"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    os_user: str = Field(index=True)
    roles: str
    jurisdiction: str = "county"
    shared_accounts: str = Field(default="", sa_column_kwargs={"server_default": ""})
    unit: str | None = None
    person: str | None = None
    created_at: datetime


class WorkflowDefinition(SQLModel, table=True):
    __tablename__ = "workflow_definition"

    name: str = Field(primary_key=True)
    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    sha256: str = Field(max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    registered_at: datetime


class Escalation(SQLModel, table=True):
    """A rung that fired: at most once per (case, ladder, rung)."""

    __tablename__ = "escalation"
    __table_args__ = (
        UniqueConstraint("case_id", "ladder_version", "rung", name="uq_escalation_once"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    ladder_version: int
    rung: int
    state: str
    due_on: date
    rung_on: date
    fired_on: date
    days_overdue: int
    recipients: list[str] = Field(sa_column=Column(JSON, nullable=False))
    template: str


class Notice(SQLModel, table=True):
    """The outbox: one document for one recipient, delivered by the dispatcher. ``body``
    is the rendered document; a notice queued by its ``context`` (canonical JSON) and
    ``template_sha256`` is rendered, and its body stored, when first needed."""

    __tablename__ = "notice"
    __table_args__ = (Index("ix_notice_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    kind: str
    template: str
    recipient: str
    case_ids: list[int] = Field(sa_column=Column(JSON, nullable=False))
    subject: str
    body: str | None = Field(default=None, sa_column=Column(Text))
    context: str | None = Field(default=None, sa_column=Column(Text))
    template_sha256: str | None = Field(default=None, max_length=64)
    content_hash: str = Field(max_length=64)
    status: str
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    channel: str | None = None
    address: str | None = None
    claimed_until: datetime | None = None
    claimed_by: str | None = None
    peer_reference: str | None = None


class DocumentSequence(SQLModel, table=True):
    """An issuer's last 文号 number in a year; its row is locked while a number is taken."""

    __tablename__ = "document_sequence"

    issuer: str = Field(primary_key=True)
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int


class DocumentNumber(SQLModel, table=True):
    """A 文号 a document carries: allocated (``serial``) or typed by a person (``given``);
    an issuer never gives the same one twice. ``letter``: the key of the document's notice."""

    __tablename__ = "document_number"
    __table_args__ = (
        UniqueConstraint("issuer", "reference", name="uq_document_number_issuer_reference"),
        Index("ix_document_number_case", "case_id", "template"),
    )

    id: int | None = Field(default=None, primary_key=True)
    issuer: str
    reference: str
    year: int
    serial: int | None = None
    given: bool
    case_id: int = Field(foreign_key="case_file.id")
    template: str
    letter: str = Field(index=True)
    recorded_at: datetime


class Delivery(SQLModel, table=True):
    """One attempt to deliver a notice, and how it ended."""

    __tablename__ = "delivery"
    __table_args__ = (Index("ix_delivery_rate", "channel", "address", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    attempt: int
    channel: str
    address: str
    status: str
    error: str | None = Field(default=None, sa_column=Column(Text))
    peer_reference: str | None = None
    at: datetime


class SchedulerLease(SQLModel, table=True):
    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True)
    holder: str
    acquired_at: datetime
    expires_at: datetime


class RosterImport(SQLModel, table=True):
    """One import of one register file; the source's ``current`` import is its snapshot."""

    __tablename__ = "roster_import"
    __table_args__ = (Index("ix_roster_import_source", "source", "current"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str
    file_name: str
    file_sha256: str = Field(max_length=64)
    as_of: date
    imported_at: datetime
    operator: str
    os_user: str
    rows_total: int
    rows_imported: int
    rows_rejected: int
    rejects_file: str | None = None
    current: bool


class RosterRow(SQLModel, table=True):
    """A validated row of a register. Which fields are set depends on the source:
    ``category`` is the poverty category or the disability category (1-7)."""

    __tablename__ = "roster_row"
    __table_args__ = (
        Index("ix_roster_row_source_id_number", "source", "id_number"),
        Index("ix_roster_row_source_student_number", "source", "student_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(foreign_key="roster_import.id", index=True)
    source: str
    line: int
    id_number: str | None = Field(default=None, max_length=18)
    name: str | None = None
    sex: str | None = Field(default=None, max_length=1)
    birth_date: date | None = None
    township: str | None = None
    village: str | None = None
    group_name: str | None = None
    address: str | None = None
    guardian: str | None = None
    phone: str | None = None
    student_number: str | None = None
    school: str | None = None
    grade: str | None = None
    class_name: str | None = None
    status: str | None = None
    category: str | None = None
    disability_grade: int | None = None
    certificate: str | None = None


class ChildGroup(SQLModel, table=True):
    """A special group (特殊群体) a child belongs to, by who said so: a register
    (``poverty``, ``disability``) or a ``caseworker``. ``code``: a key of the workflow's
    ``special_groups``; disability with its category (1-7) and grade (1-4) where known."""

    __tablename__ = "child_group"
    __table_args__ = (Index("ix_child_group_code", "code", "child_id"),)

    child_id: int = Field(foreign_key="child.id", primary_key=True)
    code: str = Field(primary_key=True)
    source: str = Field(primary_key=True)
    disability_category: str | None = None
    disability_grade: int | None = None
    recorded_on: date
