"""OTLP/HTTP delivery of the outbox: protobuf POSTs to ``/v1/metrics`` and ``/v1/logs``.

Synchronous and on its own thread (``http.client``, not aiohttp: the core stays free of
the web face's libraries, and a blocking send never touches the visitor's event loop).
The rules are the OTLP/HTTP specification's:

- 2xx: the row is deleted; ``partial_success`` (rejected points or log records) is
  counted and shown, not retried, as the specification asks.
- 408, 429, 5xx and transport errors (refused, timeout, TLS): retried, oldest first,
  waiting what ``Retry-After`` says when the server says it, otherwise exponential
  backoff with jitter. Nothing is deleted.
- any other 4xx: this batch will never be accepted as it is, so it is *parked* (kept,
  counted, its reason shown by doctor) and the next one goes.

One send is in flight at a time, across processes too (an ``flock`` beside the outbox),
so ``kiosk telemetry flush`` and the running kiosk never race on a row. Every payload
carries its ``kiosk.batch_id``: a send that succeeded just before a crash is sent again
after the restart with the same id, and the receiving side can drop it.

With no endpoint this module is never loaded for sending: no socket is ever opened.
"""

from __future__ import annotations

import contextlib
import email.utils
import fcntl
import gzip
import http.client
import logging
import random
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from kiosk import __version__
from kiosk.config import Config
from kiosk.errors import TelemetryError
from kiosk.telemetry.outbox import Outbox, Row

log = logging.getLogger(__name__)

RETRYABLE = {408, 429}
MAX_RETRY_AFTER_S = 3600.0


@dataclass(frozen=True)
class Result:
    kind: str  # "sent", "parked", "retry", "empty", "error"
    row: Row | None = None
    status: int = 0
    retry_after: float | None = None
    error: TelemetryError | None = None
    rejected: int = 0


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as e:
        raise TelemetryError(
            "telemetry.config", f"the {what} {path} cannot be read: {e.strerror}",
            f"fix [telemetry] {what.replace(' ', '_')} or the file's permissions",
        ) from e  # fmt: skip


def ssl_context(config: Config) -> ssl.SSLContext:
    """Server verified against the system trust store or ``ca_bundle``; mTLS if configured."""
    t = config.telemetry
    try:
        ctx = ssl.create_default_context(cafile=t.ca_bundle or None)
    except (OSError, ssl.SSLError) as e:
        raise TelemetryError("telemetry.config", f"the CA bundle {t.ca_bundle} cannot be used: {e}",
                             "set [telemetry] ca_bundle to a PEM file of CA certificates") from e  # fmt: skip
    if bool(t.client_cert) != bool(t.client_key):
        raise TelemetryError("telemetry.config", "telemetry.client_cert and client_key go together",
                             "set both (mTLS) or neither")  # fmt: skip
    if t.client_cert:
        try:
            ctx.load_cert_chain(t.client_cert, t.client_key)
        except (OSError, ssl.SSLError) as e:
            raise TelemetryError("telemetry.config", f"the client certificate cannot be loaded: {e}",
                                 "check [telemetry] client_cert and client_key (PEM, matching)") from e  # fmt: skip
    return ctx


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class Client:
    """One keep-alive connection to the collector; reopened after any failure."""

    def __init__(self, config: Config) -> None:
        t = config.telemetry
        url = urllib.parse.urlsplit(t.endpoint.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise TelemetryError("telemetry.config", f"telemetry.endpoint {t.endpoint!r} is not a URL",
                                 'set [telemetry] endpoint = "https://collector.example:4318"')  # fmt: skip
        self.https = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.https else 80)
        self.base = url.path
        self.timeout = t.timeout_s
        self.gzip = t.compression == "gzip"
        self.ctx = ssl_context(config) if self.https else None
        self.headers = {"Content-Type": "application/x-protobuf", "User-Agent": f"kiosk/{__version__}"}
        if self.gzip:
            self.headers["Content-Encoding"] = "gzip"
        if t.token_file:
            token = _read(t.token_file, "token file").decode("utf-8", "replace").strip()
            if not token:
                raise TelemetryError("telemetry.config", f"the token file {t.token_file} is empty",
                                     "write the collector's bearer token into it")  # fmt: skip
            self.headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                         context=self.ctx)  # fmt: skip
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, signal: str, stored: bytes) -> tuple[int, dict[str, str], bytes]:
        """POST one stored (gzip) body; raises TelemetryError on a transport failure."""
        body = stored if self.gzip else gzip.decompress(stored)
        try:
            conn = self._connection()
            conn.request("POST", f"{self.base}/v1/{signal}", body=body, headers=self.headers)
            resp = conn.getresponse()
            data = resp.read()
            headers = {k.lower(): v for k, v in resp.getheaders()}
            if resp.will_close:
                self.close()
            return resp.status, headers, data
        except (OSError, http.client.HTTPException) as e:  # ssl.SSLError and timeouts are OSErrors
            self.close()
            raise self._transport_error(e, f"{self.host}:{self.port}") from e

    def _transport_error(self, e: Exception, where: str) -> TelemetryError:
        """Name the failure the way a technician can act on it; all of these are retried."""
        if isinstance(e, ssl.SSLCertVerificationError):
            return TelemetryError(
                "telemetry.tls-verify",
                f"the collector {where} is not trusted: {e.verify_message}",
                "set [telemetry] ca_bundle to the CA that signed the collector's certificate",
            )
        if isinstance(e, ssl.SSLError):
            return TelemetryError(
                "telemetry.tls",
                f"TLS with the collector {where} failed: {e.reason or e}",
                "check the collector's TLS set-up and [telemetry] client_cert",
            )
        if isinstance(e, TimeoutError):
            return TelemetryError(
                "telemetry.timeout",
                f"the collector {where} did not answer in {self.timeout:g} s",
                "check the collector's load, or raise [telemetry] timeout_s",
            )
        if isinstance(e, socket.gaierror):
            return TelemetryError(
                "telemetry.dns",
                f"the collector's name {self.host} does not resolve",
                "check [telemetry] endpoint and the kiosk's DNS",
            )
        return TelemetryError("telemetry.unreachable", f"the collector {where} cannot be reached: {e}",
                              "check the network and that the collector runs; data waits in the outbox")  # fmt: skip


