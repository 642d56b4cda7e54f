"""The log sink: turns the Assistant's events into one sealed record per turn.

It subscribes like any face. The callback runs on the asyncio loop, so it only gathers
the turn in memory; a finished turn goes to a writer thread, because an SD card can
stall for hundreds of milliseconds and a visitor's screen must not. A write that fails
(disk full, read-only file system) keeps the turn in a bounded backlog and retries with
backoff; the fault is visible in ``status()`` (doctor, later telemetry) and nothing the
sink raises ever reaches the Assistant.

Without a recipient the sink refuses to log at all: it does not subscribe, says so once,
and reports it to doctor; the kiosk keeps answering.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiosk import events as ev
from kiosk.bus import Subscribable
from kiosk.config import Config
from kiosk.errors import KioskError, LogError
from kiosk.store.log import LogStore, TurnRecord, audit_record, load_recipients, log_path, no_recipient_error
from kiosk.vocab import Outcome, SinkState

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_BACKLOG = 1000
"""Finished turns held in memory while the disk refuses writes; the oldest go first."""
MAX_OPEN_TURNS = 256
"""Questions awaiting their closing event; a bound against a face that never closes."""

_active: weakref.ref[LogSink] | None = None
_warned: set[str] = set()

REFUSED_SHORT = {
    "log.no-recipient": (
        "interaction log off: no recipient key configured; fix: `kiosk init`, or `kiosk logs keygen` "
        "and [log] recipients (or [log] enabled = false)"
    ),
}


def _warn_refused_once(e: LogError) -> None:
    """One line, once per process: every command builds a runtime, and a four-line warning
    repeated on each of them buries whatever the operator actually asked for."""
    if e.code in _warned:
        return
    _warned.add(e.code)
    log.warning("%s", REFUSED_SHORT.get(e.code) or f"interaction log off: {e.message}; fix: {e.fix}")


def active_sink() -> LogSink | None:
    """The sink running in this process, if any (doctor shows its live state)."""
    return _active() if _active is not None else None


@dataclass
class LogStatus:
    state: SinkState
    code: str = ""
    detail: str = ""
    fix: str = ""
    written: int = 0
    backlog: int = 0
    dropped: int = 0
    """Finished turns lost: backlog overflow, or still unwritten when the kiosk stopped."""
    redactions: dict[str, int] = field(default_factory=dict)
    path: str = ""


@dataclass
class _Open:
    question: str
    source: str
    turn: int
    t0: float
    conversation_id: str
    stt_engine: str = ""
    wake_engine: str = ""
    mode: str = ""
    sources: tuple[str, ...] = ()
    fault: str = ""


class LogSink:
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        retry_s: tuple[float, float] = (0.5, 30.0),
        max_backlog: int = MAX_BACKLOG,
    ) -> None:
        self.config = config
        self.clock = clock
        self.retry_min, self.retry_max = retry_s
        self.max_backlog = max_backlog
        self.store: LogStore | None = None
        self._open: dict[str, _Open] = {}
        self._voice: dict[str, dict[str, str]] = {}
        self._backlog: deque[TurnRecord] = deque()
        self._cv = threading.Condition()
        self._stopping = False
        self._written = 0
        self._dropped = 0
        self._error: KioskError | None = None
        self._thread: threading.Thread | None = None
        self.unsubscribe: Callable[[], None] | None = None
        self.state = self._check_config()

    def _check_config(self) -> SinkState:
        if not self.config.log.enabled:
            return SinkState.DISABLED
        try:
            if not load_recipients(self.config.log.recipients):
                raise no_recipient_error()
        except LogError as e:
            self._error = e
            _warn_refused_once(e)
            return SinkState.REFUSED
        return SinkState.OK

    @property
    def accepting(self) -> bool:
        return self.state in (SinkState.OK, SinkState.FAULT)

    def start(self) -> None:
        global _active
        if self.accepting and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kiosk-log-writer", daemon=True)
            self._thread.start()
        _active = weakref.ref(self)

    # --- the subscriber (asyncio loop) ---------------------------------------------

    def __call__(self, event: ev.Event) -> None:
        if not self.accepting:
            return
        try:
            self._on_event(event)
        except Exception as e:  # never into the Assistant; make it visible instead
            self._fail(
                LogError("log.sink-failed", f"the log sink failed on {event.type}: {e}", "report a bug")
            )

    def _on_event(self, e: ev.Event) -> None:
        cid = e.conversation_id
        if isinstance(e, ev.WakeDetected | ev.TranscriptFinal):
            voice = self._voice.setdefault(cid, {})
            voice["wake_engine" if isinstance(e, ev.WakeDetected) else "stt_engine"] = e.engine
        elif isinstance(e, ev.QuestionReceived):
            if len(self._open) >= MAX_OPEN_TURNS:
                self._open.pop(next(iter(self._open)))
            self._open[cid] = _Open(e.text, e.source, e.turn, e.t, cid, **self._voice.pop(cid, {}))
        elif isinstance(e, ev.AnswerStarted) and cid in self._open:
            self._open[cid].mode, self._open[cid].sources = e.mode, tuple(e.sources)
        elif isinstance(e, ev.Fault) and cid in self._open:
            self._open[cid].fault = e.code
        elif isinstance(e, ev.AnswerDone) and cid in self._open:
            turn = self._open.pop(cid)
            self.submit(
                self._record(
                    turn,
                    e.text,
                    e.outcome,
                    engine=e.engine,
                    tokens=e.tokens,
                    ttft_ms=e.ttft_ms,
                    total_ms=e.total_ms,
                    fallback=e.fallback,
                )
            )
        elif isinstance(e, ev.AnswerCancelled) and cid in self._open:
            turn = self._open.pop(cid)
            total = round((e.t - turn.t0) * 1000.0, 2)
            self.submit(
                self._record(turn, e.partial_text, Outcome.CANCELLED, reason=e.reason, total_ms=total)
            )
        elif isinstance(e, ev.MaintAttempt):
            # where from and when; never the digits (the event does not carry them)
            self.submit(audit_record(self.clock(), f"maint-{e.where}", e.outcome, client=e.client,
                                     failures=e.failures, retry_after_s=e.retry_after_s))  # fmt: skip
        elif isinstance(e, ev.MaintAction):
            self.submit(audit_record(self.clock(), f"maint-{e.where}", e.action, detail=e.detail))
        elif isinstance(e, ev.ConversationReset):
            # an answer still running gets its AnswerCancelled after this, so keep _open
            self._voice.pop(cid, None)

    def _record(self, turn: _Open, answer: str, outcome: str, **kw: Any) -> TurnRecord:
        return TurnRecord(
            ts=self.clock(), question=turn.question, answer=answer, outcome=outcome,
            conversation_id=turn.conversation_id, source=turn.source, turn=turn.turn, mode=turn.mode,
            stt_engine=turn.stt_engine, wake_engine=turn.wake_engine, fault=turn.fault,
            sources=turn.sources, **kw,
        )  # fmt: skip

    def submit(self, record: TurnRecord) -> None:
        """Accept a finished turn for writing (thread-safe, never blocks on the disk)."""
        with self._cv:
            if len(self._backlog) >= self.max_backlog:
                self._backlog.popleft()
                self._dropped += 1
            self._backlog.append(record)
            self._cv.notify_all()

    # --- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        delay = self.retry_min
        while True:
            with self._cv:
                while not self._backlog and not self._stopping:
                    self._cv.wait()
                if not self._backlog:
                    return
                record = self._backlog[0]
            try:
                self._write(record)
            except LogError as e:
                self._fail(e)
                with self._cv:
                    if self._stopping:
                        self._dropped += len(self._backlog)
                        self._backlog.clear()
                        return
                    self._cv.wait(timeout=delay)
                delay = min(delay * 2, self.retry_max)
                continue
            except Exception as e:  # a bug, not the disk: retrying would loop forever on this turn
                log.exception("log writer failed")
                self._fail(LogError("log.write-failed", f"a turn could not be logged: {e}", "report a bug"))
                with self._cv:
                    self._backlog.popleft()
                    self._dropped += 1
                continue
            delay = self.retry_min
            with self._cv:
                self._backlog.popleft()
                self._written += 1
                if self.state == SinkState.FAULT:
                    self.state, self._error = SinkState.OK, None
                self._cv.notify_all()

    def _write(self, record: TurnRecord) -> None:
        if self.store is None:
            store = LogStore.from_config(self.config, clock=self.clock)
            try:
                store.purge()  # retention also runs at start, not only when the day rolls
            except LogError as e:
                self._fail(e)
            self.store = store
        self.store.append(record)

    def _fail(self, error: KioskError) -> None:
        if self._error is None or self._error.code != error.code:
            log.warning("interaction log fault %s: %s", error.code, error.message)
        self._error = error
        if self.state == SinkState.OK:
            self.state = SinkState.FAULT

    # --- control ---------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every accepted turn is written; False if that did not happen in time."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._backlog and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(timeout=min(left, 0.05))
            return not self._backlog

    def close(self, timeout: float = 5.0) -> None:
        """Write what is accepted (one more try if faulted), then stop."""
        global _active
        if self.unsubscribe is not None:
            self.unsubscribe()
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.close()
            self.store = None
        if self.accepting:
            self.state = SinkState.STOPPED
        if _active is not None and _active() is self:
            _active = None

    def status(self) -> LogStatus:
        err = self._error
        return LogStatus(
            state=self.state, code=err.code if err else "", detail=err.message if err else "",
            fix=err.fix if err else "", written=self._written, backlog=len(self._backlog),
            dropped=self._dropped, redactions=dict(self.store.redactions if self.store else Counter()),
            path=str(log_path(self.config)),
        )  # fmt: skip


def attach(config: Config, assistant: Subscribable) -> LogSink:
    """Create the sink, start its writer and subscribe it to ``assistant``.

    Always returns the sink, also when logging is disabled or refused, so the caller can
    show ``status()``; call ``close()`` at shutdown to write what is still queued.
    """
    sink = LogSink(config)
    sink.start()
    if sink.accepting:
        sink.unsubscribe = assistant.subscribe(sink)
    return sink
