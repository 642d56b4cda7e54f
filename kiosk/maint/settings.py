"""Settings a technician may change in maintenance mode, written so a crash cannot break them.

The few keys that matter at a venue (``EDITABLE``) are written into the config file the
kiosk started from: merged with tomlkit (the operator's comments and layout stay),
validated by the very code that reads the config at start (``config.from_mapping``,
strict), the previous file kept beside it as ``<name>.prev``, and the new text written
to a temp file, fsynced and renamed over the old one, so a power cut or SIGKILL at any
instant leaves the old file or the new one, never half of one.

Keys that the running kiosk can take at once are applied live; the others wait for the
restart the screen offers. Wake phrases and sensitivity are live: a new detector is
built from the engine already loaded (``engines.rebuild_wake``) *before* the file is
written, so a phrase the engine cannot spot is refused with nothing changed, and the
voice loop's audio thread swaps it in between two chunks. Only the knowledge path waits:
the index is built from it at start (the "reload the knowledge" action re-reads the
folder already configured). Until that restart has started cleanly a marker in the data
dir remembers the change; a start that refuses the new file (a bad key, a knowledge
folder that does not load) puts the kept version back and says so to staff.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from kiosk import config as config_mod
from kiosk import paths
from kiosk.atomic import write_atomic
from kiosk.config import Config
from kiosk.errors import ConfigError, KioskError, MaintError

WAKE_KEYS = ("speech.wake_phrases", "speech.wake_sensitivity")
"""Applied by swapping the voice loop's wake detector for one built for the new values."""
LIVE = (
    "speech.volume",
    "speech.mute",
    *WAKE_KEYS,
    "session.idle_reset_s",
    "venue.name",
    "venue.staff_pointer",
)
"""Applied to the running kiosk at once."""
RESTART = ("knowledge.path",)
"""Read when the index is built at start: it needs the restart the screen offers."""
EDITABLE = LIVE + RESTART
PENDING = "maint-settings-pending.json"


def current(config: Config) -> dict[str, Any]:
    out = {}
    for key in EDITABLE:
        section, name = key.split(".")
        out[key] = getattr(getattr(config, section), name)
    return out


