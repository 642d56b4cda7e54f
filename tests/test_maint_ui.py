"""Maintenance mode at the kiosk, driven by the Pilot: entry, PIN, lockout, idle exit, screens.

The parts are real: the real Assistant (knowledge and the small LLM), argon2, SQLite,
the configured wake engine and voice, ``kiosk doctor``'s checks. Only the microphone is
a WAV of generated speech fed through the same source interface (no sound card here).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from core_support import wait_for
from maint_support import PIN, Clock
from textual.css.query import NoMatches
from textual.widgets import Button, Input, Static

from kiosk import config as config_mod
from kiosk.assistant import Assistant
from kiosk.maint import pin as pin_mod
from kiosk.maint.lockout import FIRST_LOCK_S
from kiosk.speech import corpus
from kiosk.speech.sources import PcmSource
from kiosk.ui.app import KioskApp
from kiosk.ui.maint import MaintScreen, PinScreen
from kiosk.ui.screens import AttractScreen, ConversationScreen

CHORD = "ctrl+f12"


def write_config(tmp_path: Path, **sections: dict) -> config_mod.Config:
    base = {
        "data": {"dir": str(tmp_path / "data")},
        "log": {"enabled": False},
        "speech": {"enabled": False},
        "knowledge": {"embeddings": False},  # doctor's own index check builds lexical only: quick
        "maint": {"pin_file": str(tmp_path / "maint-pin"), "idle_s": 300.0},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    text = "# kept by the settings writer\n"
    for name, values in base.items():
        text += f"[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    return config_mod.load(path)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def make_app(cfg: config_mod.Config, knowledge, llm=None, clock=None) -> KioskApp:
    assistant = Assistant(cfg, knowledge, llm)
    return KioskApp(cfg, assistant, how_to_ask="Type your question below and press Enter.",
                    **({"clock": clock} if clock else {}))  # fmt: skip


@pytest.fixture
def cfg(tmp_path) -> config_mod.Config:
    c = write_config(tmp_path)
    pin_mod.write_pin_file(pin_mod.pin_file(c), pin_mod.hash_pin(PIN))
    return c


def text_of(app: KioskApp, selector: str) -> str:
    """The widget's text; "" while the screen is still being built."""
    try:
        return str(app.screen.query_one(selector, Static).render())
    except NoMatches:
        return ""


async def type_pin(pilot, pin: str) -> None:
    await pilot.press(*pin)
    await pilot.press("enter")


async def press(pilot, app: KioskApp, selector: str) -> None:
    """Press a button the way Enter on it does (a click would need it scrolled into view)."""
    app.screen.query_one(selector, Button).press()
    await pilot.pause(0.05)


async def enter_maintenance(pilot, app: KioskApp) -> None:
    await pilot.press(CHORD)
    await wait_for(pilot, lambda: isinstance(app.screen, PinScreen))
    await type_pin(pilot, PIN)
    await wait_for(pilot, lambda: isinstance(app.screen, MaintScreen))


async def test_chord_wipes_the_visitor_then_the_pin_pad_lets_the_technician_in(cfg, knowledge):
    app = make_app(cfg, knowledge)
    async with app.run_test(size=(120, 40)) as pilot:
        footer_keys = {b.key for b in app.screen.active_bindings.values() if b.binding.show}
        assert CHORD not in footer_keys  # never shown to visitors
        await pilot.press(*"When is storytime?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.conversation.turns)
        visitor = app.conversation
        await pilot.press(CHORD)
        await wait_for(pilot, lambda: isinstance(app.screen, PinScreen))
        assert visitor.turns == [] and app.conversation is not visitor  # wiped before the pad shows
        assert app.conversation_screen.answer_text == ""
        # a wrong PIN typed, then the right one on the on-screen digits
        await type_pin(pilot, "000001")
        await wait_for(pilot, lambda: "Wrong PIN" in text_of(app, "#pin-message"))
        assert isinstance(app.screen, PinScreen)
        for digit in PIN:
            await pilot.click(f"#key-{digit}")
        assert app.screen.query_one("#pin", Input).value == PIN and app.screen.query_one("#pin", Input).password
        await pilot.click("#key-ok")
        await wait_for(pilot, lambda: isinstance(app.screen, MaintScreen))
        assert app.in_maintenance
        # a wake or a question on the kiosk's conversation does not cover the technician's screen
        app._show_conversation()
        assert isinstance(app.screen, MaintScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, AttractScreen))
        assert not app.in_maintenance


