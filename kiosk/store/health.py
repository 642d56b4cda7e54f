"""Doctor checks for the interaction log: can it seal, can it write, is it intact.

The check a technician most needs is the first one: with no recipient the kiosk logs
nothing at all (it will not keep words it could not seal), which is easy to miss because
the kiosk goes on answering. The live writer's state (disk full, read-only) comes from
the sink running in this process, when there is one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from kiosk.config import Config
from kiosk.errors import LogError
from kiosk.health import Check
from kiosk.store import audit
from kiosk.store.log import LogStore, load_recipients, log_path, no_recipient_error
from kiosk.store.sink import active_sink
from kiosk.vocab import CheckStatus, SinkState

LOW_DISK_BYTES = 64 * 1024 * 1024


def doctor_checks(config: Config) -> list[Check]:
    if not config.log.enabled:
        return [Check.warn("log", "the interaction log is disabled ([log] enabled = false)",
                           "set [log] enabled = true and configure a recipient to keep a sealed log")]  # fmt: skip
    checks = [_recipients(config), _private_key_nearby(config)]
    path = log_path(config)
    checks.append(_disk(path))
    checks.append(_database(config, path))
    sink = active_sink()
    if sink is not None:
        st = sink.status()
        if st.state == SinkState.FAULT:
            checks.append(
                Check.fail("log writer", f"{st.detail} [{st.code}]; {st.backlog} turn(s) waiting", st.fix)
            )
        elif st.state in (SinkState.OK, SinkState.STOPPED):
            detail = f"{st.written} turn(s) written this run"
            if st.dropped:
                detail += f", {st.dropped} lost (backlog full or unwritten at stop)"
            checks.append(Check("log writer", CheckStatus.WARN if st.dropped else CheckStatus.OK, detail))
    return [c for c in checks if c is not None]


def _recipients(config: Config) -> Check:
    try:
        recipients = load_recipients(config.log.recipients)
    except LogError as e:
        return Check.fail("log recipients", f"logging refused: {e.message}", e.fix)
    if not recipients:
        # WARN, not FAIL: this is the out-of-the-box state and the kiosk answers without a
        # log; a configured key that cannot be read is a FAIL (above).
        e = no_recipient_error()
        return Check.from_error("log recipients", e, CheckStatus.WARN)
    names = ", ".join(r.fingerprint for r in recipients)
    return Check.ok("log recipients", f"sealed to {len(recipients)} key(s): {names}")


def _private_key_nearby(config: Config) -> Check | None:
    """A private key left beside its .pub on the kiosk defeats the whole point."""
    for pub in config.log.recipients:
        private = Path(pub[:-4]) if pub.endswith(".pub") else None
        if private is not None and private.is_file():
            try:
                if b"PRIVATE KEY" in private.read_bytes():
                    return Check.fail("log private key", f"a private key lies on the kiosk at {private}",
                                      "move it to the operator's computer and delete it here")  # fmt: skip
            except OSError:
                continue
    return None


def _disk(path: Path) -> Check:
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if not os.access(folder, os.W_OK):
        return Check.fail("log disk", f"{folder} is not writable", "check the mount and the folder's owner")
    detail = f"{free / 2**20:,.0f} MiB free at {folder}"
    if free < LOW_DISK_BYTES:
        return Check.warn("log disk", detail, "free space or lower [log] retention_days")
    return Check.ok("log disk", detail)


def _database(config: Config, path: Path) -> Check:
    if not path.exists():
        return Check.ok("log database", f"{path} will be created with the first turn")
    try:
        with LogStore(path, retention_days=config.log.retention_days, readonly=True) as store:
            report = audit.verify(store)
            total = store.db.execute("SELECT count(*) FROM records").fetchone()[0]
    except LogError as e:
        return Check.fail("log database", f"{e.message} [{e.code}]", e.fix)
    if not report.ok:
        return Check.fail("log database", f"verify failed at record {report.first_bad}: {report.problem}",
                          "keep a copy for investigation; run: kiosk logs verify")  # fmt: skip
    return Check.ok("log database", f"{total} record(s), chain intact ({report.shredded} shredded)")
