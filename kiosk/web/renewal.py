"""When to renew, and never more than one renewal at a time.

The rules a fleet of unattended kiosks needs from its certificate renewal:

- renew when the certificate is missing, invalid for this device, of the wrong kind
  (``[certs] name`` changed) or within ``renew_before_days`` of expiry (default: the last
  third of its lifetime, as Let's Encrypt advises);
- at most one attempt in flight: an ``flock`` on ``<data dir>/acme/renew.lock`` covers the
  server's background task and a technician's ``kiosk certs renew`` alike;
- a failure doubles the wait (with jitter, so a fleet does not stampede a CA that was
  down), up to a cap; a CA's ``Retry-After`` (rate limits) is honoured even by
  ``kiosk certs renew --force``;
- offline (no route, or the CA's name does not resolve): no attempt, no fault, one log
  line, and a cheap re-check a minute later;
- every outcome is kept in ``<data dir>/acme/state.json`` for ``kiosk certs status`` and
  ``kiosk doctor``; a failure also raises a Fault through ``on_fault`` while the old
  certificate keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import ipaddress
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509

from kiosk.config import Config
from kiosk.errors import CertError
from kiosk.web import acme
from kiosk.web.certs import CertReport, cert_paths, device_hostname, load_roots, validate

log = logging.getLogger(__name__)

BACKOFF_S = 60.0
MAX_BACKOFF_S = 6 * 3600.0
OFFLINE_RECHECK_S = 60.0
MIN_RECHECK_S = 60.0  # after a success, whatever the dates say


@dataclass
class State:
    last_attempt: float = 0.0
    last_success: float = 0.0
    failures: int = 0
    next_attempt: float = 0.0  # backoff: the scheduler waits until then
    rate_limited_until: float = 0.0  # the CA's Retry-After: even --force waits
    last_error: dict | None = None  # code, message, fix, at

    @classmethod
    def load(cls, path: Path) -> State:
        try:
            data = json.loads(path.read_text())
            return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        tmp.replace(path)


@dataclass
class Outcome:
    result: str  # renewed, not-due, offline, waiting, busy, failed
    detail: str = ""
    error: CertError | None = None
    report: CertReport | None = None


def has_default_route(proc: Path = Path("/proc/net")) -> bool:
    try:
        for line in (proc / "route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 1 and fields[1] == "00000000":
                return True
        for line in (proc / "ipv6_route").read_text().splitlines():
            fields = line.split()
            if fields and fields[0] == "0" * 32 and fields[1] == "00":
                return True
    except OSError:
        return True  # cannot tell: let the attempt decide
    return False


def network_up(url: str) -> bool:
    """Offline is no route to anywhere, or the CA's name does not resolve (not an error)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return True  # a broken URL is a config error the attempt reports
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    if any(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos):
        return True
    return has_default_route()


def renew_at(cert_path: str, renew_before_days: float) -> dt.datetime | None:
    """When the certificate at ``cert_path`` is due (None: unreadable, due now)."""
    try:
        leaf = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())[0]
    except (OSError, ValueError, IndexError):
        return None
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    before = dt.timedelta(days=renew_before_days) if renew_before_days > 0 else lifetime / 3
    # never more than half the lifetime: a window as long as the certificate would make
    # every fresh certificate due at once, and the kiosk would hammer the CA
    return leaf.not_valid_after_utc - min(before, lifetime / 2)


