"""The real `kiosk run` in a real terminal (tmux), pressed the way a visitor would.

Pilot presses keys inside Textual; this presses them on a terminal, where Ctrl+C,
Ctrl+Z and Ctrl+\\ would be signals if the app ever let the terminal out of raw mode.
None of them may end the kiosk; SIGTERM (what systemd sends) must end it cleanly: exit
status 0 and the terminal handed back (alternate screen off).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KEYS = ["C-c", "C-q", "C-z", "C-\\", "C-d", "F1", "F3", "F4", "F6", "F7", "F8", "F9", "F10", "F11", "F12",
        "Escape", "C-c"]


class Tmux:
    def __init__(self, name: str) -> None:
        self.base = ["tmux", "-L", name, "-f", "/dev/null"]

    def __call__(self, *args: str) -> str:
        out = subprocess.run([*self.base, *args], check=True, capture_output=True, text=True, timeout=30)
        return out.stdout

    def value(self, fmt: str) -> str:
        return self("display-message", "-p", "-t", "kiosk", fmt).strip()

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "kiosk")

    def wait(self, predicate, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError(f"{what} not reached; screen:\n{self.screen()}")
            time.sleep(0.2)


@pytest.fixture
def terminal(tmp_path):
    tmux = Tmux(f"kiosk-test-{os.getpid()}")
    yield tmux
    subprocess.run([*tmux.base, "kill-server"], capture_output=True, timeout=30)


def test_no_key_leaves_the_kiosk_and_sigterm_ends_it_cleanly(tmp_path, terminal):
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'[data]\ndir = "{tmp_path / "data"}"\n'
        '[knowledge]\nembeddings = false\n'
        '[llm]\nmodel = "no-such-model"\n'  # knowledge-only: the keys are what is tested
        '[speech]\nenabled = false\n[log]\nenabled = false\n'
    )
    env = f"PYTHONPATH={REPO} TERM=xterm-256color"
    cmd = f"cd {tmp_path} && exec env {env} {sys.executable} -m kiosk --config {cfg} run"
    terminal("new-session", "-d", "-s", "kiosk", "-x", "80", "-y", "24", cmd)
    terminal("set-option", "-t", "kiosk", "remain-on-exit", "on")
    alive = lambda: terminal.value("#{pane_dead}") == "0"  # noqa: E731
    terminal.wait(lambda: "Type your question" in terminal.screen(), 180, "the attract screen")
    pid = int(terminal.value("#{pane_pid}"))

    terminal("send-keys", "-t", "kiosk", "-l", "Tell me about parking")
    for key in KEYS:
        terminal("send-keys", "-t", "kiosk", key)
        time.sleep(0.3)
        assert alive(), f"{key} ended the kiosk"
    screen = terminal.screen()
    assert "Type your question" in screen or "Tell me about parking" in screen
    assert "quit" not in screen.lower()

    os.kill(pid, 15)  # SIGTERM, as systemd stops the service
    terminal.wait(lambda: not alive(), 30, "exit on SIGTERM")
    status = terminal.value("#{pane_dead_status}/#{pane_dead_signal}")
    assert status == "0/", f"exit status/signal {status}; screen:\n{terminal.screen()}"
    assert terminal.value("#{alternate_on}") == "0"  # the terminal was handed back


def test_under_systemd_the_screen_goes_to_the_tty_and_the_log_to_the_journal(tmp_path, terminal):
    """kiosk.service gives stdout tty1 and stderr the journal; Textual draws on stderr.

    Booted in the QEMU test image, the kiosk once drew its screen into the journal (escape
    codes every half second) and left tty1 black. Here stderr is a file, as the journal is."""
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'[data]\ndir = "{tmp_path / "data"}"\n'
        '[knowledge]\nembeddings = false\nnot_a_key = 1\n'
        '[llm]\nmodel = "no-such-model"\n'
        '[speech]\nenabled = false\n[log]\nenabled = false\n'
    )
    journal = tmp_path / "journal.txt"
    env = f"PYTHONPATH={REPO} TERM=xterm-256color"
    cmd = f"cd {tmp_path} && exec env {env} {sys.executable} -m kiosk --config {cfg} run 2>{journal}"
    terminal("new-session", "-d", "-s", "kiosk", "-x", "80", "-y", "24", cmd)
    terminal("set-option", "-t", "kiosk", "remain-on-exit", "on")
    terminal.wait(lambda: "Type your question" in terminal.screen(), 180, "the attract screen on the tty")
    os.kill(int(terminal.value("#{pane_pid}")), 15)
    terminal.wait(lambda: terminal.value("#{pane_dead}") == "1", 30, "exit on SIGTERM")
    logged = journal.read_text(errors="replace")
    assert "knowledge.not_a_key" in logged  # what the kiosk says for staff stays in the journal
    assert "\x1b[" not in logged  # and no screen drawing went there
    assert terminal.value("#{pane_dead_status}") == "0"
