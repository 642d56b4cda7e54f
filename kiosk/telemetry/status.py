"""The telemetry state as one typed object: for ``kiosk telemetry status``, doctor and
the maintenance screen alike. It reads the outbox file, so it tells the same story in
any process (the running kiosk persists its last success and last error there)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from kiosk.config import Config
from kiosk.errors import TelemetryError
from kiosk.telemetry.outbox import Outbox, OutboxStats, outbox_path


@dataclass
class TelemetryStatus(OutboxStats):
    """The outbox's figures plus where they go and what state delivery is in."""

    state: str = "local"
    """"disabled", "local" (no endpoint: outbox only), "ok", "retrying", "error"."""
    endpoint: str = ""
    path: str = ""
    rejected: int = 0
    """Items rejected in partial successes (points and log records)."""
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
    out = TelemetryStatus(**dataclasses.asdict(st), state=_state(config, st), endpoint=config.telemetry.endpoint,
                          path=str(path), rejected=st.rejected_points + st.rejected_logs, problem=problem)  # fmt: skip
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
