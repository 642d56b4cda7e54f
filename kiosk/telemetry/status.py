"""The telemetry state as one typed object: for ``kiosk telemetry status``, doctor and
the maintenance screen alike. It reads the outbox file, so it tells the same story in
any process (the running kiosk persists its last success and last error there)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from kiosk.config import Config
from kiosk.errors import TelemetryError
from kiosk.telemetry.outbox import Outbox, OutboxStats, outbox_path


@dataclass
class TelemetryStatus:
    state: str
    """"disabled", "local" (no endpoint: outbox only), "ok", "retrying", "error"."""
    endpoint: str = ""
    path: str = ""
    batches: int = 0
    bytes: int = 0
    oldest: float | None = None
    """Unix time of the oldest waiting batch."""
    produced: int = 0
    sent: int = 0
    dropped: int = 0
    dropped_size: int = 0
    dropped_age: int = 0
    parked: int = 0
    parked_reasons: list[str] = field(default_factory=list)
    rejected: int = 0
    last_partial: str = ""
    last_success: float | None = None
    last_error: dict[str, Any] = field(default_factory=dict)
    next_attempt: float | None = None
    problem: str = ""
    """Why the outbox could not be read, if it could not."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def empty(self) -> bool:
        return self.batches == 0


def _state(config: Config, st: OutboxStats) -> str:
    if not config.telemetry.enabled:
        return "disabled"
    if not config.telemetry.endpoint:
        return "local"
    err = st.last_error
    if not err:
        return "ok"
    if err.get("code") in ("telemetry.config", "telemetry.tls-verify", "telemetry.tls", "telemetry.rejected"):
        return "error"
    return "retrying"


def status(config: Config) -> TelemetryStatus:
    path = outbox_path(config)
    st = OutboxStats()
    problem = ""
    if path.exists():
        try:
            box = Outbox.from_config(config)
            try:
                st = box.stats()
            finally:
                box.close()
        except TelemetryError as e:
            problem = f"{e.message} (fix: {e.fix})"
    fields = {f.name for f in dataclasses.fields(OutboxStats)} & {
        f.name for f in dataclasses.fields(TelemetryStatus)
    }
    out = TelemetryStatus(state=_state(config, st), endpoint=config.telemetry.endpoint, path=str(path),
                          rejected=st.rejected_points + st.rejected_logs, problem=problem,
                          **{k: getattr(st, k) for k in fields})  # fmt: skip
    if problem:
        out.state = "error"
    return out


def age(ts: float | None, now: float | None = None) -> str:
    """'3 min ago' for a unix time; 'never' for None."""
    if ts is None:
        return "never"
    s = max(0.0, (now or time.time()) - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.0f} {unit} ago"
    return f"{s:.0f} s ago"