def describe(config: Config) -> dict[str, dict[str, Any]]:
    """Each editable key for a form: value, kind (number, bool, list, text), its doc and range.

    Read from the config's own field metadata, so the web page's labels and limits are
    the ones the loader enforces and the README's table lists.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, value in current(config).items():
        section, name = key.split(".")
        meta = {f.name: f.metadata for f in dataclasses.fields(getattr(config, section))}[name]
        kind = "bool" if isinstance(value, bool) else "number" if isinstance(value, int | float) else \
            "list" if isinstance(value, list) else "text"  # fmt: skip
        field: dict[str, Any] = {
            "value": value,
            "kind": kind,
            "doc": meta.get("doc", ""),
            "live": key in LIVE,
        }
        if "range" in meta:
            field["min"], field["max"] = meta["range"]
        out[key] = field
    return out


def config_file(config: Config) -> Path:
    """The file to write: the one the kiosk started from; with none, where it would look first."""
    if config.source == "built-in defaults":
        return paths.SYSTEM_CONFIG if os.geteuid() == 0 else paths.user_config_path()
    source = Path(config.source)
    if source.suffix != ".toml":
        raise MaintError(
            "maint.no-config-file",
            f"this kiosk's settings did not come from a file ({config.source}), so there is none to change",
            "start the kiosk with --config FILE",
        )
    return source


def prev_file(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def merged_text(old_text: str, changes: dict[str, Any]) -> str:
    doc = tomlkit.parse(old_text)
    for key, value in changes.items():
        if key not in EDITABLE:
            raise MaintError(
                "maint.setting-unknown",
                f"{key} cannot be changed in maintenance mode",
                f"change one of: {', '.join(EDITABLE)}",
            )
        section, name = key.split(".")
        if section not in doc:
            doc[section] = tomlkit.table()
        doc[section][name] = value  # type: ignore[index]
    return tomlkit.dumps(doc)


def validate(text: str, source: str) -> Config:
    """The same checks as at start, strict: a value the kiosk would refuse is refused here."""
    try:
        return config_mod.from_mapping(tomllib.loads(text), source=source, strict=True)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            "config.syntax", f"the new settings are not valid TOML: {e}", "report this bug"
        ) from e


def write_settings(
    path: Path,
    changes: dict[str, Any],
    data_dir: Path | None = None,
    prepare: Callable[[Config], Any] | None = None,
) -> Config:
    """Validate and write ``changes`` into ``path``; returns the config as it now reads.

    With ``data_dir``, a change that needs a restart leaves the pending marker there.
    ``prepare(new_config)`` runs after validation and before writing: a KioskError it
    raises refuses the change with the file untouched.
    """
    old_text = path.read_text("utf-8") if path.exists() else ""
    new_text = merged_text(old_text, changes)
    new_config = validate(new_text, str(path))
    if prepare is not None:
        prepare(new_config)
    try:
        if path.exists():
            write_atomic(prev_file(path), old_text)
        write_atomic(path, new_text)
    except OSError as e:
        raise MaintError(
            "maint.settings-write",
            f"cannot write {path}: {e.strerror}",
            "check the disk and the file's owner",
        ) from e
    restart = [k for k in changes if k in RESTART]
    if data_dir is not None and restart:
        write_atomic(
            data_dir / PENDING, json.dumps({"config": str(path), "keys": restart, "had_prev": bool(old_text)})
        )
    return new_config


def apply_live(config: Config, changes: dict[str, Any], voice: Any = None, wake: Any = None) -> list[str]:
    """Set the live keys on the running config (and voice); returns the keys that wait for a restart.

    ``wake`` is the detector ``prepare_wake`` built for the new phrases or sensitivity.
    """
    waiting = []
    for key, value in changes.items():
        section, name = key.split(".")
        if key in LIVE:
            setattr(getattr(config, section), name, value)
            if voice is not None and key in ("speech.volume", "speech.mute"):
                setattr(voice, name, value)
        else:
            waiting.append(key)
    if voice is not None and wake is not None:
        voice.swap_wake(wake)
    return waiting


def prepare_wake(new_config: Config, changes: dict[str, Any], voice: Any) -> Any:
    """The wake detector for changed phrases or sensitivity (blocking), or None if none is needed.

    Built from the running voice loop's engines; a SpeechError (a word the engine cannot
    spot) propagates so the change is refused before anything is written.
    """
    if voice is None or not any(k in changes for k in WAKE_KEYS):
        return None
    from kiosk.errors import SpeechError
    from kiosk.speech import engines

    try:
        return engines.rebuild_wake(new_config.speech, voice.front)
    except KioskError:
        raise
    except Exception as e:  # an engine's own failure: refused like a bad value, the old detector stays
        raise SpeechError(
            "speech.wake-failed", f"the wake engine cannot take the new phrases: {e}", "run: kiosk doctor"
        ) from e


@dataclass
class Saved:
    path: Path
    applied: list[str]
    after_restart: list[str]


def save(config: Config, changes: dict[str, Any], voice: Any = None) -> tuple[Saved, Callable[[], None]]:
    """Validate, prepare, write (blocking, in a worker); returns the result and its live step.

    The live step (``apply()``) changes the running config and voice: call it on the
    event loop once this returns. KioskError: nothing written, nothing changed.
    """
    path = config_file(config)
    built: dict[str, Any] = {}

    def prepare(new_config: Config) -> None:
        built["wake"] = prepare_wake(new_config, changes, voice)

    write_settings(path, changes, config.data_dir, prepare=prepare)
    waiting = [k for k in changes if k not in LIVE]
    saved = Saved(path, [k for k in changes if k in LIVE], waiting)

    def apply() -> None:
        apply_live(config, changes, voice, built.get("wake"))

    return saved, apply


def parse_value(key: str, text: str) -> Any:
    """A setting typed at the screen, converted to the key's type (list: comma-separated)."""
    hint = {k: type(v) for k, v in current(Config()).items()}[key]
    text = text.strip()
    try:
        if hint is bool:
            if text.lower() in ("true", "yes", "on", "1"):
                return True
            if text.lower() in ("false", "no", "off", "0"):
                return False
            raise ValueError(text)
        if hint is float:
            return float(text)
        if hint is list:
            return [p.strip() for p in text.split(",") if p.strip()]
    except ValueError as e:
        raise ConfigError(
            "config.type", f"{key}: {text!r} is not {hint.__name__}", f"type a {hint.__name__}"
        ) from e
    return text


# --- start-up: roll back what the kiosk refuses ------------------------------------------


def pending(config: Config) -> dict | None:
    marker = config.data_dir / PENDING
    try:
        data = json.loads(marker.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def clear_pending(config: Config) -> None:
    (config.data_dir / PENDING).unlink(missing_ok=True)


def start_with_rollback(config: Config, build: Callable[[Config], Any]) -> tuple[Config, Any, str | None]:
    """Build the runtime; if settings from maintenance make the start fail, restore the kept file.

    Returns (config, runtime, staff notice or None).
    """
    marker = pending(config)
    if marker is None or marker.get("config") != config.source:
        return config, build(config), None
    failure: KioskError | None = config.problems[0] if config.problems else None
    if failure is None:
        try:
            runtime = build(config)
        except KioskError as e:
            failure = e
        else:
            clear_pending(config)
            return config, runtime, None
    path = Path(marker["config"])
    prev = prev_file(path)
    if prev.exists():
        write_atomic(path, prev.read_text("utf-8"))
    elif not marker.get("had_prev"):
        path.unlink(missing_ok=True)
    clear_pending(config)
    restored = config_mod.load(path if path.exists() else None, strict=False)
    notice = (
        f"Staff notice: the settings changed in maintenance ({', '.join(marker.get('keys', []))}) were refused "
        f"at start ({failure.message}); the previous settings are back."
    )
    return restored, build(restored), notice
