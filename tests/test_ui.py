"""The Textual kiosk driven by the Pilot, with the REAL model and knowledge."""

from __future__ import annotations

import pytest
from core_support import Recorder, make_config, wait_for
from textual.widgets import Input, Static
from ui_support import FakeClock, screenshot_text

from kiosk import events as ev
from kiosk.assistant import Assistant
from kiosk.ui.app import KioskApp, create_app
from kiosk.ui.screens import AttractScreen, ConversationScreen


def make_app(assistant: Assistant, clock=None) -> KioskApp:
    kwargs = {"clock": clock} if clock else {}
    return KioskApp(assistant.config, assistant, notice="", how_to_ask="Type your question below and press Enter.",
                    examples=[], **kwargs)


async def ask(pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")


def transcript_text(app: KioskApp) -> str:
    return "\n".join(str(w.render()) for w in app.conversation_screen.query("#transcript Static").results(Static)
                     if w.display)


@pytest.mark.llm
async def test_typed_question_streams_the_llm_answer(llm_config, knowledge, llm):
    a = Assistant(llm_config, knowledge, llm)
    rec = Recorder(a)
    app = make_app(a)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, AttractScreen)
        await ask(pilot, "When is the cafe open?")
        await wait_for(pilot, lambda: rec.of(ev.AnswerDone))
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConversationScreen)
        tokens = rec.of(ev.AnswerToken)
        assert len(tokens) >= 2 and rec.of(ev.AnswerStarted)[0].mode == "llm"
        done = rec.of(ev.AnswerDone)[0]
        text = transcript_text(app)
        assert "You: When is the cafe open?" in text
        assert done.text in text
        assert "Done" in str(app.screen.query_one("#status", Static).render())


async def test_idle_reset_clears_screen_and_context(assistant):
    clock = FakeClock()
    app = make_app(assistant, clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await ask(pilot, "When is storytime?")
        await wait_for(pilot, lambda: app.conversation.turns)
        first = app.conversation
        clock.now += assistant.config.session.idle_reset_s - 1
        await pilot.pause(0.7)
        assert app.conversation is first  # not yet
        clock.now += 2
        await wait_for(pilot, lambda: isinstance(app.screen, AttractScreen), timeout=5)
        assert first.turns == []  # the Assistant forgot the visitor
        assert app.conversation is not first and app.conversation.turns == []
        assert transcript_text(app) == ""


async def test_escape_stops_and_f2_starts_over(llm_config, knowledge, llm):
    llm_config.llm.max_tokens = 400
    a = Assistant(llm_config, knowledge, llm)
    rec = Recorder(a)
    app = make_app(a)
    async with app.run_test(size=(100, 30)) as pilot:
        # Another visitor holds the model, so this answer is certainly still running when
        # Esc is pressed (the cancel must reach a run that is waiting or generating alike).
        await a.gate.acquire(-1, "someone-else")
        await ask(pilot, "Tell me all about the meeting room and the study rooms")
        await wait_for(pilot, lambda: rec.of(ev.AnswerStarted))
        await pilot.press("escape")
        a.gate.release()
        await wait_for(pilot, lambda: rec.of(ev.AnswerCancelled) or rec.of(ev.AnswerDone))
        assert rec.of(ev.AnswerCancelled)[0].reason == "user"
        await pilot.pause(0.1)
        assert "Stopped" in str(app.screen.query_one("#status", Static).render())
        first = app.conversation
        await pilot.press("f2")
        await pilot.pause(0.1)
        assert isinstance(app.screen, AttractScreen)
        assert app.conversation is not first and first.turns == []
        assert rec.of(ev.ConversationReset)[0].reason == "user"


async def test_other_conversations_are_never_shown(assistant):
    app = make_app(assistant)
    async with app.run_test(size=(100, 30)) as pilot:
        web = assistant.start_conversation("web", client="10.1.1.1")
        await assistant.ask(web, "When is storytime?")
        await pilot.pause(0.2)
        assert isinstance(app.screen, AttractScreen)
        assert transcript_text(app) == ""


async def test_keyboard_only_input_is_focused_on_both_screens(assistant):
    app = make_app(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.focused, Input)
        await ask(pilot, "hello")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConversationScreen) and isinstance(app.focused, Input)


