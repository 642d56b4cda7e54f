"""Metrics from the Assistant's events and the host, through the OpenTelemetry SDK.

The SDK does the instruments and the aggregation (counters, histograms with explicit
bucket advice, observable gauges read at collection time); the OTLP protobuf encoding is
``opentelemetry-exporter-otlp-proto-common``'s. Our own part is small: which events move
which instrument, and a ``MetricExporter`` whose ``export`` writes the interval into the
outbox instead of sending it, because the network may be away for days.

Temporality is **cumulative** (the SDK's default, and the OTLP exporter's): a batch lost to
the outbox's bound, or one delivered twice, then costs resolution, not correctness,
since every batch carries the running totals. A restart starts new series
(``start_time_unix_nano`` moves), which every backend reads as a counter reset.

What never goes in: any text a visitor or the LLM wrote. Handlers read only fixed
vocabularies from events (outcome, reason, source, engine, fault code) and numbers; a
fault is sent as a log record with its code and fix text, never its message (which may
quote the input). A test asks questions carrying a marker word and searches every byte
a collector receives for it.
"""

from __future__ import annotations

import gzip
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from kiosk import __version__, host
from kiosk import events as ev
from kiosk.config import Config
from kiosk.telemetry.outbox import Outbox

log = logging.getLogger(__name__)

MS_BUCKETS = (50, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 8000, 12000, 20000, 30000)
"""Answer latencies on a Pi span 50 ms (instant) to the 20 s budget."""
RATE_BUCKETS = (1, 2, 4, 6, 8, 10, 12, 16, 24, 32, 48, 64)
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)
MAX_LOGS_PER_BATCH = 500
MAX_TRACKED = 256
"""Conversations whose first token or end of speech is awaited; a bound against leaks."""


def resource(config: Config) -> Resource:
    """OpenTelemetry semantic conventions: service.*, host.name; fleet and site as kiosk.*."""
    attrs: dict[str, Any] = {
        "service.name": "kiosk",
        "service.version": __version__,
        "service.instance.id": config.web.device_id,
        "host.name": socket.gethostname(),
    }
    if config.telemetry.fleet:
        attrs["kiosk.fleet"] = config.telemetry.fleet
    if config.telemetry.site:
        attrs["kiosk.site"] = config.telemetry.site
    return Resource.create(attrs)


def _kv(key: str, value: str | int) -> KeyValue:
    any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
    return KeyValue(key=key, value=any_value)


def encode_batch(
    metrics: MetricsData | None, logs: list[ReadableLogRecord], batch_id: str, seq: int
) -> dict[str, bytes]:
    """The interval as stored: gzip'd Export*ServiceRequest bodies, each item stamped.

    ``kiosk.batch_id`` and ``kiosk.batch_seq`` go into each Metric's ``metadata`` (the
    OTLP field for non-identifying attributes: they must not split a series per batch)
    and onto each log record's attributes.
    """
    stamp = [_kv("kiosk.batch_id", batch_id), _kv("kiosk.batch_seq", seq)]
    parts: dict[str, bytes] = {}
    if metrics is not None:
        req = encode_metrics(metrics)
        for sm in (sm for rm in req.resource_metrics for sm in rm.scope_metrics):
            for metric in sm.metrics:
                metric.metadata.extend(stamp)
        parts["metrics"] = req.SerializeToString()
    if logs:
        lreq = encode_logs(logs)
        for sl in (sl for rl in lreq.resource_logs for sl in rl.scope_logs):
            for record in sl.log_records:
                record.attributes.extend(stamp)
        parts["logs"] = lreq.SerializeToString()
    return {k: gzip.compress(v, compresslevel=6, mtime=0) for k, v in parts.items()}


