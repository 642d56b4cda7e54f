"""``kiosk doctor`` lines for the web face: is the certificate right for this device?"""

from __future__ import annotations

from kiosk.config import Config
from kiosk.errors import CertError
from kiosk.web.certs import device_hostname, validate


def doctor_checks(config: Config) -> list[tuple[str, str, str, str]]:
    if not config.web.enabled and not config.web.cert:
        return [("web", "OK", "web UI disabled ([web] enabled = false)", "")]
    try:
        hostname = device_hostname(config)
    except CertError as e:
        return [("web cert", "FAIL", e.message, e.fix)]
    report = validate(config.web.cert, config.web.key, hostname)
    if report.problems:
        p = report.problems[0]
        return [("web cert", "FAIL", p.message, p.fix)]
    detail = (
        f"{hostname} covered by {report.matched} ({report.mode}), "
        f"expires {report.not_after:%Y-%m-%d} ({report.days_left:.0f} days)"
    )
    # The expiry warning comes first: it is the one with a deadline.
    warnings = sorted(report.warnings, key=lambda w: w.code != "certs.expiring")
    if warnings:
        w = warnings[0]
        return [("web cert", "WARN", f"{detail}; {w.message}", w.fix)]
    return [("web cert", "OK", detail, "")]