async def test_missing_microphone_is_said_on_the_attract_screen(tmp_path, knowledge):
    cfg = make_config(tmp_path)
    app = create_app(cfg, Assistant(cfg, knowledge, None))
    from kiosk.doctor import audio_check

    async with app.run_test(size=(100, 30)):
        # Without a sound card (as here and in CI) the kiosk says so and offers typing.
        has_mic = audio_check().status == "OK"
        assert ("microphone" in app.notice) is not has_mic  # told to staff...
        how = " ".join(app.how_to_ask()).lower()
        assert "type" in how
        assert ("hello kiosk" in how) is has_mic  # ...and the visitor is offered only what works


async def test_kiosk_app_serves_the_web_ui_on_its_own_loop(tmp_path):
    from kiosk import runtime
    from tests.web_support import https_client, shared_data_dir, shared_pki

    files, ca = shared_pki()
    cfg = make_config(tmp_path, data={"dir": str(shared_data_dir())},
                      web={"enabled": True, "cert": str(files.cert), "key": str(files.key), "port": 0,
                           "host": "127.0.0.1"})
    rt = runtime.build(cfg, with_llm=False)
    app = make_app(rt.assistant)
    app.runtime = rt
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            assert app.web is not None
            async with https_client(ca.cert) as http:
                url = f"https://kiosk-001.fleet.test:{app.web.port}/api/ask"
                async with http.post(url, json={"question": "When is storytime?"}) as resp:
                    assert resp.status == 200
                    lines = [line async for line in resp.content]
            assert any(b"10:30am" in line for line in lines)
            await pilot.pause(0.2)
            assert isinstance(app.screen, AttractScreen)  # the web visitor's answer is not shown here
    finally:
        rt.close()


async def test_start_over_and_voice_events_before_any_question(assistant):
    """F2 on the attract screen, and a wake that arrives before the conversation screen
    was ever shown, must neither crash nor lose the events."""
    app = make_app(assistant)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f2")
        await pilot.pause(0.1)
        conv = app.conversation
        assistant.emit(ev.WakeDetected(conversation_id=conv.id, t=assistant.now(), phrase="hello kiosk",
                                       engine="test"))
        assistant.emit(ev.ListeningStarted(conversation_id=conv.id, t=assistant.now(), reason="wake"))
        assistant.emit(ev.TranscriptPartial(conversation_id=conv.id, t=assistant.now(), text="when is story"))
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConversationScreen)
        assert "when is story" in str(app.screen.query_one("#caption", Static).render())
        assert app.busy
        # Nobody asked anything after all: the kiosk is free again, so the idle reset can run.
        assistant.emit(ev.ListeningStopped(conversation_id=conv.id, t=assistant.now(), reason="end-of-speech"))
        assistant.emit(ev.TranscriptFinal(conversation_id=conv.id, t=assistant.now(), text=" ", engine="test"))
        await pilot.pause(0.1)
        assert not app.busy


async def test_config_problems_reach_the_attract_screen(tmp_path, knowledge):
    from kiosk import config as config_mod
    from kiosk.ui.app import staff_notice

    path = tmp_path / "k.toml"
    path.write_text(f'[data]\ndir = "{tmp_path}"\n[llm]\nmax_tokenz = 3\n')
    cfg = config_mod.load(path, strict=False)
    notice = staff_notice(cfg, [])
    assert notice and "llm.max_tokenz" in notice
    app = create_app(cfg, Assistant(cfg, knowledge, None), notice)
    async with app.run_test(size=(100, 30)):
        # For staff (maintenance, doctor), never for the public: only a discreet marker shows.
        assert "llm.max_tokenz" in app.notice
        marker = str(app.screen.query_one("#staff-marker", Static).render())
        assert marker.startswith("⚑ staff")
        assert "max_tokenz" not in screenshot_text(app)
