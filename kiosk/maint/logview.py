"""The log screen's figures: counts, retention and the chain check, and (only with the
operator's private key file the technician brings) the last records decrypted.

The key is read into memory for one view and never copied or stored: the kiosk must not
be able to read its own log once the technician has gone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiosk.config import Config
from kiosk.errors import LogError
from kiosk.store import audit, sealed
from kiosk.store.log import LogStore, log_path
from kiosk.store.sink import active_sink


def summary(config: Config) -> dict[str, Any]:
    path = log_path(config)
    out: dict[str, Any] = {"path": str(path), "enabled": config.log.enabled,
                           "retention_days": config.log.retention_days}  # fmt: skip
    sink = active_sink()
    if sink is not None:
        st = sink.status()
        out["sink"] = {"state": st.state, "written": st.written, "backlog": st.backlog, "dropped": st.dropped,
                       "code": st.code, "fix": st.fix}  # fmt: skip
    if not path.exists():
        out["records"] = 0
        out["verify"] = "no log yet"
        return out
    try:
        with LogStore(path, retention_days=config.log.retention_days, readonly=True) as store:
            stats = audit.stats(store)
            report = audit.verify(store)
    except LogError as e:
        out["error"] = {"code": e.code, "message": e.message, "fix": e.fix}
        return out
    out.update(
        {k: stats[k] for k in ("records", "first", "last", "by_outcome", "by_source", "shredded", "bytes")}
    )
    out["verify"] = "chain intact" if report.ok else f"broken at record {report.first_bad}: {report.problem}"
    return out


def decrypted(config: Config, key_file: Path, passphrase: bytes | None = None, last: int = 20) -> list[dict]:
    """The last ``last`` records opened with the technician's key (LogError says why not)."""
    private = sealed.load_private_key(key_file, passphrase)
    with LogStore(log_path(config), retention_days=config.log.retention_days, readonly=True) as store:
        rows = [r for r in audit.export(store, private) if isinstance(r, dict)]
    return rows[-last:]
