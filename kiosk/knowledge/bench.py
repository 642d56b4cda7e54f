"""``kiosk bench knowledge``: how long indexing a large knowledge folder takes.

Writes ``--runs`` x 1,000 one-entry files (3,000 by default) to a scratch folder and
indexes them the way the kiosk does (files.read_folder, the batched MiniLM encoder, the
FTS5 index), timing wall clock and CPU; beside it, the same encoder one text at a time
on a sample, the path the index took before batching, for the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kiosk.config import Config


def _write_folder(folder: Path, n: int) -> None:
    for i in range(n):
        (folder / f"entry-{i:05d}.md").write_text(
            f"## Room {i}\nRoom {i} is open from 9am to 5pm on weekdays and has {i % 7} computers "
            "that visitors may use free of charge.\n",
            "utf-8",
        )


def bench(args: argparse.Namespace, config: Config) -> dict:
    from kiosk.knowledge.embed import MiniLMEncoder
    from kiosk.knowledge.retrieve import Knowledge

    n = 1000 * max(1, args.runs)
    out: dict = {"entries": n}
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-knowledge-") as tmp:
        folder = Path(tmp) / "knowledge"
        folder.mkdir()
        _write_folder(folder, n)
        steps: list[str] = []
        wall, cpu = time.perf_counter(), time.process_time()
        k = Knowledge.open(folder, Path(tmp) / "k.db", use_embeddings=True, progress=steps.append)
        out["index_wall_s"] = round(time.perf_counter() - wall, 1)
        out["index_cpu_s"] = round(time.process_time() - cpu, 1)
        out["indexed"] = len(k.entries)
        out["progress_messages"] = len(steps)
        k.index.close()
        encoder = MiniLMEncoder()
        sample = [f"Room {i}. Room {i} is open from 9am to 5pm on weekdays." for i in range(64)]
        cpu = time.process_time()
        encoder.encode(sample)
        batched = (time.process_time() - cpu) / len(sample)
        cpu = time.process_time()
        for text in sample:
            encoder._encode_batch([encoder.tokenizer.encode(text).ids])
        single = (time.process_time() - cpu) / len(sample)
        out["encode_cpu_ms_per_entry_batched"] = round(batched * 1000, 1)
        out["encode_cpu_ms_per_entry_one_at_a_time"] = round(single * 1000, 1)
        out["batching_speedup"] = round(single / batched, 2) if batched else None
    return out
