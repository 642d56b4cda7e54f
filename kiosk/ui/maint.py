"""Maintenance mode at the kiosk: the PIN pad and the technician's screens.

Entry: the ``[maint] key`` chord (never shown in the footer) wipes the visitor's
conversation first, then shows the PIN pad (digits typed or pressed on screen). The
same ``PinGate`` as the web checks the PIN, so the lockout counts both. Inside: health,
microphone, speaker, ask, log, network, settings and actions (reload the knowledge, run
the answers bench, restart, quit the app), all reachable by keyboard (Tab, arrows,
Enter). Without input for ``[maint] idle_s`` it leaves on its own, and the attract
screen comes back clean, as after a visitor's idle reset.

Blocking work (argon2, doctor, audio, bench) runs in workers; the screens only render.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static, TabbedContent, TabPane

from kiosk.errors import KioskError
from kiosk.maint import health, probes, settings
from kiosk.maint.gate import PinGate, gate_for

IDLE_CHECK_S = 0.5
METER_WIDTH = 40

CSS = """
.maint-title { color: #ffd700; text-style: bold; padding: 1 2; }
.maint-text { padding: 0 2; }
#pin-pad { grid-size: 3; grid-gutter: 1; width: 40; height: auto; margin: 1 2; }
#pin-pad Button { width: 100%; }
#pin { width: 40; margin: 0 2; }
.setting { height: auto; }
.setting Label { width: 28; padding: 1 1; }
.setting Input { width: 1fr; }
.buttons { height: auto; padding: 0 1; }
.buttons Button { margin: 0 1; }
"""


def _gate(app: Any) -> PinGate:
    return gate_for(app.config, app.assistant)


def enter(app: Any) -> None:
    """The chord: wipe the visitor first, then the PIN pad."""
    if getattr(app, "in_maintenance", False):
        return
    try:
        _gate(app)
    except KioskError as e:  # no lockout store, no door: say why to the technician
        app.notify(f"Maintenance unavailable: {e.message} ({e.fix})", title="Staff notice", severity="error")
        return
    app.reset("maintenance")
    app.in_maintenance = True
    app.push_screen(PinScreen())


def leave(app: Any, reason: str) -> None:
    """Back to a clean attract screen (the visitor's idle reset does the wiping)."""
    if not getattr(app, "in_maintenance", False):
        return
    app.in_maintenance = False
    _gate(app).action("screen", "leave", reason)
    while len(app.screen_stack) > 2:
        app.pop_screen()
    app.reset("maintenance")
    app.switch_screen(app._attract())  # venue name or greeting may have changed


class _Idle(Screen):
    """Leaves maintenance after ``[maint] idle_s`` without a key, a press or a change."""

    DEFAULT_CSS = CSS

    def on_mount(self) -> None:
        self.touch()
        self.set_interval(IDLE_CHECK_S, self._check_idle)

    def touch(self) -> None:
        self.last_input = self.app.clock()
        self.app.touch()

    def _check_idle(self) -> None:
        if self.busy():
            self.touch()
        elif self.app.clock() - self.last_input >= self.app.config.maint.idle_s:
            leave(self.app, "idle")

    def busy(self) -> bool:
        return False

    def on_key(self) -> None:
        self.touch()

    def on_input_changed(self) -> None:
        self.touch()

    def on_button_pressed(self) -> None:
        self.touch()


class PinScreen(_Idle):
    BINDINGS = [Binding("escape", "cancel", "Back to the kiosk")]

    def compose(self) -> ComposeResult:
        yield Static("Maintenance: enter the PIN", classes="maint-title")
        yield Static("", id="pin-message", classes="maint-text")
        yield Input(password=True, restrict=r"[0-9]*", max_length=12, id="pin", placeholder="PIN")
        with Grid(id="pin-pad"):
            for label in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "OK"):
                yield Button(label, id=f"key-{'back' if label == '⌫' else label.lower()}")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#pin", Input).focus()
        stored, error = _gate(self.app).pin_status()
        if stored is None and error is not None:
            self.say(f"{error.message}. {error.fix}")

    def say(self, text: str) -> None:
        self.query_one("#pin-message", Static).update(Text(text))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.touch()
        field = self.query_one("#pin", Input)
        key = (event.button.id or "").removeprefix("key-")
        if key.isdigit():
            field.value = (field.value + key)[:12]
        elif key == "back":
            field.value = field.value[:-1]
        elif key == "ok":
            self.submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.submit()

    def submit(self) -> None:
        field = self.query_one("#pin", Input)
        pin, field.value = field.value, ""
        if pin:
            self.run_worker(self._check(pin), exclusive=True, group="pin", exit_on_error=False)

    async def _check(self, pin: str) -> None:
        self.say("Checking…")
        result = await _gate(self.app).attempt_async(pin, "screen")
        if result.accepted:
            _gate(self.app).action("screen", "enter")
            self.app.switch_screen(MaintScreen())
            return
        if result.outcome == "no-pin" and result.error is not None:
            self.say(f"{result.error.message}. {result.error.fix}")
        elif result.outcome == "locked-out":
            self.say(f"Too many wrong PINs: try again in {result.retry_after_s:.0f} s.")
        elif result.retry_after_s > 0:
            self.say(f"Wrong PIN. Too many wrong PINs: locked for {result.retry_after_s:.0f} s.")
        else:
            self.say("Wrong PIN.")

    def action_cancel(self) -> None:
        leave(self.app, "cancel")


class MaintScreen(_Idle):
    BINDINGS = [Binding("escape", "leave", "Leave maintenance")]

    def __init__(self) -> None:
        super().__init__(name="maintenance")
        self._probes = 0
        self._stop_mic = threading.Event()

    def busy(self) -> bool:
        return self._probes > 0

    def compose(self) -> ComposeResult:
        yield Static("Maintenance", classes="maint-title")
        with TabbedContent(id="maint-tabs"):
            with TabPane("Health", id="tab-health"), VerticalScroll():
                yield self._buttons(("health-refresh", "Refresh"))
                yield Static("Reading the parts…", id="health-text", classes="maint-text")
            with TabPane("Microphone", id="tab-mic"), VerticalScroll():
                yield self._buttons(("mic-start", "Listen 5 s (say the wake phrase)"))
                yield Static("", id="mic-meter", classes="maint-text")
                yield Static("", id="mic-text", classes="maint-text")
            with TabPane("Speaker", id="tab-speaker"), VerticalScroll():
                yield self._buttons(("speaker-play", "Play the test sentence"))
                yield Static("", id="speaker-text", classes="maint-text")
            with TabPane("Ask", id="tab-ask"), VerticalScroll():
                yield Input(probes.venue_question(self.app.assistant), id="ask-question")
                yield self._buttons(("ask-go", "Ask"))
                yield Static("", id="ask-text", classes="maint-text")
            with TabPane("Log", id="tab-log"), VerticalScroll():
                yield self._buttons(("log-refresh", "Counts and verify"))
                yield Static("", id="log-text", classes="maint-text")
                yield Input(placeholder="operator's private key file (e.g. on a USB stick)", id="log-key")
                yield Input(placeholder="its passphrase, if any", password=True, id="log-pass")
                yield self._buttons(("log-decrypt", "Show the last 20 records"))
                yield Static("", id="log-records", classes="maint-text")
            with TabPane("Network", id="tab-net"), VerticalScroll():
                yield self._buttons(("net-refresh", "Refresh"), ("net-flush", "Flush telemetry now"))
                yield Static("", id="net-text", classes="maint-text")
            with TabPane("Settings", id="tab-settings"), VerticalScroll():
                for key, value in settings.current(self.app.config).items():
                    shown = (
                        ", ".join(value)
                        if isinstance(value, list)
                        else str(value).lower()
                        if isinstance(value, bool)
                        else str(value)
                    )
                    with Horizontal(classes="setting"):
                        yield Label(key + (" *" if key in settings.RESTART else ""))
                        yield Input(shown, id="set-" + key.replace(".", "-"))
                yield Static("* applied after a restart; the others at once", classes="maint-text")
                restart = Button("Restart now", id="settings-restart")
                restart.display = False  # offered once a saved setting needs it
                yield Horizontal(Button("Save", id="settings-save"), restart, classes="buttons")
                yield Static("", id="settings-text", classes="maint-text")
            with TabPane("Actions", id="tab-actions"), VerticalScroll():
                yield self._buttons(
                    ("act-reload", "Reload the knowledge"), ("act-bench", "Run bench answers")
                )
                yield self._buttons(("act-restart", "Restart the kiosk"), ("act-quit", "Quit the kiosk app"),
                                    ("act-leave", "Leave maintenance"))  # fmt: skip
                yield Static("", id="act-text", classes="maint-text")
        yield Footer()

    @staticmethod
    def _buttons(*items: tuple[str, str]) -> Horizontal:
        return Horizontal(*(Button(label, id=bid) for bid, label in items), classes="buttons")

    def on_mount(self) -> None:
        super().on_mount()
        self.refresh_health()
        self.refresh_network()

    def show(self, widget_id: str, text: str) -> None:
        self.query_one(f"#{widget_id}", Static).update(Text(text))

    def _work(self, coro, keep_awake: bool = True) -> None:
        """Run a probe; while one the technician started runs, idle exit waits for it."""

        async def tracked() -> None:
            self._probes += keep_awake
            try:
                await coro
            except Exception as e:  # a probe's bug must not end maintenance
                self.show("act-text", f"failed: {e}")
            finally:
                self._probes -= keep_awake

        self.run_worker(tracked(), exit_on_error=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.touch()
        handlers = {
            "health-refresh": self.refresh_health, "mic-start": self.mic_test, "speaker-play": self.speaker_test,
            "ask-go": self.ask_test, "log-refresh": self.log_summary, "log-decrypt": self.log_decrypt,
            "net-refresh": self.refresh_network, "net-flush": self.flush_telemetry, "settings-save": self.save_settings,
            "settings-restart": self.action_restart, "act-restart": self.action_restart,
            "act-reload": self.reload_knowledge, "act-bench": self.run_bench, "act-quit": self.action_quit_app,
            "act-leave": self.action_leave,
        }  # fmt: skip
        handler = handlers.get(event.button.id or "")
        if handler is not None:
            handler()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.touch()
        if event.pane.id == "tab-log":
            self.log_summary()

    # --- health and network ----------------------------------------------------------

    def refresh_health(self) -> None:
        async def go() -> None:
            app = self.app
            facts = await asyncio.to_thread(health.all_facts, app.config, app.assistant)
            gate = _gate(app)
            self.show("health-text", health_text(facts, gate))

        self._work(go(), keep_awake=False)

    def refresh_network(self) -> None:
        async def go() -> None:
            self.show("net-text", await asyncio.to_thread(network_text, self.app))

        self._work(go(), keep_awake=False)

    def _config_file(self) -> str | None:
        source = self.app.config.source
        return source if source.endswith(".toml") else None

    def flush_telemetry(self) -> None:
        async def go() -> None:
            self.show("net-text", "Sending the telemetry outbox…")
            said = await asyncio.to_thread(probes.telemetry_flush, self._config_file())
            self.show("net-text", said + "\n\n" + await asyncio.to_thread(network_text, self.app))

        self._work(go())

    # --- part tests -------------------------------------------------------------------

    def mic_test(self) -> None:
        source_factory = getattr(self.app, "maint_mic_factory", probes.default_mic)

        def level(db: float) -> None:
            filled = max(0, min(METER_WIDTH, round((db + 60) / 60 * METER_WIDTH)))
            self.app.call_from_thread(
                self.show, "mic-meter", f"level {'█' * filled}{'·' * (METER_WIDTH - filled)} {db:6.1f} dBFS"
            )

        async def go() -> None:
            self.show("mic-text", "Listening…")
            r = await asyncio.to_thread(
                probes.mic_test, self.app.config, 5.0, source_factory, level, self._stop_mic
            )
            if r.error is not None:
                self.show("mic-text", f"Microphone test failed: {r.error.message}\nfix: {r.error.fix}")
                return
            wake = f'heard "{r.wake}"' if r.wake else "no wake phrase heard"
            self.show("mic-text", f"{r.seconds:.1f} s heard: peak {r.peak_dbfs:.1f} dBFS, mean {r.mean_dbfs:.1f} dBFS\n"
                                  f"wake word ({r.engine}): {wake}")  # fmt: skip

        self._work(go())

    def speaker_test(self) -> None:
        async def go() -> None:
            self.show("speaker-text", "Speaking…")
            r = await asyncio.to_thread(probes.speaker_test, self.app.config)
            voice = (
                f"voice {r.engine}: {r.audio_s:.1f} s of speech made in {r.synth_ms:.0f} ms"
                if r.engine
                else ""
            )
            if r.error is not None:
                self.show(
                    "speaker-text", f"{voice}\nnot played: {r.error.message}\nfix: {r.error.fix}".strip()
                )
            else:
                self.show("speaker-text", f"{voice}\nplayed {r.played_s:.1f} s on {r.device}")

        self._work(go())

    def ask_test(self) -> None:
        question = self.query_one("#ask-question", Input).value.strip()
        if not question:
            return

        async def go() -> None:
            self.show("ask-text", "Asking…")
            r = await probes.ask_test(self.app.assistant, question)
            how = f"{r.outcome}, {r.engine}" + (", the fact shown: the model's wording failed the check" if r.fallback else "")
            self.show("ask-text", f"answer ({how}): {r.answer}\n"
                                  f"TTFT {r.ttft_ms:.0f} ms, total {r.total_ms:.0f} ms, {r.tokens} tokens, "
                                  f"{r.tokens_per_s:.1f} tokens/s")  # fmt: skip

        self._work(go())

    # --- log --------------------------------------------------------------------------

    def log_summary(self) -> None:
        from kiosk.maint.logview import summary

        async def go() -> None:
            s = await asyncio.to_thread(summary, self.app.config)
            self.show("log-text", log_text(s))

        self._work(go())

    def log_decrypt(self) -> None:
        from kiosk.maint.logview import decrypted

        key = self.query_one("#log-key", Input).value.strip()
        pass_field = self.query_one("#log-pass", Input)
        passphrase = pass_field.value.encode() or None
        pass_field.value = ""
        if not key:
            self.show("log-records", "Type the path of the operator's private key file first.")
            return

        async def go() -> None:
            try:
                rows = await asyncio.to_thread(decrypted, self.app.config, Path(key), passphrase)
            except KioskError as e:
                self.show("log-records", f"{e.message}\nfix: {e.fix}")
                return
            lines = [f"{r['time']} {r['source']:12} {r['outcome']:10} Q: {r['question']}  A: {r['answer']}"
                     for r in rows]  # fmt: skip
            self.show("log-records", "\n".join(lines) or "no records")

        self._work(go())

    # --- settings and actions -----------------------------------------------------------

    def save_settings(self) -> None:
        app = self.app
        now = settings.current(app.config)
        try:
            changes = {}
            for key in settings.EDITABLE:
                value = settings.parse_value(
                    key, self.query_one("#set-" + key.replace(".", "-"), Input).value
                )
                if value != now[key]:
                    changes[key] = value
        except KioskError as e:
            self.show("settings-text", f"{e.message}\nfix: {e.fix}")
            return
        if not changes:
            self.show("settings-text", "Nothing changed.")
            return
        voice = getattr(app, "voice", None)

        async def go() -> None:
            self.show("settings-text", "Saving…")
            try:
                saved, apply = await asyncio.to_thread(settings.save, app.config, changes, voice)
            except KioskError as e:
                self.show("settings-text", f"Not saved: {e.message}\nfix: {e.fix}")
                return
            apply()
            _gate(app).action("screen", "settings", ",".join(sorted(changes)))
            path = saved.path
            text = f"Saved to {path} (previous version kept as {settings.prev_file(path).name})."
            if saved.applied:
                text += f"\nApplied now: {', '.join(saved.applied)}."
            if saved.after_restart:
                text += f"\nAfter a restart: {', '.join(saved.after_restart)}. Restart now?"
                self.query_one("#settings-restart", Button).display = True
            self.show("settings-text", text)

        self._work(go())

    def reload_knowledge(self) -> None:
        async def go() -> None:
            self.show("act-text", "Reloading the knowledge…")
            try:
                text = await asyncio.to_thread(probes.reload_knowledge, self.app.assistant, self.app.config)
            except KioskError as e:
                self.show(
                    "act-text", f"Knowledge not reloaded (the old one stays): {e.message}\nfix: {e.fix}"
                )
                return
            _gate(self.app).action("screen", "reload-knowledge")
            self.show("act-text", f"Knowledge reloaded: {text}.")

        self._work(go())

    def run_bench(self) -> None:
        async def go() -> None:
            self.show("act-text", "Running bench answers on the venue (minutes; the kiosk keeps serving)…")
            r = await asyncio.to_thread(probes.bench_answers, self._config_file())
            if r.error:
                self.show("act-text", f"bench answers failed: {r.error}")
                return
            f = r.figures
            self.show("act-text", f"bench answers ({r.seconds:.0f} s, {f.get('llm')}): "
                                  f"{f.get('answered_correctly')}/{f.get('answerable')} answered right, "
                                  f"{f.get('refused')}/{f.get('off_topic')} off-topic refused; outcomes {f.get('outcomes')}")  # fmt: skip

        self._work(go())

    def action_restart(self) -> None:
        _gate(self.app).action("screen", "restart")
        self.app.restart_requested = True
        self.app.exit()

    def action_quit_app(self) -> None:
        _gate(self.app).action("screen", "quit")
        self.app.exit()

    def action_leave(self) -> None:
        self._stop_mic.set()
        leave(self.app, "technician")


def health_text(facts: list[health.Fact], gate: PinGate) -> str:
    faults = health.faults(facts)
    lines = []
    if faults:
        lines.append("Needs attention (fix first):")
        lines += [f"  {f.status:4} {f.name}: {f.detail}\n       fix: {f.fix}" for f in faults]
        lines.append("")
    lines += [f"{f.status:4} {f.name:16} {f.detail}" for f in facts]
    recent = list(getattr(gate, "faults", ()))
    if recent:
        lines.append("\nLast faults this run:")
        lines += [f"  [{e.code}] {e.message}" + (f" (fix: {e.fix})" if e.fix else "") for e in recent]
    state = gate.state()
    lines.append(
        f"\nPIN: {state.failures} wrong in a row"
        + (f", locked {state.remaining_s:.0f} s" if state.locked else "")
    )
    return "\n".join(lines)


def log_text(s: dict) -> str:
    if "error" in s:
        return f"log: {s['error']['message']}\nfix: {s['error']['fix']}"
    lines = [f"log {s['path']}: {'on' if s['enabled'] else 'off'}, retention {s['retention_days']} days"]
    sink = s.get("sink")
    if sink:
        lines.append(f"writer: {sink['state']}, {sink['written']} written this run, {sink['backlog']} waiting, "
                     f"{sink['dropped']} lost" + (f" [{sink['code']}] fix: {sink['fix']}" if sink["code"] else ""))  # fmt: skip
    lines.append(f"records: {s.get('records', 0)} (first {s.get('first')}, last {s.get('last')}), "
                 f"shredded {s.get('shredded', 0)}")  # fmt: skip
    if s.get("by_source"):
        lines.append(f"by source: {s['by_source']}; by outcome: {s['by_outcome']}")
    lines.append(f"verify: {s['verify']}")
    return "\n".join(lines)


def network_text(app: Any) -> str:
    lines = []
    tool = shutil.which("ip")
    if tool:
        out = subprocess.run([tool, "-brief", "address"], capture_output=True, text=True, timeout=5).stdout
        lines += ["addresses:", *("  " + line for line in out.strip().splitlines())]
    else:
        lines.append("addresses: the ip tool is not installed")
    web = getattr(app, "web", None)
    if web is not None:
        cert = web.certs.summary()
        lines.append(f"web UI: {web.url} (port {web.port}), certificate {cert['status']}, "
                     f"expires {cert['expires']} ({cert['days_left']} days left)")  # fmt: skip
    else:
        lines.append("web UI: not running in this process ([web] enabled = false or it failed to start)")
    lines += [
        f"{f.name}: {f.status} {f.detail}" + (f" (fix: {f.fix})" if f.fix else "")
        for f in health.telemetry(app.config)
    ]
    return "\n".join(lines)