class LogBuffer(LogRecordExporter):
    """Fault records waiting for the next interval's batch (bounded, drops counted)."""

    def __init__(self, limit: int = MAX_LOGS_PER_BATCH) -> None:
        self.limit = limit
        self._records: list[ReadableLogRecord] = []
        self._lock = threading.Lock()
        self.dropped = 0

    def export(self, batch) -> LogRecordExportResult:
        with self._lock:
            for record in batch:
                if len(self._records) >= self.limit:
                    self.dropped += 1
                else:
                    self._records.append(record)
        return LogRecordExportResult.SUCCESS

    def drain(self) -> list[ReadableLogRecord]:
        with self._lock:
            out, self._records = self._records, []
        return out

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class OutboxExporter(MetricExporter):
    """The SDK's exporter slot, filled by the outbox: one interval, one durable batch."""

    def __init__(self, outbox: Outbox, logs: LogBuffer, on_batch: Callable[[str, int], None]) -> None:
        super().__init__()
        self.outbox = outbox
        self.logs = logs
        self.on_batch = on_batch
        self.cpu_s = 0.0
        """Thread CPU seconds spent encoding and writing (the bench reads it)."""
        self.failures = 0

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs
    ) -> MetricExportResult:
        t0 = time.thread_time()
        records = self.logs.drain()
        try:
            batch_id, seq = self.outbox.add(lambda bid, seq: encode_batch(metrics_data, records, bid, seq))
        except Exception as e:
            self.failures += 1
            log.warning("telemetry interval could not be written to the outbox: %s", e)
            return MetricExportResult.FAILURE
        finally:
            self.cpu_s += time.thread_time() - t0
        self.on_batch(batch_id, seq)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        pass


class _Stats:
    """Outbox statistics read once per collection, shared by the instruments that show them."""

    def __init__(self, outbox: Outbox, ttl_s: float) -> None:
        self.outbox, self.ttl_s = outbox, ttl_s
        self._at = -math.inf
        self._value = None

    def invalidate(self) -> None:
        """Called after each export: the next collection reads the outbox afresh."""
        self._at = -math.inf

    def get(self):
        now = time.monotonic()
        if now - self._at > self.ttl_s:
            try:
                self._value = self.outbox.stats()
            except Exception as e:  # a collection must not fail on a busy outbox
                log.debug("outbox stats unavailable: %s", e)
            self._at = now
        return self._value


