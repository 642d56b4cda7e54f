"""``kiosk telemetry status|flush|discard-parked``: the technician's view of the outbox."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from kiosk.cli import ExitCode, report
from kiosk.config import Config
from kiosk.errors import TelemetryError
from kiosk.telemetry.status import age, status


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("telemetry", help="telemetry outbox: status, flush",
                              description="Metrics wait in an outbox in the data dir until the collector has them.")  # fmt: skip
    sub = p.add_subparsers(dest="telemetry_command", metavar="COMMAND", required=True)
    s = sub.add_parser(
        "status", help="outbox batches and bytes, oldest, last success and error, parked, dropped"
    )
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_status)
    f = sub.add_parser("flush", help="send the outbox now; exit 0 only when it is empty")
    f.add_argument("--timeout", type=float, default=60.0, help="seconds to keep sending (default 60)")
    f.set_defaults(func=cmd_flush)
    d = sub.add_parser("discard-parked", help="delete the batches the collector refused for good")
    d.set_defaults(func=cmd_discard_parked)


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return f"{dt.datetime.fromtimestamp(ts, dt.UTC):%Y-%m-%d %H:%M:%S} UTC ({age(ts)})"


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    st = status(config)
    if args.json:
        print(json.dumps(st.to_dict(), indent=2))
        return ExitCode.OK
    print(f"state:         {st.state}" + (f"  ({st.problem})" if st.problem else ""))
    print(f"endpoint:      {st.endpoint or '(none: kept on the kiosk, no network)'}")
    print(f"outbox:        {st.batches} batch(es), {st.bytes:,} bytes  [{st.path}]")
    print(f"oldest:        {_when(st.oldest)}")
    print(f"produced:      {st.produced} interval(s); sent {st.sent} request(s)")
    print(f"last success:  {_when(st.last_success)}")
    err = st.last_error
    line = f"[{err.get('code')}] {err.get('message')}" if err else "none"
    print(f"last error:    {line}")
    if err.get("fix"):
        print(f"               fix: {err['fix']}")
    if st.next_attempt:
        print(f"next attempt:  {_when(st.next_attempt)}")
    print(f"parked:        {st.parked}" + (f"  ({'; '.join(st.parked_reasons)})" if st.parked else ""))
    print(f"dropped:       {st.dropped} ({st.dropped_size} by size, {st.dropped_age} by age)")
    if st.rejected:
        print(f"rejected:      {st.rejected} item(s): {st.last_partial}")
    return ExitCode.OK


def cmd_flush(args: argparse.Namespace, config: Config) -> int:
    from kiosk.telemetry.outbox import Outbox

    if not config.telemetry.enabled:
        print("telemetry is disabled ([telemetry] enabled = false)", file=sys.stderr)
    box = Outbox.from_config(config)
    try:
        if config.telemetry.endpoint:
            from kiosk.telemetry.otlp import Sender

            sender = Sender(config, box)
            try:
                result = sender.flush(timeout_s=args.timeout)
            finally:
                sender.close()
            if result.error is not None and result.kind in ("retry", "error"):
                print(f"error [{result.error.code}]: {result.error.message}", file=sys.stderr)
                if result.error.fix:
                    print(f"fix: {result.error.fix}", file=sys.stderr)
        else:
            print("no [telemetry] endpoint configured: nothing can be sent", file=sys.stderr)
        st = box.stats()
    finally:
        box.close()
    print(f"outbox: {st.batches} batch(es) left, {st.parked} parked row(s)")
    return ExitCode.OK if st.batches == 0 else ExitCode.FAILED


def cmd_discard_parked(args: argparse.Namespace, config: Config) -> int:
    from kiosk.telemetry.outbox import Outbox

    try:
        box = Outbox.from_config(config)
    except TelemetryError as e:
        return report(e)
    try:
        n = box.discard_parked()
    finally:
        box.close()
    print(f"discarded {n} parked row(s)")
    return ExitCode.OK
