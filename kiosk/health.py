"""One health-check record for doctor, every area's ``doctor_checks`` and maintenance mode.

A check is read by a technician standing at the kiosk, so every non-OK check carries
the one thing to do next (``fix``). The same records feed ``kiosk doctor`` (text and
``--json``), and are what telemetry and the maintenance screen read next, so an area
reports its health once, here, in one shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from kiosk.vocab import CheckStatus

if TYPE_CHECKING:
    from kiosk.errors import KioskError


class _Fields(NamedTuple):
    name: str
    """Short label, e.g. "model", "log writer", "web cert"."""
    status: CheckStatus
    detail: str
    """What was found, in one line."""
    fix: str = ""
    """What to do about a WARN or FAIL (empty when OK)."""


class Check(_Fields):
    """A named tuple, so an area's checks read as rows ``(name, status, detail, fix)``;
    the status is checked against CheckStatus when the check is made ("OKK" is an error)."""

    __slots__ = ()

    def __new__(cls, name: str, status: CheckStatus | str, detail: str, fix: str = "") -> Check:
        return super().__new__(cls, name, CheckStatus(status), detail, fix)

    @classmethod
    def ok(cls, name: str, detail: str) -> Check:
        return cls(name, CheckStatus.OK, detail)

    @classmethod
    def warn(cls, name: str, detail: str, fix: str) -> Check:
        return cls(name, CheckStatus.WARN, detail, fix)

    @classmethod
    def fail(cls, name: str, detail: str, fix: str) -> Check:
        return cls(name, CheckStatus.FAIL, detail, fix)

    @classmethod
    def from_error(cls, name: str, error: KioskError, status: CheckStatus = CheckStatus.FAIL) -> Check:
        """A coded error as a check: its message and fix, nothing retyped."""
        return cls(name, status, error.message, error.fix)

    @property
    def failed(self) -> bool:
        return self.status is CheckStatus.FAIL

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail, "fix": self.fix}


def worst(checks: list[Check]) -> CheckStatus:
    """The overall verdict: FAIL if any failed, else WARN if any warned, else OK."""
    statuses = {c.status for c in checks}
    for status in (CheckStatus.FAIL, CheckStatus.WARN):
        if status in statuses:
            return status
    return CheckStatus.OK
