"""``kiosk listen``: the voice chain on a WAV file or the microphone, printing events.

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
from typing import TYPE_CHECKING, Any

from kiosk import events as ev
from kiosk.cli import ExitCode, report
from kiosk.config import Config
from kiosk.errors import AudioError, KioskError
from kiosk.speech import audio, sinks, sources
from kiosk.speech.service import build_loop, open_sink

if TYPE_CHECKING:
    from kiosk.runtime import Runtime

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


def build_runtime(config: Config, with_llm: bool) -> Runtime:
    """The same Assistant every face uses; the caller closes it (the log writes its queue)."""
    from kiosk import runtime

    return runtime.build(config, with_llm=with_llm)


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
        return ExitCode.ERROR
    try:
        rt = build_runtime(config, with_llm=not args.no_llm)
    except BaseException:
        source.close()
        raise
    with rt:
        return _listen(args, config, rt, source)


def _listen(args: argparse.Namespace, config: Config, rt: Runtime, source: sources.AudioSource) -> int:
    assistant = rt.assistant
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
    return ExitCode.OK if finals else ExitCode.FAILED


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
        return report(e)
