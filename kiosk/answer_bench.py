"""Answer quality on a venue's question set: the runner behind ``kiosk bench answers``.

A question set (``questions.toml``) has three kinds of item:

- ``[[answerable]]`` ``q`` and ``expect`` (substrings, any one of which a right answer
  contains), optionally ``heard``: the same question as a speech recogniser writes it
  (lowercase, no punctuation, small mishearings), scored as its own row;
- ``[[off_topic]]`` ``q``: questions the venue's knowledge does not answer (general
  knowledge, near-domain traps, advice), which must be refused;
- ``[[follow_up]]`` ``first``, ``then`` and ``expect``: ``then`` is asked in the same
  conversation after ``first`` and judged with ``expect``.

Every answer is classed as right, refused, wrong-entry (a fact from the knowledge stated
as the answer to a question it does not answer) or invented (a figure or name the
knowledge does not contain): a refusal costs the visitor a minute, a wrong entry their
afternoon, so the two are never added together.

This module imports only the kiosk API that has not changed for many versions
(``runtime.build``, ``Assistant.start_conversation/ask``, ``AnswerDone``), so the bench
can run it inside an older checkout (``--baseline DIR``) and compare timings with the
present code in the same session.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

_NUMBER = re.compile(r"\d+(?:[.:]\d+)?")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}")


def load_set(path: Path) -> dict[str, list[dict]]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {
        "answerable": list(data.get("answerable", [])),
        "off_topic": list(data.get("off_topic", [])),
        "follow_up": list(data.get("follow_up", [])),
    }


def _quantile(values: list[float], q: int) -> float:
    """The benches' one percentile (kiosk/measure.py), rounded to 0.01 ms."""
    try:
        from kiosk.measure import percentile
    except ImportError:  # an older checkout run as --baseline
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 2) if values else 0.0
    return round(percentile(values, q), 2)


class Judge:
    """Classes an answer against the knowledge it may have come from."""

    def __init__(self, entries_text: str, venue: str) -> None:
        known = f"{entries_text} {venue}"
        self.numbers = set(_NUMBER.findall(known))
        self.words = {w.lower() for w in re.findall(r"[A-Za-z]+", known)}

    def invented(self, text: str) -> bool:
        if any(n not in self.numbers for n in _NUMBER.findall(text)):
            return True
        return any(n.lower() not in self.words for n in _NAME.findall(text))

    def classify(self, outcome: str, text: str, expect: list[str] | None) -> str:
        if outcome in ("refused", "cancelled"):
            return "refused" if outcome == "refused" else "cancelled"
        if expect is not None and _contains(text, expect):
            return "right"
        if outcome == "social":
            return "social"
        return "invented" if self.invented(text) else "wrong-entry"


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("\u2019", "'").split())


def _contains(text: str, expect: list[str]) -> bool:
    t = _norm(text)
    return any(_norm(e) in t for e in expect)


