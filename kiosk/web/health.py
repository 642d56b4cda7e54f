"""``kiosk doctor`` lines for the web face: is the certificate right for this device?"""

from __future__ import annotations

from kiosk.config import Config
from kiosk.errors import CertError
from kiosk.health import Check
from kiosk.web.certs import device_hostname, validate


def doctor_checks(config: Config) -> list[Check]:
    if not config.web.enabled and not config.web.cert:
        return [Check.ok("web", "web UI disabled ([web] enabled = false)")]
    try:
        hostname = device_hostname(config)
    except CertError as e:
        return [Check.from_error("web cert", e)]
    report = validate(config.web.cert, config.web.key, hostname)
    if report.problems:
        p = report.problems[0]
        return [Check.fail("web cert", p.message, p.fix)]
    detail = (
        f"{hostname} covered by {report.matched} ({report.mode}), "
        f"expires {report.not_after:%Y-%m-%d} ({report.days_left:.0f} days)"
    )
    # The expiry warning comes first: it is the one with a deadline.
    warnings = sorted(report.warnings, key=lambda w: w.code != "certs.expiring")
    if warnings:
        w = warnings[0]
        return [Check.warn("web cert", f"{detail}; {w.message}", w.fix)]
    return [Check.ok("web cert", detail)]
