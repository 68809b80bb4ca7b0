"""The one exception tree of caseflow.

Every error a user can cause or meet is a ``CaseflowError``; the CLI prints its
message as one line (``Error: ...``) and exits with its ``exit_code``::

    CaseflowError                    exit 1
    ├── Refused                      exit 1  the request is understood but not allowed
    │   ├── TransitionRefused                wrong state, role, or missing field
    │   ├── DuplicateCase                    the child already has an open case
    │   └── AccessDenied                     the operator may not do this
    ├── NotFound                     exit 1
    │   ├── CaseNotFound
    │   └── WorkflowNotFound
    ├── AuditBroken                  exit 1  the audit trail cannot be trusted or extended
    ├── InvalidInput                 exit 2  bad value or usage; nothing was changed
    │   ├── InvalidIdNumber
    │   ├── WorkflowInvalid                  a workflow file has problems
    │   └── WorkspaceError                   no workspace, or a broken config
    └── Retryable                    exit 3  nothing was changed; safe to run again
        ├── ConcurrentUpdate                 someone else changed the case first
        ├── DatabaseBusy                     the database stayed locked too long
        └── EnvironmentFailure               a full disk, an unreachable or read-only
                                             database, a permission the account lacks

Messages are built from ids and say what to do next.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_RETRY = 3


class CaseflowError(Exception):
    exit_code = EXIT_REFUSED

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class Refused(CaseflowError):
    exit_code = EXIT_REFUSED


class TransitionRefused(Refused):
    pass


class DuplicateCase(Refused):
    pass


class AccessDenied(Refused):
    pass


class NotFound(CaseflowError):
    exit_code = EXIT_REFUSED


class CaseNotFound(NotFound):
    pass


class WorkflowNotFound(NotFound):
    pass


class AuditBroken(CaseflowError):
    exit_code = EXIT_REFUSED


class InvalidInput(CaseflowError):
    exit_code = EXIT_BAD_INPUT


class InvalidIdNumber(InvalidInput):
    pass


class WorkflowInvalid(InvalidInput):
    pass


class WorkspaceError(InvalidInput):
    pass


class Retryable(CaseflowError):
    exit_code = EXIT_RETRY


class ConcurrentUpdate(Retryable):
    pass


class DatabaseBusy(Retryable):
    pass


class EnvironmentFailure(Retryable):
    """The machine, not the request, failed: the disk is full, the database cannot be
    reached or written, the account may not read or write a file. The message says what
    happened and what to do; the command can be run again once that is put right."""