async def test_no_pin_says_how_to_set_one(tmp_path, knowledge):
    app = make_app(write_config(tmp_path), knowledge)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(CHORD)
        await wait_for(pilot, lambda: isinstance(app.screen, PinScreen))
        assert "kiosk maint set-pin" in text_of(app, "#pin-message")
        await type_pin(pilot, "000000")
        await pilot.pause(0.3)
        assert isinstance(app.screen, PinScreen)


async def test_lockout_timing_on_the_pin_pad_with_an_injected_clock(cfg, knowledge):
    from kiosk.maint.gate import gate_for

    app = make_app(cfg, knowledge)
    wall = Clock(1_800_000_000.0)
    gate_for(cfg, app.assistant).clock = wall
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(CHORD)
        await wait_for(pilot, lambda: isinstance(app.screen, PinScreen))
        for i in range(5):
            await type_pin(pilot, f"90000{i}")
            await wait_for(pilot, lambda: "Wrong PIN" in text_of(app, "#pin-message"))
            if i < 4:
                app.screen.query_one("#pin-message", Static).update("")
        assert f"locked for {FIRST_LOCK_S:.0f} s" in text_of(app, "#pin-message")
        await type_pin(pilot, PIN)  # the right PIN, during the lockout
        await wait_for(pilot, lambda: "try again in 30 s" in text_of(app, "#pin-message"))
        assert isinstance(app.screen, PinScreen)
        wall.now += FIRST_LOCK_S + 1
        await type_pin(pilot, PIN)
        await wait_for(pilot, lambda: isinstance(app.screen, MaintScreen))


async def test_lockout_survives_a_restart_of_the_app(cfg, knowledge):
    first = make_app(cfg, knowledge)
    async with first.run_test(size=(120, 40)) as pilot:
        await pilot.press(CHORD)
        await wait_for(pilot, lambda: isinstance(first.screen, PinScreen))
        for i in range(5):
            await type_pin(pilot, f"90000{i}")
            await pilot.pause(0.1)
        await wait_for(pilot, lambda: "locked" in text_of(first, "#pin-message"))
    second = make_app(cfg, knowledge)  # a new process's app: a new Assistant, a new gate, the same data dir
    async with second.run_test(size=(120, 40)) as pilot:
        await pilot.press(CHORD)
        await wait_for(pilot, lambda: isinstance(second.screen, PinScreen))
        await type_pin(pilot, PIN)
        await wait_for(pilot, lambda: "try again in" in text_of(second, "#pin-message"))
        assert isinstance(second.screen, PinScreen)


