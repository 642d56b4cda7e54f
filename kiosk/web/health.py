"""``kiosk doctor`` lines for the web face: is the certificate right for this device,
and (``[certs] mode = "acme"``) is its renewal healthy?"""

from __future__ import annotations

import os

from kiosk.config import Config
from kiosk.errors import CertError
from kiosk.health import Check
from kiosk.web.certs import cert_paths, device_hostname, load_roots, validate


def doctor_checks(config: Config) -> list[Check]:
    acme = config.certs.mode == "acme"
    if not config.web.enabled and not config.web.cert and not acme:
        return [Check.ok("web", "web UI disabled ([web] enabled = false)")]
    try:
        hostname = device_hostname(config)
        roots = load_roots(config.certs.roots)
    except CertError as e:
        return [Check.from_error("web cert", e)]
    report = validate(*cert_paths(config), hostname, roots=roots)
    rows = [_cert_row(report, hostname)]
    if acme and report.problems and report.problems[0].code in ("certs.unreadable", "certs.not-configured"):
        rows[0] = rows[0]._replace(fix="the kiosk gets it by itself once online; now: kiosk certs renew")
    if acme:
        rows.append(_renewal_row(config))
    return rows


def _cert_row(report, hostname: str) -> Check:
    if report.problems:
        p = report.problems[0]
        return Check("web cert", "FAIL", p.message, p.fix)
    detail = (
        f"{hostname} covered by {report.matched} ({report.mode}), "
        f"expires {report.not_after:%Y-%m-%d} ({report.days_left:.0f} days)"
    )
    # The expiry warning comes first: it is the one with a deadline.
    warnings = sorted(report.warnings, key=lambda w: w.code != "certs.expiring")
    if warnings:
        w = warnings[0]
        return Check("web cert", "WARN", f"{detail}; {w.message}", w.fix)
    return Check("web cert", "OK", detail, "")


def _renewal_row(config: Config) -> Check:
    try:
        from kiosk.web.renewal import Renewer
    except ImportError as e:
        return Check("acme", "FAIL", f"the ACME client does not import: {e}", "run os-image/install.sh")
    info = Renewer(config).status()
    err = info["last_error"]
    if err:
        status = "WARN" if info["valid"] else "FAIL"
        served = "the current certificate keeps serving; " if info["valid"] else ""
        when = f", next try {info['next_attempt']}" if info["next_attempt"] else ""
        return Check(
            "acme",
            status,
            f"last renewal failed [{err['code']}]: {err['message']} ({served}{info['failures']} failure(s){when})",
            err["fix"],
        )
    if not config.certs.acme_directory:
        return Check("acme", "FAIL", "certs.mode is acme but no directory is set", "set [certs] acme_directory")
    secret = config.certs.rfc2136_secret_file
    if config.certs.dns == "rfc2136" and secret and os.path.exists(secret) and os.stat(secret).st_mode & 0o077:
        return Check("acme", "WARN", f"the TSIG secret {secret} is readable by others", f"chmod 600 {secret}")
    return Check("acme", "OK", f"renews from {config.certs.acme_directory}; next renewal {info['next_renewal']}", "")
