"""Packaging says what it needs: extras match the install lists, and a wheel runs alone.

The wheel test builds the kiosk's wheel offline (the test venv's setuptools and wheel,
no build isolation), installs it into a throwaway venv whose only other packages are
this environment's dependencies (added as a plain path, so this checkout's editable
install is not), and asks a question from a folder that is not the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import tomllib
from pathlib import Path

from kiosk import paths

ROOT = paths.REPO_ROOT
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def _requirements(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_each_extra_is_its_install_list():
    extras = PYPROJECT["project"]["optional-dependencies"]
    lists = {p.stem: _requirements(p) for p in (ROOT / "os-image" / "packages").glob("*.pip")}
    assert set(lists) <= set(extras), f"pip lists without an extra: {set(lists) - set(extras)}"
    for name, requirements in lists.items():
        assert sorted(extras[name]) == sorted(requirements), f"[{name}] extra differs from {name}.pip"
    install = (ROOT / "os-image" / "install.sh").read_text("utf-8")
    installed = set(re.findall(r'extras="\.\[([\w,]+)\]"', install)[-1].split(","))
    assert installed == set(extras), f"install.sh's test set-up installs {installed}, not every extra"


def test_sqlite_utils_4_is_required():
    deps = PYPROJECT["project"]["dependencies"]
    assert "sqlite-utils>=4" in deps  # sqlite_utils.migrations, used by the log store, is new in 4


def test_every_kiosk_package_goes_into_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "kiosk").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }  # fmt: skip
    assert found <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"


def test_the_kiosk_runs_from_its_wheel(tmp_path):
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "kiosk", src / "kiosk", ignore=ignore)
    shutil.copytree(ROOT / "assets", src / "assets", ignore=ignore)
    (src / "models").mkdir()
    shutil.copy(ROOT / "models" / "manifest.toml", src / "models")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")

    def run(*cmd, cwd=tmp_path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(c) for c in cmd], capture_output=True, text=True, timeout=600, cwd=cwd, env=env
        )

    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                "-w", tmp_path / "dist", src)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("kiosk-*.whl")

    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    py = venv / "bin" / "python"
    venv_site = Path(
        run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    )
    # This environment's dependencies, as plain paths (its .pth files, and so this
    # checkout's editable kiosk, are not processed).
    (venv_site / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    installed = run(py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel)
    assert installed.returncode == 0, installed.stderr

    where = run(py, "-c", "import kiosk.paths as p; print(p.PACKAGE_DIR, p.IN_CHECKOUT, p.MANIFEST_PATH.is_file(), "
                "(p.PROMPTS_DIR / 'prompt.toml').is_file(), p.DEMO_KNOWLEDGE_DIR.is_dir())")  # fmt: skip
    package_dir, in_checkout, *found = where.stdout.split()
    assert Path(package_dir).is_relative_to(venv) and in_checkout == "False", where.stdout + where.stderr
    assert found == ["True", "True", "True"], where.stdout

    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'[data]\ndir = "{tmp_path / "data"}"\n[log]\nenabled = false\n[knowledge]\nembeddings = false\n'
    )
    asked = run(venv / "bin" / "kiosk", "ask", "--config", cfg, "--no-llm", "When is storytime?")
    assert asked.returncode == 0, asked.stderr
    assert re.search(r"10:30\s*am", asked.stdout, re.I), asked.stdout
    listed = run(venv / "bin" / "kiosk", "models", "list", "--config", cfg)
    gemma = next(line for line in listed.stdout.splitlines() if line.startswith("gemma3-270m"))
    # the package may be read-only: assembled models go to the user's data folder
    assert listed.returncode == 0 and gemma.split()[-1].startswith(str(tmp_path / "xdg" / "kiosk" / "models"))