def _partial(signal: str, data: bytes) -> tuple[int, str]:
    """(rejected count, message) from an Export*ServiceResponse; (0, "") if none or unparsable."""
    if not data:
        return 0, ""
    try:
        if signal == "logs":
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

            r = ExportLogsServiceResponse.FromString(data)
            return r.partial_success.rejected_log_records, r.partial_success.error_message
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

        m = ExportMetricsServiceResponse.FromString(data)
        return m.partial_success.rejected_data_points, m.partial_success.error_message
    except Exception:  # a 2xx with a body we cannot read is still a 2xx
        return 0, ""


def _status_message(data: bytes) -> str:
    """The collector's reason from a google.rpc.Status body, else the text, shortened."""
    try:
        from google.rpc.status_pb2 import Status  # shipped with protobuf's googleapis-common-protos

        msg = Status.FromString(data).message
        if msg:
            return msg[:200]
    except Exception:
        pass
    return data.decode("utf-8", "replace").strip()[:200]


class SendLock:
    """An exclusive ``flock`` beside the outbox: one send in flight on this device."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def held(self, wait_s: float):
        fd = open(self.path, "a+b")  # noqa: SIM115 - held for the duration of the block
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.02)
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            fd.close()


class Sender:
    """Sends the outbox's rows, one at a time, oldest first."""

    def __init__(self, config: Config, outbox: Outbox) -> None:
        self.config = config
        self.outbox = outbox
        self.lock = SendLock(outbox.path.with_name(outbox.path.name + ".send-lock"))
        self._client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.config)  # TelemetryError on a bad endpoint, token or cert
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def send_one(self, lock_wait_s: float = 0.0) -> Result:
        with self.lock.held(lock_wait_s) as got:
            if not got:
                return Result("busy")
            row = self.outbox.next_pending()
            if row is None:
                return Result("empty")
            try:
                status, headers, data = self.client().post(row.signal, row.body)
            except TelemetryError as e:
                return Result("retry" if e.code != "telemetry.config" else "error", row, error=e)
            if 200 <= status < 300:
                rejected, message = _partial(row.signal, data)
                self.outbox.delivered(row.id, rejected, message, row.signal)
                if rejected or message:
                    log.warning("collector accepted batch %s partly: %d rejected (%s)",
                                row.batch_id, rejected, message)  # fmt: skip
                return Result("sent", row, status, rejected=rejected)
            reason = _status_message(data)
            if status in RETRYABLE or status >= 500:
                err = TelemetryError("telemetry.http-retry", f"the collector answered HTTP {status}: {reason}",
                                     "nothing to do: the batch waits and is retried")  # fmt: skip
                return Result("retry", row, status, parse_retry_after(headers.get("retry-after")), err)
            err = TelemetryError("telemetry.rejected", f"the collector refused batch {row.batch_id} ({row.signal}) "
                                 f"with HTTP {status}: {reason}", _fix_for(status))  # fmt: skip
            self.outbox.park(row.id, f"HTTP {status}: {reason}")
            self.outbox.failed(None, err, None)
            log.warning("%s", err.message)
            return Result("parked", row, status, error=err)

    def flush(self, timeout_s: float = 30.0) -> Result:
        """Send until the outbox is empty or a send fails (``kiosk telemetry flush``)."""
        deadline = time.monotonic() + timeout_s
        last = Result("empty")
        while time.monotonic() < deadline:
            result = self.send_one(lock_wait_s=max(0.0, deadline - time.monotonic()))
            if result.kind in ("sent", "parked"):
                last = result
                continue
            if result.kind in ("retry", "error") and result.error is not None:
                self.outbox.failed(result.row.id if result.row else None, result.error, None)
            return result if result.kind != "empty" else last
        return Result("busy")