class Renewer:
    def __init__(
        self,
        config: Config,
        on_installed: Callable[[CertReport], None] | None = None,
        on_fault: Callable[[CertError], None] | None = None,
        backoff_s: float = BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        offline_recheck_s: float = OFFLINE_RECHECK_S,
        online: Callable[[str], bool] = network_up,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.on_installed = on_installed
        self.on_fault = on_fault
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.offline_recheck_s = offline_recheck_s
        self.online = online
        self.clock = clock
        self.dir = acme.acme_dir(config)
        self.state_path = self.dir / "state.json"
        self.attempts = 0
        self._said_offline = False
        self._task: asyncio.Task | None = None
        self._stop = threading.Event()  # shutdown: the attempt in a worker thread ends early

    # --- one attempt ----------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[bool]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / "renew.lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EACCES):
                    yield False
                    return
                raise
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def current(self) -> CertReport:
        cert, key = cert_paths(self.config)
        return validate(cert, key, device_hostname(self.config), roots=load_roots(self.config.certs.roots))

    def due(self, now: float | None = None) -> tuple[bool, str]:
        report = self.current()
        if not report.ok:
            return True, f"the current certificate is not usable ({report.problems[0].code})"
        if self.config.certs.name == "device" and report.mode == "wildcard":
            return True, "a per-device certificate is configured but a wildcard is in place"
        when = renew_at(report.cert_path, self.config.certs.renew_before_days)
        at = dt.datetime.fromtimestamp(now if now is not None else self.clock(), dt.UTC)
        if when is None or at >= when:
            return True, f"{report.days_left:.1f} days left"
        return False, f"next renewal {when:%Y-%m-%d %H:%M} UTC"

    def renew(self, force: bool = False, respect_backoff: bool = True) -> Outcome:
        """One attempt, blocking (the server calls it in a worker thread)."""
        with self._lock() as mine:
            if not mine:
                return Outcome("busy", "another renewal is in progress")
            acme.finish_interrupted(self.config)
            state = State.load(self.state_path)
            now = self.clock()
            if now < state.rate_limited_until:
                return Outcome("waiting", f"the CA asked to wait until {_when(state.rate_limited_until)}")
            is_due, why = self.due(now)
            if not (force or is_due):
                return Outcome("not-due", why)
            if not is_due:
                why = "forced (" + why + ")"
            if respect_backoff and now < state.next_attempt:
                return Outcome("waiting", f"backing off after a failure until {_when(state.next_attempt)}")
            if not self.online(self.config.certs.acme_directory):
                if not self._said_offline:
                    log.info("offline: certificate renewal waits for the network (%s)", why)
                    self._said_offline = True
                return Outcome("offline", "no network: nothing attempted")
            self._said_offline = False
            self.attempts += 1
            state.last_attempt = now
            try:
                issued = acme.issue(self.config, stop=self._stop)
                report = acme.install(self.config, issued)
            except Exception as e:  # whatever broke, the next try waits out the backoff
                if self._stop.is_set():
                    return Outcome("busy", "stopped by shutdown")  # not the CA's fault: no backoff
                if not isinstance(e, CertError):
                    log.exception("unexpected failure while renewing the certificate")
                    e = CertError(
                        "certs.acme-unexpected",
                        f"the renewal failed unexpectedly: {type(e).__name__}: {e}",
                        "report this bug; the kiosk retries with backoff meanwhile",
                    )
                self._failed(state, e)
                return Outcome("failed", e.message, error=e)
            state.failures, state.next_attempt, state.last_error = 0, 0.0, None
            state.last_success = self.clock()
            state.save(self.state_path)
            log.info("certificate renewed (%s, %.0f days)", report.matched, report.days_left or 0)
            return Outcome("renewed", f"{why}; {issued.bad_nonces} badNonce answer(s) retried", report=report)

    def _failed(self, state: State, e: CertError) -> None:
        now = self.clock()
        state.failures += 1
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** min(state.failures - 1, 40))
        delay *= random.uniform(1.0, 1.1)
        retry_after = e.retry_after_s if isinstance(e, acme.AcmeError) else None
        if retry_after:
            state.rate_limited_until = now + retry_after
            delay = max(delay, retry_after)
        state.next_attempt = now + delay
        state.last_error = {"code": e.code, "message": e.message, "fix": e.fix, "at": now}
        state.save(self.state_path)
        log.warning("certificate renewal failed (%s), next try in %.0f s: %s", e.code, delay, e.message)

    # --- the background task --------------------------------------------------------

    def _sleep_after(self, outcome: Outcome) -> float:
        now = self.clock()
        check = self.config.certs.check_hours * 3600
        if outcome.result in ("failed", "waiting"):
            state = State.load(self.state_path)
            floor = self.backoff_s if outcome.result == "failed" else 1.0  # never a tight loop
            return max(floor, max(state.next_attempt, state.rate_limited_until) - now)
        if outcome.result in ("offline", "busy"):
            return self.offline_recheck_s
        when = renew_at(cert_paths(self.config)[0], self.config.certs.renew_before_days)
        if when is not None:
            check = min(check, max(MIN_RECHECK_S, when.timestamp() - now))
        return check

    async def until_valid(self) -> None:
        """Wait (offline, backing off, faults reported) until a usable certificate is in place:
        a new kiosk's first issuance, before there is anything to serve."""
        while not self.current().ok:
            outcome = await asyncio.to_thread(self.renew)
            if outcome.result == "failed" and outcome.error and self.on_fault:
                self.on_fault(outcome.error)
            if self.current().ok:
                return
            await asyncio.sleep(self._sleep_after(outcome))

    async def run(self) -> None:
        while True:
            try:
                outcome = await asyncio.to_thread(self.renew)
            except CertError as e:  # e.g. an unreadable [certs] roots file: say so, retry later
                outcome = Outcome("failed", e.message, error=e)
            except Exception as e:  # the task must outlive any surprise in one attempt
                log.exception("certificate renewal crashed")
                outcome = Outcome("failed", str(e))
            if outcome.result == "renewed" and self.on_installed and outcome.report:
                self.on_installed(outcome.report)
            if outcome.result == "failed" and outcome.error and self.on_fault:
                self.on_fault(outcome.error)
            await asyncio.sleep(self._sleep_after(outcome))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="cert-renewal")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # --- what status and doctor show ------------------------------------------------

    def status(self) -> dict:
        state = State.load(self.state_path)
        report = self.current()
        when = renew_at(report.cert_path, self.config.certs.renew_before_days) if report.subject else None
        serial = ""
        if report.subject:
            with contextlib.suppress(OSError, ValueError, IndexError):
                leaf = x509.load_pem_x509_certificates(Path(report.cert_path).read_bytes())[0]
                serial = format(leaf.serial_number, "x")
        return {
            "mode": self.config.certs.mode,
            "certificate": report.cert_path,
            "valid": report.ok,
            "problem": report.problems[0].message if report.problems else "",
            "issuer": report.issuer,
            "names": report.names,
            "serial": serial,
            "not_after": f"{report.not_after:%Y-%m-%d %H:%M} UTC" if report.not_after else "",
            "next_renewal": f"{when:%Y-%m-%d %H:%M} UTC" if when else "now",
            "next_attempt": _when(state.next_attempt) if state.next_attempt > self.clock() else "",
            "last_success": _when(state.last_success) if state.last_success else "",
            "failures": state.failures,
            "last_error": state.last_error,
        }


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
