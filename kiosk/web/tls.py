"""Serving the current certificate, and picking up a renewed one without a restart.

The listening socket keeps one ``SSLContext`` for its whole life; its ``sni_callback``
runs at the start of every handshake and points that connection at the *current*
context. A renewal therefore builds a complete new context off to the side (validated
first, see certs.load_valid) and swaps one reference: established connections keep
their session, new ones get the new certificate, and no handshake ever sees a context
half-way through loading.

A renewed pair that fails validation is not served: the old valid one stays and a
fault is reported (once per bad state, and only when the bad state is still there at
the next poll, so the split second between a renewal writing the key and the chain
does not raise an alarm).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import ssl
import time
from collections.abc import Callable

from cryptography import x509

from kiosk.errors import CertError
from kiosk.web.certs import CertReport, load_valid, validate

log = logging.getLogger(__name__)

POLL_S = 2.0
REVALIDATE_S = 3600.0

Signature = tuple[tuple[int, int, int] | None, ...]


class CertManager:
    def __init__(
        self,
        cert_path: str,
        key_path: str,
        hostname: str,
        on_fault: Callable[[CertError], None] | None = None,
        poll_s: float = POLL_S,
        roots: tuple[x509.Certificate, ...] = (),
    ) -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.hostname = hostname
        self.roots = roots
        self.on_fault = on_fault
        self.poll_s = poll_s
        self._sig = self._signature()
        self.context, self.report = load_valid(cert_path, key_path, hostname, roots)  # CertError: refuse
        self.listening = self._listening_context()
        self.reloads = 0
        self.fault: CertError | None = None
        self._bad_sig: Signature | None = None
        self._reported_sig: Signature | None = None
        self._checked_at = time.monotonic()
        self._task: asyncio.Task | None = None

    def _listening_context(self) -> ssl.SSLContext:
        ctx, _ = load_valid(self.cert_path, self.key_path, self.hostname, self.roots)
        ctx.sni_callback = self._select
        return ctx

    def _select(self, ssl_obj, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        current = self.context
        if ssl_obj.context is not current:
            ssl_obj.context = current
        return None

    def _signature(self) -> Signature:
        out = []
        for path in (self.cert_path, self.key_path):
            try:
                st = os.stat(path)  # follows symlinks: certbot's live/ links into archive/
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def check(self) -> bool:
        """One poll: reload a changed pair if it is valid; returns whether it swapped."""
        sig = self._signature()
        if sig == self._sig:
            self._bad_sig = None
            if time.monotonic() - self._checked_at >= REVALIDATE_S:
                self._revalidate()
            return False
        try:
            ctx, report = load_valid(self.cert_path, self.key_path, self.hostname, self.roots)
        except CertError as e:
            if self._bad_sig == sig and self._reported_sig != sig:
                self._reported_sig = sig
                self._report(e)
            self._bad_sig = sig
            return False
        self.context, self.report, self._sig = ctx, report, sig
        self.reloads += 1
        self.fault = None
        self._bad_sig = self._reported_sig = None
        self._checked_at = time.monotonic()
        log.info("web certificate reloaded (%s, %.0f days left)", report.matched, report.days_left or 0)
        return True

    def _revalidate(self) -> None:
        """The files did not change, but time passes: refresh expiry warnings."""
        self._checked_at = time.monotonic()
        report = validate(
            self.cert_path, self.key_path, self.hostname, now=dt.datetime.now(dt.UTC), roots=self.roots
        )
        if report.ok:
            self.report = report
        else:
            self.report = report
            self._report(report.problems[0].error())

    def _report(self, e: CertError) -> None:
        self.fault = e
        log.warning("web certificate not (re)loaded: %s", e)
        if self.on_fault is not None:
            self.on_fault(e)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                self.check()
            except Exception:  # the watcher must outlive any surprise in one poll
                log.exception("certificate check failed")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="cert-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def summary(self) -> dict:
        """For the public status page: nothing secret, nothing about visitors."""
        r: CertReport = self.report
        return {
            "status": "FAIL" if self.fault else r.status,
            "mode": r.mode,
            "expires": r.not_after.strftime("%Y-%m-%d") if r.not_after else "",
            "days_left": round(r.days_left, 1) if r.days_left is not None else None,
            "reloads": self.reloads,
        }
