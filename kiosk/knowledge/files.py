"""Reading the venue's knowledge folder safely: regular files, bounded sizes, clean text.

Knowledge is trusted input (staff write it), but a folder on a kiosk meets USB sticks,
copy tools and mistakes: a FIFO named ``hours.md`` used to hang ``ask`` and ``doctor``,
a symlink to /dev/zero ate memory, one 50 MB entry needed 6.5 GB to index, and one
unreadable file refused the whole folder. Here:

- only regular files are read (opened non-blocking, checked with ``fstat`` on the open
  descriptor, so a FIFO or device swapped in after the listing is refused too); folder
  symlinks are not followed (no loops), file symlinks are read if they lead to a
  regular file;
- a file over ``max_file_kb``, files past ``max_files`` or past ``max_folder_mb`` in all
  are skipped; so is a file that is not UTF-8 or cannot be opened;
- every skipped file is a ``KnowledgeError`` in ``FolderRead.skipped``, which reaches
  staff (the attract-screen notice, ``kiosk doctor``, ``kiosk knowledge check``): the
  rest of the folder is still served;
- terminal escape sequences and other control characters are removed, so a knowledge
  file cannot drive the terminal or the screen;
- ``lint`` flags text that addresses the assistant ("ignore previous instructions"):
  such text would be read to visitors word for word, and staff should see it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.errors import KnowledgeError

KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class FileLimits:
    """Defaults a 4 GB Pi holds: 1 MiB is a few hundred pages of prose per file."""

    max_file_bytes: int = 1024 * KIB
    max_folder_bytes: int = 32 * MIB
    max_files: int = 5000

    @classmethod
    def from_config(cls, knowledge) -> FileLimits:
        return cls(knowledge.max_file_kb * KIB, knowledge.max_folder_mb * MIB, knowledge.max_files)


@dataclass(frozen=True)
class KnowledgeFile:
    path: Path
    rel: str
    text: str
    cleaned: int = 0
    """Control characters (or escape sequences) removed from this file."""


@dataclass
class FolderRead:
    files: list[KnowledgeFile] = field(default_factory=list)
    skipped: list[KnowledgeError] = field(default_factory=list)

    def fingerprint(self, salt: str) -> str:
        h = hashlib.sha256(salt.encode())
        for f in self.files:
            h.update(f.rel.encode() + b"\0" + f.text.encode() + b"\0")
        for e in self.skipped:  # a file skipped now and read later must re-index
            h.update(e.message.encode())
        return h.hexdigest()


_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> tuple[str, int]:
    """Text without terminal escapes, control characters or bidi overrides; and how many went."""
    text, n1 = _ESCAPES.subn("", text)
    text, n2 = _CONTROLS.subn("", text)
    return text, n1 + n2


def _md_files(folder: Path) -> list[Path]:
    """Every ``*.md`` under ``folder``, sorted; folder symlinks are not followed."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        found += [Path(root) / n for n in names if n.endswith(".md")]
    return sorted(found)


def _skip(path: Path, code: str, why: str, fix: str) -> KnowledgeError:
    return KnowledgeError(code, f"knowledge file {path} was skipped: {why}", fix)


def _read_one(path: Path, limit: int) -> bytes | KnowledgeError:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ELOOP):
            return _skip(path, "knowledge.skipped-link", "it is a broken link", "remove it or fix the link")
        return _skip(
            path, "knowledge.skipped-unreadable", e.strerror or str(e), "check the file's permissions"
        )
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return _skip(path, "knowledge.skipped-not-a-file", "it is not a regular file (a pipe, device or "
                         "socket)", "replace it with a plain Markdown file")  # fmt: skip
        if st.st_size > limit:
            return _too_big(path, st.st_size, limit)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while being read
            return _too_big(path, size, limit)
        return b"".join(chunks)
    except OSError as e:
        return _skip(
            path, "knowledge.skipped-unreadable", e.strerror or str(e), "check the disk and the file"
        )
    finally:
        os.close(fd)


