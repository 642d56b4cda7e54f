"""``kiosk init``: an operator's first run, from an empty folder to a kiosk doctor accepts.

It writes three things and says what to do with each:

- ``kiosk.toml``: every key of every section at its default, each with its meaning as a
  comment (the same ``doc=`` text README's table is checked against), except the few
  that must point at what ``init`` just made. Written with tomlkit, so quoting, lists
  and paths are valid TOML whatever they contain, and read back strictly before
  ``init`` reports success.
- an operator key pair for the sealed interaction log: the public half stays (it is what
  the kiosk seals to); the private half must be moved off the device, and until it is,
  ``kiosk doctor`` fails on purpose (a private key beside the log defeats the sealing).
- a development certificate for this device's own name (``<device_id>.<fleet_domain>``,
  not a fleet-wide wildcard) under a throw-away CA.

Nothing is overwritten without ``--force``: an existing config or key may be the only
copy an operator has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk import config as config_mod
from kiosk import paths
from kiosk.errors import ConfigError

CONFIG_NAME = "kiosk.toml"
KEY_NAME = "operator.key"


@dataclass
class InitResult:
    config: Path
    private_key: Path
    public_key: Path
    cert: Path
    key: Path
    ca_cert: Path
    hostname: str


def default_dir() -> Path:
    """Where ``kiosk`` looks for a config when given none (the user's config folder)."""
    return paths.user_config_path().parent


def render_config(overrides: dict[str, dict[str, Any]]) -> str:
    """The commented kiosk.toml: every key, its meaning, its default (or the value set here)."""
    import tomlkit

    doc = tomlkit.document()
    doc.add(tomlkit.comment("kiosk configuration, written by `kiosk init`."))
    doc.add(tomlkit.comment("Every key is listed with its meaning; all but the ones `init` set are at their"))
    doc.add(tomlkit.comment("defaults. Unknown keys are errors; `kiosk doctor` lists every one at once."))
    tables: dict[str, Any] = {}
    for key, default, meaning in config_mod.documented_keys():  # README's table, the same words
        sec_name, name = key.split(".", 1)
        if sec_name not in tables:
            tables[sec_name] = tomlkit.table()
            doc.add(sec_name, tables[sec_name])
        table = tables[sec_name]
        if ".NAME." in name:
            # A table of sections (e.g. [llm.backend.NAME]): shown as a commented example,
            # since a section named NAME would be a real (and wrong) backend.
            parent, field_name = name.split(".NAME.", 1)
            if field_name == "kind":
                table.add(tomlkit.comment(f"[{sec_name}.{parent}.NAME] sections, one per name in the list above:"))
            table.add(tomlkit.comment(f"  {field_name} = {tomlkit.item(default).as_string()}   # {meaning}"))
            continue
        value = overrides.get(sec_name, {}).get(name, default)
        table.add(tomlkit.comment(meaning))
        if value != default:
            table.add(tomlkit.comment(f"(set by kiosk init; default: {tomlkit.item(default).as_string()})"))
        table.add(name, value)
        table.add(tomlkit.nl())
    return tomlkit.dumps(doc)


def _refuse_existing(targets: list[Path], force: bool) -> None:
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise ConfigError(
            "init.exists",
            f"{', '.join(existing)} already exist(s)",
            "choose another --dir, or pass --force to replace them",
        )


def init(folder: Path, *, force: bool = False, device_id: str = "", domain: str = "") -> InitResult:
    from kiosk.store import sealed
    from kiosk.web.devca import make_dev

    folder = Path(folder).expanduser().resolve()
    defaults = config_mod.Config().web
    device_id = device_id or defaults.device_id
    domain = domain or defaults.fleet_domain
    config_path = folder / CONFIG_NAME
    private = folder / KEY_NAME
    _refuse_existing([config_path, private, private.with_name(KEY_NAME + ".pub")], force)
    folder.mkdir(parents=True, exist_ok=True)

    recipient = sealed.write_keypair(private, None, overwrite=force)
    certs = make_dev(domain, folder / "certs", device_id=device_id)
    overrides = {
        "data": {"dir": str(folder / "data")},
        "log": {"recipients": [str(recipient.path)]},
        "web": {"device_id": device_id, "fleet_domain": domain, "cert": str(certs.cert), "key": str(certs.key)},
    }
    text = render_config(overrides)
    tmp = config_path.with_name(CONFIG_NAME + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, config_path)
    config_mod.load(config_path)  # what was written must load, strictly
    return InitResult(
        config_path, private, Path(recipient.path), certs.cert, certs.key, certs.ca_cert, f"{device_id}.{domain}"
    )


def cmd_init(args, config: config_mod.Config) -> int:
    folder = Path(args.dir) if args.dir else default_dir()
    r = init(folder, force=args.force, device_id=args.device or "", domain=args.domain or "")
    use = "" if r.config == paths.user_config_path() else f" --config {r.config}"
    print(f"config:       {r.config}  (every key, its meaning, its default)")
    print(f"log key pair: {r.public_key}  (stays: the kiosk seals the log to it)")
    print(f"              {r.private_key}  (private)")
    print(
        f"  MOVE {r.private_key} OFF THIS DEVICE NOW, to the operator's computer: whoever holds it\n"
        "  can read every visitor's words in the log. `kiosk doctor` fails until it is gone from here."
    )
    print(f"certificate:  {r.cert}  for {r.hostname} (development CA {r.ca_cert}: trust it in test browsers only)")
    print(f"next:         kiosk{use} doctor")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "init", help="write a commented kiosk.toml, an operator key pair and a dev certificate"
    )
    p.add_argument("--dir", help=f"folder to write into (default: {default_dir()})")
    p.add_argument("--device", help="device label (default: kiosk-001)")
    p.add_argument("--domain", help="fleet domain (default: fleet.test)")
    p.add_argument("--force", action="store_true", help="replace an existing config and key pair")
    p.set_defaults(func=cmd_init)