async def test_idle_exit_brings_back_a_clean_attract_screen(cfg, knowledge):
    clock = Clock(1000.0)
    app = make_app(cfg, knowledge, clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await enter_maintenance(pilot, app)
        clock.now += cfg.maint.idle_s - 5
        await pilot.pause(0.7)
        assert isinstance(app.screen, MaintScreen)  # not yet
        await pilot.press("tab")  # input restarts the timer
        clock.now += 10
        await pilot.pause(0.7)
        assert isinstance(app.screen, MaintScreen)
        clock.now += cfg.maint.idle_s
        await wait_for(pilot, lambda: isinstance(app.screen, AttractScreen), timeout=5)
        assert not app.in_maintenance and app.conversation.turns == []
        assert len(app.screen_stack) == 2 and not isinstance(app.screen, ConversationScreen)


@pytest.mark.llm
async def test_screens_show_real_values_from_real_parts(tmp_path, knowledge, llm):
    cfg = write_config(tmp_path, knowledge={"instant_threshold": 1.0}, speech={"enabled": False})
    pin_mod.write_pin_file(pin_mod.pin_file(cfg), pin_mod.hash_pin(PIN))
    app = make_app(cfg, knowledge, llm)
    synth = corpus.Synth(Path("/tmp/kiosk-test-speech-cache"))
    wake_pcm = corpus.framed(synth.flite("hello kiosk").pcm)
    app.maint_mic_factory = lambda config: PcmSource(wake_pcm, label="wav")
    async with app.run_test(size=(140, 60)) as pilot:
        await enter_maintenance(pilot, app)
        screen = app.screen
        # health: device facts and doctor's checks
        await wait_for(pilot, lambda: "memory" in text_of(app, "#health-text"), timeout=120)
        health = text_of(app, "#health-text")
        assert "MiB available" in health and "32 entries" in health and "llama.cpp:gemma3-270m loaded" in health
        assert "maint PIN" in health and "0 wrong in a row" in health
        # ask: the real model, with its figures
        screen.query_one("#maint-tabs").active = "tab-ask"
        await pilot.pause(0.1)
        assert "opening hours" in screen.query_one("#ask-question", Input).value.lower()
        await press(pilot, app, "#ask-go")
        await wait_for(pilot, lambda: "tokens/s" in text_of(app, "#ask-text"), timeout=120)
        ask = text_of(app, "#ask-text")
        assert "TTFT" in ask and "llama.cpp" in ask and "9am" in ask  # the venue's fact, by the model or as fallback
        # microphone: level meter and the configured wake engine on generated speech
        screen.query_one("#maint-tabs").active = "tab-mic"
        await pilot.pause(0.1)
        await press(pilot, app, "#mic-start")
        await wait_for(pilot, lambda: "wake word" in text_of(app, "#mic-text"), timeout=120)
        assert "dBFS" in text_of(app, "#mic-meter")
        assert 'heard "hello kiosk"' in text_of(app, "#mic-text")
        # speaker: the real voice; no sound card here, and it says so with the fix
        screen.query_one("#maint-tabs").active = "tab-speaker"
        await pilot.pause(0.1)
        await press(pilot, app, "#speaker-play")
        await wait_for(pilot, lambda: "Speaking" not in text_of(app, "#speaker-text") and text_of(app, "#speaker-text"), timeout=120)
        speaker = text_of(app, "#speaker-text")
        assert "s of speech made in" in speaker
        assert "played" in speaker or "fix:" in speaker
        # log and network
        screen.query_one("#maint-tabs").active = "tab-log"
        await wait_for(pilot, lambda: "verify" in text_of(app, "#log-text"), timeout=30)
        screen.query_one("#maint-tabs").active = "tab-net"
        await wait_for(pilot, lambda: "web UI" in text_of(app, "#net-text"), timeout=30)
        assert "telemetry" in text_of(app, "#net-text")
        await press(pilot, app, "#net-flush")
        await wait_for(pilot, lambda: "outbox:" in text_of(app, "#net-text"), timeout=120)
        assert "no [telemetry] endpoint configured" in text_of(app, "#net-text")
        # settings: one live, one after a restart, written to the real file
        screen.query_one("#maint-tabs").active = "tab-settings"
        await pilot.pause(0.1)
        screen.query_one("#set-speech-volume", Input).value = "0.5"
        screen.query_one("#set-speech-wake_phrases", Input).value = "hello kiosk, hello library"
        same_folder = app.config.knowledge.path.rstrip("/") + "/."
        screen.query_one("#set-knowledge-path", Input).value = same_folder
        await press(pilot, app, "#settings-save")
        await wait_for(pilot, lambda: "Saved" in text_of(app, "#settings-text") or "fix" in text_of(app, "#settings-text"))
        result = text_of(app, "#settings-text")
        assert "Applied now: speech.volume, speech.wake_phrases" in result, result
        assert "After a restart: knowledge.path" in result
        assert app.config.speech.volume == 0.5
        assert app.config.speech.wake_phrases == ["hello kiosk", "hello library"]  # live (no voice loop here)
        reread = config_mod.load(cfg.source)
        assert reread.speech.wake_phrases == ["hello kiosk", "hello library"]
        assert reread.knowledge.path == same_folder
        assert "# kept by the settings writer" in Path(cfg.source).read_text()
        assert screen.query_one("#settings-restart", Button).display
        # actions: reload the knowledge, then restart (the app exits asking for it)
        screen.query_one("#maint-tabs").active = "tab-actions"
        await pilot.pause(0.1)
        await press(pilot, app, "#act-reload")
        await wait_for(pilot, lambda: "reloaded" in text_of(app, "#act-text"), timeout=120)
        assert "32 entries" in text_of(app, "#act-text")
        await press(pilot, app, "#act-restart")
        await pilot.pause(0.2)
    assert app.restart_requested
