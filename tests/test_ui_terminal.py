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


class Kiosk:
    """`kiosk run` in the tmux pane, under a shell that writes down its exit status.

    tmux reports a pane's exit status only once it has reaped the process, and under load
    it once left the exited kiosk a zombie for over a minute: the shell here reaps it and
    records the status, so the test reads the kiosk's own exit, not tmux's bookkeeping."""

    def __init__(self, terminal: Tmux, tmp_path: Path, cfg: Path, redirect: str = "") -> None:
        self.terminal, self.status = terminal, tmp_path / "exit-status"
        env = f"PYTHONPATH={REPO} TERM=xterm-256color"
        cmd = (f"cd {tmp_path} && env {env} {sys.executable} -m kiosk --config {cfg} run {redirect}; "
               f"echo $? > {self.status}")
        terminal("new-session", "-d", "-s", "kiosk", "-x", "80", "-y", "24", cmd)
        terminal("set-option", "-t", "kiosk", "remain-on-exit", "on")
        shell = terminal.value("#{pane_pid}")
        terminal.wait(lambda: self._child(shell), 30, "the kiosk process")
        self.pid = int(self._child(shell))

    @staticmethod
    def _child(shell: str) -> str:
        out = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True).stdout.split()
        return out[0] if out else ""

    def alive(self) -> bool:
        return not self.status.exists() and Path(f"/proc/{self.pid}").exists()

    def stop(self) -> str:
        """SIGTERM, as systemd stops the service; the exit status the kiosk ended with."""
        os.kill(self.pid, 15)
        self.terminal.wait(self.status.exists, 60, "exit on SIGTERM")
        self.terminal.wait(lambda: self.status.read_text().strip() != "", 5, "the exit status")
        return self.status.read_text().strip()


def test_no_key_leaves_the_kiosk_and_sigterm_ends_it_cleanly(tmp_path, terminal):
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'[data]\ndir = "{tmp_path / "data"}"\n'
        '[knowledge]\nembeddings = false\n'
        '[llm]\nmodel = "no-such-model"\n'  # knowledge-only: the keys are what is tested
        '[speech]\nenabled = false\n[log]\nenabled = false\n'
    )
    kiosk = Kiosk(terminal, tmp_path, cfg)
    terminal.wait(lambda: "Type your question" in terminal.screen(), 180, "the attract screen")

    terminal("send-keys", "-t", "kiosk", "-l", "Tell me about parking")
    for key in KEYS:
        terminal("send-keys", "-t", "kiosk", key)
        time.sleep(0.3)
        assert kiosk.alive(), f"{key} ended the kiosk"
    screen = terminal.screen()
    assert "Type your question" in screen or "Tell me about parking" in screen
    assert "quit" not in screen.lower()

    status = kiosk.stop()
    assert status == "0", f"exit status {status}; screen:\n{terminal.screen()}"
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
    kiosk = Kiosk(terminal, tmp_path, cfg, redirect=f"2>{journal}")
    terminal.wait(lambda: "Type your question" in terminal.screen(), 180, "the attract screen on the tty")
    assert kiosk.stop() == "0"
    logged = journal.read_text(errors="replace")
    assert "knowledge.not_a_key" in logged  # what the kiosk says for staff stays in the journal
    assert "\x1b[" not in logged  # and no screen drawing went there
