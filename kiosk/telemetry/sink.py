"""The telemetry sink: subscribes to the Assistant like the log sink, owns the outbox,
the SDK's periodic reader and (only with an endpoint) the sender thread.

Nothing here may stop the kiosk: a missing SDK, an unwritable outbox or a bad
certificate becomes a state doctor shows, and the visitor is served as before.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from kiosk.config import Config
from kiosk.errors import TelemetryError

log = logging.getLogger(__name__)

_active: weakref.ref[TelemetrySink] | None = None


def active_sink() -> TelemetrySink | None:
    return _active() if _active is not None else None


class TelemetrySink:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.telemetry: Any = None
        self.outbox: Any = None
        self.sync: Any = None
        self.error: TelemetryError | None = None
        self.unsubscribe: Any = None

    def start(self, assistant: Any = None, log_sink: Any = None) -> None:
        global _active
        t = self.config.telemetry
        if not t.enabled:
            return
        try:
            from kiosk.runtime import ensure_data_dir
            from kiosk.telemetry.metrics import Telemetry
            from kiosk.telemetry.outbox import Outbox
        except ImportError as e:
            self.error = TelemetryError("telemetry.missing", f"the OpenTelemetry SDK does not import: {e}",
                                        "run os-image/install.sh (os-image/packages/telemetry.pip)")  # fmt: skip
            log.warning("%s", self.error.message)
            return
        try:
            ensure_data_dir(self.config)
            self.outbox = Outbox.from_config(self.config)
            self.outbox.enforce()  # the age bound also holds for a kiosk that was off for weeks
        except Exception as e:
            self.error = (
                e if isinstance(e, TelemetryError) else TelemetryError("telemetry.outbox", str(e), "")
            )
            log.warning("telemetry outbox unavailable: %s", self.error)
            return
        if t.endpoint:
            from kiosk.telemetry.otlp import Sender, SyncThread

            self.sync = SyncThread(Sender(self.config, self.outbox), t.interval_s)
            self.sync.start()
        self.telemetry = Telemetry(self.config, self.outbox, assistant=assistant, log_sink=log_sink,
                                   interval_s=t.interval_s, on_batch=self._on_batch)  # fmt: skip
        if assistant is not None:
            self.unsubscribe = assistant.subscribe(self.telemetry)
        _active = weakref.ref(self)

    def _on_batch(self, _batch_id: str, _seq: int) -> None:
        if self.sync is not None:
            self.sync.notify()

    def watch_web(self, clients: Any) -> None:
        """The web face reports its open connections through ``clients()``."""
        if self.telemetry is not None:
            self.telemetry.web_clients = clients

    def close(self) -> None:
        global _active
        if self.unsubscribe is not None:
            self.unsubscribe()
            self.unsubscribe = None
        if self.telemetry is not None:
            try:
                self.telemetry.shutdown()  # writes the last, partial interval
            except Exception:
                log.exception("telemetry shutdown failed")
            self.telemetry = None
        if self.sync is not None:
            self.sync.stop()
            self.sync = None
        if self.outbox is not None:
            self.outbox.close()
            self.outbox = None
        if _active is not None and _active() is self:
            _active = None


def attach(config: Config, assistant: Any, log_sink: Any = None) -> TelemetrySink:
    """Create and start the sink; always returns it (also when disabled or broken)."""
    sink = TelemetrySink(config)
    sink.start(assistant, log_sink)
    return sink