def _too_big(path: Path, size: int, limit: int) -> KnowledgeError:
    return _skip(path, "knowledge.skipped-too-large", f"it is {size:,} bytes, over the {limit:,} a file may have",
                 "split it into smaller files, or raise [knowledge] max_file_kb")  # fmt: skip


def read_folder(
    folder: Path, limits: FileLimits | None = None, progress: Callable[[str], None] | None = None
) -> FolderRead:
    """Read the knowledge files under ``folder`` within ``limits``; bad files are skipped, listed."""
    limits = limits or FileLimits()
    if not folder.is_dir():
        raise KnowledgeError(
            "knowledge.missing",
            f"knowledge folder {folder} does not exist",
            "set [knowledge] path to a folder of Markdown files",
        )
    out = FolderRead()
    total = 0
    paths = _md_files(folder)
    for n, path in enumerate(paths):
        if progress is not None and n and n % 500 == 0:
            progress(f"reading knowledge files: {n}/{len(paths)}")
        if len(out.files) >= limits.max_files:
            out.skipped.append(_skip(path, "knowledge.skipped-too-many", f"the folder has more than "
                                     f"{limits.max_files} files", "merge files, or raise [knowledge] max_files"))  # fmt: skip
            continue
        room = limits.max_folder_bytes - total
        data = _read_one(path, min(limits.max_file_bytes, room))
        if isinstance(data, KnowledgeError):
            if data.code == "knowledge.skipped-too-large" and room < limits.max_file_bytes:
                data = _skip(path, "knowledge.skipped-folder-full", f"the folder's files reach the "
                             f"{limits.max_folder_bytes:,} bytes it may hold",
                             "remove old files, or raise [knowledge] max_folder_mb")  # fmt: skip
            out.skipped.append(data)
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            out.skipped.append(_skip(path, "knowledge.skipped-encoding", f"it is not UTF-8 text (byte "
                                     f"{e.start})", "save it as UTF-8"))  # fmt: skip
            continue
        total += len(data)
        text, removed = clean_text(text)
        out.files.append(KnowledgeFile(path, str(path.relative_to(folder)), text, removed))
    return out


# --- the staff-facing lint ------------------------------------------------------------------

_ADDRESSING = [
    (re.compile(p, re.I), why)
    for p, why in (
        (r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|any|your)\b"
         r"[^.\n]{0,20}\b(instructions?|prompts?|rules?|directions?)", "tells the assistant to ignore its instructions"),
        (r"\b(you are|act as|pretend to be|you must now|from now on,? you)\b[^.\n]{0,30}\b(assistant|ai|chatbot|model"
         r"|gpt|llm|bot)\b", "tells the assistant who to be"),
        (r"\b(system prompt|developer mode|jailbreak|do anything now)\b", "talks about the assistant's prompt"),
        (r"<\|(im_start|im_end|system|user|assistant|start_of_turn|end_of_turn)\|?>|\[/?INST\]|<start_of_turn>"
         r"|^\s*(system|assistant)\s*:", "contains a chat-template marker"),
        (r"\b(tell|say to|inform)\b[^.\n]{0,20}\b(the )?(visitors?|users?|everyone)\b[^.\n]{0,30}\b(that|to)\b",
         "instructs the assistant what to tell visitors"),
    )
]  # fmt: skip


@dataclass(frozen=True)
class LintFinding:
    file: str
    line: int
    why: str
    text: str


def lint(files: list[KnowledgeFile]) -> list[LintFinding]:
    """Lines that address the assistant instead of stating a fact about the venue."""
    out = []
    for f in files:
        for no, line in enumerate(f.text.splitlines(), 1):
            for pattern, why in _ADDRESSING:
                if pattern.search(line):
                    out.append(LintFinding(f.rel, no, why, line.strip()[:120]))
                    break
    return out
