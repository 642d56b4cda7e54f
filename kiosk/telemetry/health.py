"""``kiosk doctor`` lines for telemetry: where the data goes, and what is stuck or lost."""

from __future__ import annotations

from kiosk.config import Config
from kiosk.health import Check
from kiosk.telemetry.status import age, status


def doctor_checks(config: Config) -> list[Check]:
    st = status(config)
    if st.state == "disabled":
        return [Check("telemetry", "OK", "telemetry disabled ([telemetry] enabled = false)", "")]
    try:
        import opentelemetry.sdk  # noqa: F401
    except ImportError as e:
        return [Check("telemetry", "FAIL", f"the OpenTelemetry SDK does not import: {e}",
                 "run os-image/install.sh (os-image/packages/telemetry.pip)")]  # fmt: skip
    if st.problem:
        return [Check("telemetry", "FAIL", st.problem, "")]
    waiting = f"{st.batches} batch(es), {st.bytes / 1024:,.0f} KiB waiting (oldest {age(st.oldest)})"
    rows: list[Check] = []
    if st.state == "local":
        rows.append(Check("telemetry", "OK", f"no [telemetry] endpoint: kept on the kiosk only; {waiting}",
                     ""))  # fmt: skip
    else:
        err = st.last_error
        detail = f"to {st.endpoint}: {waiting}; last success {age(st.last_success)}"
        if st.state == "ok":
            rows.append(Check("telemetry", "OK", detail, ""))
        else:
            level = "FAIL" if st.state == "error" else "WARN"
            rows.append(Check("telemetry", level, f"{detail}; last error [{err.get('code')}] {err.get('message')}",
                         err.get("fix", "")))  # fmt: skip
    if st.parked:
        rows.append(Check("telemetry parked", "WARN",
                     f"{st.parked} request(s) refused by the collector and kept aside: {'; '.join(st.parked_reasons)[:300]}",
                     "fix the cause on the collector; kiosk telemetry discard-parked removes them"))  # fmt: skip
    if st.dropped:
        rows.append(Check("telemetry dropped", "WARN",
                     f"{st.dropped} batch(es) dropped unsent ({st.dropped_size} over max_outbox_mb, "
                     f"{st.dropped_age} over max_age_days)",
                     "connect the kiosk to the collector, or raise [telemetry] max_outbox_mb / max_age_days"))  # fmt: skip
    if st.rejected:
        rows.append(Check("telemetry partial", "WARN", f"{st.rejected} item(s) rejected by the collector: {st.last_partial}",
                     "see the collector's log for the reason"))  # fmt: skip
    return rows
