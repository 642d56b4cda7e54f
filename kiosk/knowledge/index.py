"""Venue knowledge as Markdown, indexed into SQLite FTS5 (via sqlite-utils).

Any venue writes its knowledge the same way: one or more ``.md`` files, each ``## ``
heading starting one entry (a topic or a question) and the text under it being the fact.
The index is rebuilt only when the files (or the encoder) change, judged by a
fingerprint of their contents, so a kiosk starts in milliseconds on unchanged knowledge.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils

from kiosk.errors import KnowledgeError
from kiosk.knowledge.files import FileLimits, FolderRead, read_folder

SCHEMA_VERSION = "3"


@dataclass(frozen=True)
class Entry:
    id: int
    title: str
    text: str
    file: str

    @property
    def full(self) -> str:
        return f"{self.title}. {self.text}"


_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


def parse_markdown(text: str, file: str) -> list[tuple[str, str]]:
    """(title, fact) pairs: each ``## `` heading and the prose under it, up to the next heading."""
    text = _HTML_COMMENT.sub("", text)
    out: list[tuple[str, str]] = []
    title: str | None = None
    body: list[str] = []

    def close() -> None:
        if title is not None:
            fact = " ".join(" ".join(body).split())
            if fact:
                out.append((title, fact))

    for line in text.splitlines():
        if line.startswith("## "):
            close()
            heading = line[3:].strip()
            title, body = (heading or None), []  # an empty heading starts no entry
        elif line.startswith("###"):
            if title is not None:
                body.append(line.lstrip("#").strip() + ":")  # a sub-heading stays in its entry
        elif line.startswith("#"):
            close()
            title, body = None, []
        elif title is not None:
            body.append(line.strip().lstrip("-*").strip() if line.strip().startswith(("- ", "* ")) else line)
    close()
    return out


def load_entries(
    folder: Path, limits: FileLimits | None = None, read: FolderRead | None = None
) -> list[tuple[str, str, str]]:
    """(title, fact, file name) of every entry; the files are read by files.read_folder."""
    read = read if read is not None else read_folder(folder, limits)
    entries = []
    for f in read.files:
        entries += [(t, fact, f.path.name) for t, fact in parse_markdown(f.text, f.path.name)]
    if not entries:
        skipped = f" ({len(read.skipped)} file(s) skipped: {read.skipped[0].message})" if read.skipped else ""
        raise KnowledgeError(
            "knowledge.empty",
            f"no entries found in {folder}{skipped}",
            "add .md files where each '## Heading' is followed by the fact",
        )
    return entries


def fingerprint(
    folder: Path, encoder_version: str, limits: FileLimits | None = None, read: FolderRead | None = None
) -> str:
    read = read if read is not None else read_folder(folder, limits)
    return read.fingerprint(f"{SCHEMA_VERSION}|{encoder_version}")


class KnowledgeIndex:
    """The SQLite side: entries, their FTS5 table and stored embeddings."""

    def __init__(self, db_path: Path | str) -> None:
        self.db_path = db_path
        conn = sqlite3.connect(str(db_path), check_same_thread=False)
        self.db = sqlite_utils.Database(conn)

    def current_fingerprint(self) -> str | None:
        if "meta" not in self.db.table_names():
            return None
        rows = list(self.db.query("select value from meta where key = 'fingerprint'"))
        return rows[0]["value"] if rows else None

    def rebuild(self, entries: list[tuple[str, str, str]], vectors: np.ndarray | None, fp: str) -> None:
        with self.db.conn:
            for name in ("entries_fts", "entries", "meta"):
                self.db.execute(f"drop table if exists [{name}]")
            self.db["entries"].insert_all(
                (
                    {
                        "id": i,
                        "title": title,
                        "text": text,
                        "file": file,
                        "vector": vectors[i].tobytes() if vectors is not None else None,
                    }
                    for i, (title, text, file) in enumerate(entries)
                ),
                pk="id",
                columns={"vector": bytes},
            )
            self.db["entries"].enable_fts(["title", "text"], tokenize="porter", create_triggers=False)
            self.db["meta"].insert({"key": "fingerprint", "value": fp}, pk="key")

    def entries(self) -> list[Entry]:
        return [
            Entry(r["id"], r["title"], r["text"], r["file"])
            for r in self.db.query("select id, title, text, file from entries order by id")
        ]

    def vectors(self) -> np.ndarray | None:
        rows = list(self.db.query("select vector from entries order by id"))
        if not rows or rows[0]["vector"] is None:
            return None
        return np.stack([np.frombuffer(r["vector"], dtype=np.float32) for r in rows])

    def match_ids(self, term: str) -> set[int]:
        """Entries containing ``term`` (porter-stemmed); quoted by sqlite-utils, never raw FTS syntax."""
        quoted = self.db.quote_fts(term)
        if not quoted.strip('" '):
            return set()
        sql = "select rowid from entries_fts where entries_fts match ?"
        return {row[0] for row in self.db.execute(sql, [quoted]).fetchall()}

    def close(self) -> None:
        self.db.conn.close()