class Telemetry:
    """The subscriber and the meter provider. ``interval_s=None`` means no timer (bench, tests)."""

    def __init__(
        self,
        config: Config,
        outbox: Outbox,
        *,
        assistant: Any = None,
        log_sink: Any = None,
        interval_s: float | None = None,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.assistant = assistant
        self.log_sink = log_sink
        self.web_clients: Callable[[], int] | None = None
        self.on_batch = on_batch or (lambda _bid, _seq: None)
        self.started = time.monotonic()
        self.engines: dict[str, str] = {}
        self._mode: dict[str, str] = {}
        self._first: dict[str, float] = {}
        """Conversation -> end-of-speech time, awaiting the first answer token."""
        self._awaiting: set[str] = set()
        self._throttle = host.Throttling()
        from kiosk.web.certs import cert_paths  # cryptography only: no web-face libraries

        self._cert = host.CertExpiry(cert_paths(config)[0])  # also the ACME-renewed one
        res = resource(config)
        self.logs = LogBuffer()
        self.logger_provider = LoggerProvider(resource=res)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.logger = self.logger_provider.get_logger("kiosk", __version__)
        self.exporter = OutboxExporter(outbox, self.logs, self._batch_written)
        millis = interval_s * 1000.0 if interval_s else math.inf
        self.reader = PeriodicExportingMetricReader(self.exporter, export_interval_millis=millis,
                                                    export_timeout_millis=30_000)  # fmt: skip
        self.provider = MeterProvider(metric_readers=[self.reader], resource=res)
        self._stats = _Stats(outbox, ttl_s=min(1.0, (interval_s or 2.0) / 2))
        self._instruments()

    def _batch_written(self, batch_id: str, seq: int) -> None:
        self._stats.invalidate()
        self.on_batch(batch_id, seq)

    # --- instruments -----------------------------------------------------------------

    def _instruments(self) -> None:
        m = self.provider.get_meter("kiosk", __version__)
        self.turns = m.create_counter("kiosk.turns", "{turn}", "Finished turns by outcome")
        self.questions = m.create_counter(
            "kiosk.questions", "{question}", "Questions by source (kiosk, web, voice)"
        )
        self.conversations = m.create_counter(
            "kiosk.conversations", "{conversation}", "Conversations by source"
        )
        self.resets = m.create_counter("kiosk.resets", "{reset}", "Conversation resets by reason")
        self.wakes = m.create_counter("kiosk.wakes", "{wake}", "Wake-word detections")
        self.no_speech = m.create_counter("kiosk.wakes.no_speech", "{wake}", "Listening that heard no speech")
        self.ptt = m.create_counter("kiosk.push_to_talk", "{press}", "Listening started by push-to-talk")
        self.faults = m.create_counter("kiosk.faults", "{fault}", "Faults by code")
        self.maint_attempts = m.create_counter(
            "kiosk.maint.attempts", "{attempt}", "Maintenance PIN attempts by where (screen, web) and outcome"
        )

        def hist(name: str, unit: str, doc: str, buckets: tuple[float, ...]):
            return m.create_histogram(name, unit, doc, explicit_bucket_boundaries_advisory=buckets)

        self.ttft = hist("kiosk.answer.ttft", "ms", "Question to first shown token", MS_BUCKETS)
        self.total = hist("kiosk.answer.duration", "ms", "Question to end of answer", MS_BUCKETS)
        self.eos = hist("kiosk.voice.eos_to_first_token", "ms", "End of speech to first token", MS_BUCKETS)
        self.rate = hist("kiosk.answer.tokens_per_second", "{token}/s", "LLM tokens over the answer's time",
                         RATE_BUCKETS)  # fmt: skip
        self.rtf = hist("kiosk.stt.real_time_factor", "1", "Speech-to-text seconds per second of audio",
                        RTF_BUCKETS)  # fmt: skip
        # fmt: off
        gauges: list[tuple[str, str, str, Callable[[CallbackOptions], Iterable[Observation]]]] = [
            ("kiosk.host.cpu.temperature", "Cel", "CPU temperature per thermal zone", self._temperature),
            ("kiosk.host.throttled", "1", "Raspberry Pi firmware throttling flags (vcgencmd)", self._throttled),
            ("system.cpu.load_average.1m", "{thread}", "Load average over 1 minute", self._load(0)),
            ("system.cpu.load_average.5m", "{thread}", "Load average over 5 minutes", self._load(1)),
            ("system.cpu.load_average.15m", "{thread}", "Load average over 15 minutes", self._load(2)),
            ("kiosk.host.memory", "By", "Memory, total and available", self._memory),
            ("kiosk.data_dir.free", "By", "Free space on the data folder's file system", self._disk),
            ("system.uptime", "s", "Seconds since the machine booted", self._uptime),
            ("kiosk.process.uptime", "s", "Seconds since this kiosk process started telemetry", self._proc_uptime),
            ("kiosk.cert.days_left", "d", "Days until the web certificate expires", self._cert_days),
            ("kiosk.build.info", "1", "1, with model, engines and version as attributes", self._info),
            ("kiosk.log.backlog", "{turn}", "Turns waiting to be written to the sealed log", self._log("backlog")),
            ("kiosk.log.state", "1", "1 for the interaction log's current state", self._log_state),
            ("kiosk.web.clients", "{client}", "Open web UI connections", self._web),
            ("kiosk.telemetry.outbox.batches", "{batch}", "Batches waiting in the outbox", self._stat("batches")),
            ("kiosk.telemetry.outbox.bytes", "By", "Payload bytes waiting in the outbox", self._stat("bytes")),
            ("kiosk.telemetry.parked", "{batch}", "Rows the collector refused for good", self._stat("parked")),
        ]
        # fmt: on
        for name, unit, doc, cb in gauges:
            m.create_observable_gauge(name, [cb], unit, doc)
        # fmt: off
        counters = [
            ("kiosk.log.written", "{turn}", "Turns sealed into the log by this process", self._log("written")),
            ("kiosk.log.dropped", "{turn}", "Turns the log could not keep", self._log("dropped")),
            ("kiosk.log.redactions", "{redaction}", "Redactions before sealing, by kind", self._redactions),
            ("kiosk.telemetry.dropped", "{batch}", "Batches dropped by the outbox bound, by reason", self._dropped),
            ("kiosk.telemetry.sent", "{request}", "Outbox rows delivered", self._stat("sent")),
            ("kiosk.telemetry.rejected", "{item}", "Items the collector rejected in a partial success", self._rejected),
            ("kiosk.telemetry.logs_dropped", "{record}", "Fault records over one interval's limit", self._logs_dropped),
        ]
        # fmt: on
        for name, unit, doc, cb in counters:
            m.create_observable_counter(name, [cb], unit, doc)

    # host ------------------------------------------------------------------------

    def _temperature(self, _o: CallbackOptions) -> Iterable[Observation]:
        return [Observation(c, {"zone": zone}) for zone, c in host.cpu_temperatures()]

    def _throttled(self, _o: CallbackOptions) -> Iterable[Observation]:
        flags = self._throttle.read() or {}
        return [Observation(v, {"condition": c, "when": w}) for (c, w), v in flags.items()]

    def _load(self, i: int) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def cb(_o: CallbackOptions) -> Iterable[Observation]:
            la = host.load_average()
            return [Observation(la[i])] if la else []

        return cb

    def _memory(self, _o: CallbackOptions) -> Iterable[Observation]:
        mem = host.memory() or {}
        return [Observation(v, {"state": k}) for k, v in mem.items()]

    def _disk(self, _o: CallbackOptions) -> Iterable[Observation]:
        free = host.disk_free(self.config.data_dir)
        return [Observation(free)] if free is not None else []

    def _uptime(self, _o: CallbackOptions) -> Iterable[Observation]:
        up = host.uptime_s()
        return [Observation(up)] if up is not None else []

    def _proc_uptime(self, _o: CallbackOptions) -> Iterable[Observation]:
        return [Observation(round(time.monotonic() - self.started, 3))]

    def _cert_days(self, _o: CallbackOptions) -> Iterable[Observation]:
        days = self._cert.days_left()
        return [Observation(round(days, 3))] if days is not None else []

    def _info(self, _o: CallbackOptions) -> Iterable[Observation]:
        attrs = {"kiosk.version": __version__, "kiosk.llm.model": self.config.llm.model}
        llm = getattr(self.assistant, "llm", None) if self.assistant is not None else None
        attrs["kiosk.llm.engine"] = llm.name if llm is not None else "none"
        attrs.update({f"kiosk.{k}.engine": v for k, v in sorted(self.engines.items())})
        return [Observation(1, attrs)]

    # sinks -----------------------------------------------------------------------

    def _log(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def cb(_o: CallbackOptions) -> Iterable[Observation]:
            if self.log_sink is None:
                return []
            return [Observation(getattr(self.log_sink.status(), name))]

        return cb

    def _log_state(self, _o: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1, {"state": self.log_sink.status().state})] if self.log_sink is not None else []

    def _redactions(self, _o: CallbackOptions) -> Iterable[Observation]:
        if self.log_sink is None:
            return []
        return [Observation(n, {"kind": k}) for k, n in sorted(self.log_sink.status().redactions.items())]

    def _web(self, _o: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.web_clients())] if self.web_clients is not None else []

    def _stat(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def cb(_o: CallbackOptions) -> Iterable[Observation]:
            st = self._stats.get()
            return [Observation(getattr(st, name))] if st is not None else []

        return cb

    def _dropped(self, _o: CallbackOptions) -> Iterable[Observation]:
        st = self._stats.get()
        if st is None:
            return []
        return [
            Observation(st.dropped_size, {"reason": "size"}),
            Observation(st.dropped_age, {"reason": "age"}),
        ]

    def _rejected(self, _o: CallbackOptions) -> Iterable[Observation]:
        st = self._stats.get()
        if st is None:
            return []
        return [Observation(st.rejected_points, {"signal": "metrics"}),
                Observation(st.rejected_logs, {"signal": "logs"})]  # fmt: skip

    def _logs_dropped(self, _o: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.logs.dropped)]

    # --- the subscriber (asyncio loop): cheap, and never any text ---------------------

    def __call__(self, e: ev.Event) -> None:
        try:
            self._on_event(e)
        except Exception:  # a metrics bug must never reach the visitor
            log.exception("telemetry failed on %s", e.type)

    def _on_event(self, e: ev.Event) -> None:
        cid = e.conversation_id
        if isinstance(e, ev.AnswerToken):
            if cid in self._awaiting:
                self._awaiting.discard(cid)
                eos = self._first.pop(cid, None)
                if eos is not None:
                    self.eos.record((e.t - eos) * 1000.0)
        elif isinstance(e, ev.QuestionReceived):
            self.questions.add(1, {"source": str(e.source)})
            self._bounded_add(cid)
        elif isinstance(e, ev.AnswerStarted):
            self._mode[cid] = str(e.mode)
            if len(self._mode) > MAX_TRACKED:
                self._mode.pop(next(iter(self._mode)))
        elif isinstance(e, ev.AnswerDone):
            self._done(e)
        elif isinstance(e, ev.AnswerCancelled):
            self._mode.pop(cid, None)
            self._awaiting.discard(cid)
            self._first.pop(cid, None)
            self.turns.add(1, {"outcome": "fault" if e.reason == "error" else "cancelled"})
        elif isinstance(e, ev.Fault):
            self._fault(e)
        elif isinstance(e, ev.ListeningStopped):
            if e.reason == "no-speech":
                self.no_speech.add(1)
            elif e.reason == "end-of-speech":
                self._first[cid] = e.t
                if len(self._first) > MAX_TRACKED:
                    self._first.pop(next(iter(self._first)))
        elif isinstance(e, ev.WakeDetected):
            self.wakes.add(1, {"engine": str(e.engine)})
            self.engines["wake"] = str(e.engine)
        elif isinstance(e, ev.ListeningStarted):
            if e.reason == "push-to-talk":
                self.ptt.add(1)
        elif isinstance(e, ev.TranscriptFinal):
            self.engines["stt"] = str(e.engine)
            if e.decode_s > 0 and e.audio_s > 0:
                self.rtf.record(e.decode_s / e.audio_s, {"engine": str(e.engine)})
        elif isinstance(e, ev.SpeakingStarted):
            self.engines["tts"] = str(e.engine)
        elif isinstance(e, ev.ConversationStarted):
            self.conversations.add(1, {"source": str(e.source)})
        elif isinstance(e, ev.MaintAttempt):  # no client address: where and outcome only
            self.maint_attempts.add(1, {"where": str(e.where), "outcome": str(e.outcome)})
        elif isinstance(e, ev.ConversationReset):
            self.resets.add(1, {"reason": str(e.reason)})
            self._awaiting.discard(cid)
            self._first.pop(cid, None)

    def _bounded_add(self, cid: str) -> None:
        if len(self._awaiting) >= MAX_TRACKED:
            self._awaiting.pop()
        self._awaiting.add(cid)

    def _done(self, e: ev.AnswerDone) -> None:
        mode = self._mode.pop(e.conversation_id, "")
        self._awaiting.discard(e.conversation_id)
        self._first.pop(e.conversation_id, None)
        if e.fallback:
            outcome = "fallback"
        elif e.outcome == "answered":
            outcome = "llm" if mode in ("llm", "") else mode
        else:
            outcome = str(e.outcome)
        self.turns.add(1, {"outcome": outcome})
        if e.ttft_ms > 0:
            self.ttft.record(e.ttft_ms, {"outcome": outcome})
        self.total.record(e.total_ms, {"outcome": outcome})
        if e.tokens > 0 and e.total_ms > 0:
            self.rate.record(e.tokens / (e.total_ms / 1000.0), {"engine": str(e.engine)})

    def _fault(self, e: ev.Fault) -> None:
        self.faults.add(1, {"code": str(e.code)})
        # code and fix only: the message may quote what the visitor typed
        self.logger.emit(
            timestamp=time.time_ns(), body=e.code, severity_number=SeverityNumber.WARN, severity_text="WARN", event_name="kiosk.fault",
            attributes={"kiosk.fault.code": e.code, "kiosk.fault.fix": e.fix},
        )  # fmt: skip

    # --- control ---------------------------------------------------------------------

    def collect(self) -> None:
        """Close the current interval now (one batch), e.g. for a bench or a test."""
        self.reader.collect()

    def shutdown(self) -> None:
        """The last, partial interval is written too (the SDK's final collection)."""
        try:
            self.provider.shutdown()
        finally:
            self.logger_provider.shutdown()