def _defects_module():
    """kiosk/phrasing_defects.py from beside this file: a --baseline checkout may predate it."""
    import importlib.util

    path = Path(__file__).with_name("phrasing_defects.py")
    spec = importlib.util.spec_from_file_location("kiosk_phrasing_defects", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _settled(text: str, question: str, vocab) -> str:
    """"Yes." / "No." when the entry alone settles a yes/no question (the checkout's own
    composer, if it has one), else ""."""
    try:
        from kiosk.knowledge.answer import compose
    except ImportError:
        return ""
    head = compose(text, question, vocab).split(" ", 1)[0]
    return head if head in ("Yes.", "No.") else ""


def _progress(total: int):
    """The bench's progress bar on stderr (kiosk/progress.py), where the checkout has one."""
    try:
        from kiosk.progress import steps
    except ImportError:
        from contextlib import nullcontext

        class _Quiet:
            def advance(self, status: str = "") -> None:
                pass

        return nullcontext(_Quiet())
    return steps("asking", total)


def run(settings: dict[str, Any]) -> dict[str, Any]:
    """Ask every question of the set on a kiosk built from ``settings``; return the figures."""
    from kiosk import events as ev
    from kiosk.config import Config
    from kiosk.runtime import build

    config = Config()
    config.data.dir = settings["data_dir"]
    config.knowledge.path = settings["knowledge"]
    config.venue.name = settings.get("venue_name") or config.venue.name
    with_llm = settings.get("llm", "") != "none"
    if with_llm and settings.get("llm"):
        config.llm.model = settings["llm"]
    qs = load_set(Path(settings["questions"]))
    rt = build(config, with_llm=with_llm, with_sinks=False)
    assistant = rt.assistant
    # Measured as the kiosk answers once its reranker has read the entries; a --baseline
    # checkout runs this file on its own Knowledge, which may predate the reranker.
    wait = getattr(assistant.knowledge, "wait_for_reranker", None)
    if wait is not None:
        wait()
    entries = list(assistant.knowledge.entries)
    judge = Judge(" ".join(e.full for e in entries), config.venue.name)
    rows: list[dict[str, Any]] = []
    check = _defects_module()
    total = sum(1 + bool(i.get("heard")) for i in qs["answerable"]) + len(qs["off_topic"]) + 2 * len(qs["follow_up"])
    bar = None

    def phrasing(conv, question: str, text: str) -> list[str]:
        """Defect classes of an answer the LLM phrased (kiosk/phrasing_defects.py)."""
        sources = conv.turns[-1].sources if conv.turns else ()
        top = [e for e in entries if sources and e.title == sources[0]]
        if not top:
            return []
        others = [e.text for e in entries if e not in top]
        top_text = " ".join(e.text for e in top)
        settled = _settled(top_text, question, assistant.knowledge.vocab) if hasattr(
            assistant.knowledge, "vocab") else ""
        return check.defects(text, question, top_text, others, config.venue.name, settled)

    async def one(conv, question: str, kind: str = "", label: str = "", expect: list | None = None) -> None:
        """Ask; with a ``kind``, judge the answer and record its row (a follow-up's first
        question is only asked, for its context)."""
        closing = await assistant.ask(conv, question)
        if bar is not None:
            bar.advance(question[:40])
        if not kind:
            return
        extra: dict[str, Any] = {}
        if isinstance(closing, ev.AnswerDone):
            outcome, answer, ttft = closing.outcome, closing.text, closing.ttft_ms
            extra["fallback"] = bool(getattr(closing, "fallback", False))
            if outcome == "answered":
                extra["defects"] = phrasing(conv, question, answer)
        else:
            outcome, answer, ttft = "cancelled", getattr(closing, "partial_text", ""), 0.0
        rows.append(
            {
                "kind": kind,
                "q": label or question,
                "outcome": outcome,
                "verdict": judge.classify(outcome, answer, expect),
                "answer": answer,
                "ttft_ms": ttft,
                **extra,
            }
        )

    async def ask_all() -> None:
        for item in qs["answerable"]:
            for kind, text in (("answerable", item["q"]), ("heard", item.get("heard"))):
                if text:
                    await one(assistant.start_conversation("bench"), text, kind, expect=list(item["expect"]))
        for item in qs["off_topic"]:
            await one(assistant.start_conversation("bench"), item["q"], "off_topic")
        for item in qs["follow_up"]:
            conv = assistant.start_conversation("bench")
            await one(conv, item["first"])
            label = f"{item['first']} / {item['then']}"
            await one(conv, item["then"], "follow_up", label, list(item["expect"]))

    try:
        with _progress(total) as bar:
            asyncio.run(ask_all())
    finally:
        llm_name = assistant.llm.name if assistant.llm else "none"
        rt.close()
    return summarise(rows, llm_name, settings["questions"])


def summarise(rows: list[dict[str, Any]], llm_name: str, questions: str) -> dict[str, Any]:
    out: dict[str, Any] = {"questions": questions, "llm": llm_name}
    for kind in ("answerable", "heard", "follow_up", "off_topic"):
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        counts: dict[str, int] = {}
        for r in mine:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        good = "refused" if kind == "off_topic" else "right"
        out[kind] = {
            "n": len(mine),
            good: counts.get(good, 0),
            "share": round(counts.get(good, 0) / len(mine), 3),
            "verdicts": counts,
        }
    wrong = sum(r["verdict"] == "wrong-entry" for r in rows)
    invented = sum(r["verdict"] == "invented" for r in rows)
    out["wrong_entry_stated"] = wrong
    out["invented"] = invented
    out["wrong_entry_per_100"] = round(100 * wrong / len(rows), 2) if rows else 0.0
    ttft = [r["ttft_ms"] for r in rows if r["ttft_ms"]]
    out["first_word_ms"] = {"p50": _quantile(ttft, 50), "p95": _quantile(ttft, 95)}
    by_outcome: dict[str, list[float]] = {}
    for r in rows:
        if r["ttft_ms"]:
            by_outcome.setdefault(r["outcome"], []).append(r["ttft_ms"])
    out["first_word_ms_by_outcome"] = {
        k: {"n": len(v), "p50": _quantile(v, 50), "p95": _quantile(v, 95)}
        for k, v in sorted(by_outcome.items())
    }
    phrased = [r for r in rows if r["outcome"] == "answered"]
    defects: dict[str, int] = {}
    for r in phrased:
        for d in r.get("defects", []):
            defects[d] = defects.get(d, 0) + 1
    out["phrased"] = {
        "n": len(phrased),
        "fallback": sum(bool(r.get("fallback")) for r in phrased),
        "with_defect": sum(bool(r.get("defects")) for r in phrased),
        "defects": dict(sorted(defects.items())),
    }
    out["phrased_answers"] = [
        {k: r.get(k) for k in ("kind", "q", "verdict", "fallback", "defects", "answer")} for r in phrased
    ]
    out["failures"] = [
        {k: (r[k][:200] if k == "answer" else r[k]) for k in ("kind", "q", "outcome", "verdict", "answer")}
        for r in rows
        if r["verdict"] != ("refused" if r["kind"] == "off_topic" else "right")
    ]
    return out


if __name__ == "__main__":  # run inside another checkout: python answer_bench.py SETTINGS_JSON
    print(json.dumps(run(json.loads(sys.argv[1]))))