def _fix_for(status: int) -> str:
    if status in (401, 403):
        return "check [telemetry] token_file or client_cert: the collector does not accept this kiosk"
    if status == 404:
        return "check [telemetry] endpoint: it should be the collector's base URL (without /v1/...)"
    if status == 413:
        return "raise the collector's request size limit, or lower [telemetry] interval_s"
    if status == 415:
        return 'set [telemetry] compression = "none" if the collector cannot read gzip'
    return "see the collector's log for why it refused the batch; later batches still go"


class SyncThread:
    """The kiosk's sender: wakes for each new batch, backs off on failure."""

    def __init__(self, sender: Sender, interval_s: float, rng: random.Random | None = None) -> None:
        self.sender = sender
        self.base_s = min(1.0, interval_s)
        self.cap_s = min(300.0, 5 * interval_s)
        self.rng = rng or random.Random()
        self._cv = threading.Condition()
        self._stop = False
        self._kick = False
        self._thread = threading.Thread(target=self._run, name="kiosk-telemetry-sync", daemon=True)
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """A new batch is in the outbox (ignored while backing off)."""
        with self._cv:
            self._kick = True
            self._cv.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sender.close()

    def backoff(self, failures: int) -> float:
        """Exponential from min(1 s, interval) to min(5 min, 5 intervals), equal jitter."""
        d = min(self.cap_s, self.base_s * 2 ** max(0, failures - 1))
        return d / 2 + self.rng.uniform(0, d / 2)

    def _sleep(self, seconds: float, wake_on_kick: bool) -> None:
        deadline = time.monotonic() + seconds
        with self._cv:
            while not self._stop:
                if wake_on_kick and self._kick:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            self._kick = False

    def _run(self) -> None:
        while not self._stop:
            try:
                result = self.sender.send_one()
            except TelemetryError as e:  # the outbox itself failed (disk): try again later
                log.warning("telemetry outbox: %s", e)
                result = Result("error", error=e)
            except Exception:
                log.exception("telemetry sender failed")
                result = Result("error")
            if result.kind in ("sent", "parked"):
                self.failures = 0
                continue
            if result.kind == "empty":
                self._sleep(self.cap_s, wake_on_kick=True)
                continue
            if result.kind == "busy":
                self._sleep(self.base_s, wake_on_kick=False)
                continue
            self.failures += 1
            wait = self.backoff(self.failures)
            if result.retry_after is not None:
                wait = result.retry_after + self.rng.uniform(0, 0.1 * result.retry_after)
            if result.error is not None:
                with contextlib.suppress(TelemetryError):
                    self.sender.outbox.failed(result.row.id if result.row else None, result.error,
                                              time.time() + wait)  # fmt: skip
                if self.failures == 1 or self.failures % 20 == 0:
                    # an unreachable collector is the normal offline state (status and doctor
                    # show it); a configuration or TLS problem needs a person
                    level = logging.WARNING if result.error.code != "telemetry.unreachable" else logging.INFO
                    log.log(
                        level, "telemetry send failed (%s), retrying in %.1f s", result.error.message, wait
                    )
            self._sleep(wait, wake_on_kick=False)
