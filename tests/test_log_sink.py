"""The sink: events in, one sealed record per turn out; faults visible, never raised."""

from __future__ import annotations

import asyncio
import time

import pytest
from log_support import SECRET_Q, config, keypair

from kiosk import events as ev
from kiosk import paths
from kiosk.store import audit, sealed
from kiosk.store.log import LogStore
from kiosk.store.sink import LogSink, active_sink, attach


def turn_events(
    cid, question, *, t=100.0, closing="done", voice=False, outcome="instant", answer="Open 10-4."
):
    out: list[ev.Event] = []
    if voice:
        out.append(ev.WakeDetected(conversation_id=cid, t=t - 2, phrase="hello kiosk", engine="vosk-wake"))
        out.append(ev.TranscriptFinal(conversation_id=cid, t=t - 0.1, text=question, engine="vosk-stt"))
    out.append(ev.QuestionReceived(conversation_id=cid, t=t, text=question, source="kiosk", turn=1))
    out.append(
        ev.AnswerStarted(conversation_id=cid, t=t + 0.01, mode="instant", sources=("Hours",), score=0.9)
    )
    words = answer.split()
    for i, w in enumerate(words):
        out.append(ev.AnswerToken(conversation_id=cid, t=t + 0.02 + i / 100, text=" " + w))
    if closing == "done":
        out.append(ev.AnswerDone(conversation_id=cid, t=t + 0.5, text=answer, outcome=outcome,
                                 engine="knowledge", tokens=0, ttft_ms=20.0, total_ms=500.0))  # fmt: skip
    else:
        out.append(ev.ConversationReset(conversation_id=cid, t=t + 0.3, reason="user"))
        out.append(ev.AnswerCancelled(conversation_id=cid, t=t + 0.4, reason="reset", partial_text=words[0]))
    return out


def make_sink(tmp_path, **log):
    op = keypair(tmp_path)
    sink = LogSink(config(tmp_path, op.path, **log), retry_s=(0.05, 0.05))
    sink.start()
    return sink


def exported(tmp_path):
    key = sealed.load_private_key(tmp_path / "operator.key", None)
    with LogStore(tmp_path / "interactions.db", readonly=True) as s:
        assert audit.verify(s, key).ok
        return list(audit.export(s, key))


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_each_turn_becomes_one_sealed_record(tmp_path):
    sink = make_sink(tmp_path)
    for e in turn_events("c1", "When do you open?", voice=True):
        sink(e)
    for e in turn_events("c2", "What is the quokka policy?", closing="cancel"):
        sink(e)
    for e in turn_events("c3", "Tell me about Mars", outcome="refused", answer="Sorry, I don't know."):
        sink(e)
    sink(ev.Fault(conversation_id="c4", t=1.0, code="input.empty", message="The question is empty."))
    assert sink.flush()
    sink.close()
    rows = exported(tmp_path)
    assert [r["question"] for r in rows] == [
        "When do you open?",
        "What is the quokka policy?",
        "Tell me about Mars",
    ]
    first, cancelled, refused = rows
    assert (first["outcome"], first["mode"], first["answer"]) == ("instant", "instant", "Open 10-4.")
    assert (first["stt_engine"], first["wake_engine"], first["engine"]) == (
        "vosk-stt",
        "vosk-wake",
        "knowledge",
    )
    assert (first["ttft_ms"], first["total_ms"], first["sources"]) == (20.0, 500.0, ["Hours"])
    assert (cancelled["outcome"], cancelled["reason"], cancelled["answer"]) == ("cancelled", "reset", "Open")
    assert cancelled["total_ms"] == pytest.approx(400.0)
    assert cancelled["stt_engine"] == ""
    assert refused["outcome"] == "refused"
    assert sink.status().written == 3 and sink.status().state == "stopped"


def test_pii_is_redacted_by_default_and_counted(tmp_path):
    sink = make_sink(tmp_path)
    for e in turn_events("c1", "mail jo@example.org or call 020 7946 0958"):
        sink(e)
    assert sink.flush()
    assert sink.status().redactions == {"email": 1, "phone": 1}
    sink.close()
    (row,) = exported(tmp_path)
    assert row["question"] == "mail [email] or call [phone]"
    assert row["redactions"] == {"email": 1, "phone": 1}


class Subscribable:
    def __init__(self):
        self.subscribers = []

    def subscribe(self, cb):
        self.subscribers.append(cb)
        return lambda: self.subscribers.remove(cb)


def test_without_a_recipient_logging_is_refused_and_nothing_is_written(tmp_path):
    assistant = Subscribable()
    sink = attach(config(tmp_path), assistant)
    assert assistant.subscribers == []
    st = sink.status()
    assert st.state == "refused" and st.code == "log.no-recipient"
    assert "recipient" in st.detail and "kiosk logs keygen" in st.fix
    for e in turn_events("c1", SECRET_Q):
        sink(e)  # even if called, it keeps nothing
    sink.close()
    assert not (tmp_path / "interactions.db").exists()


def test_attach_subscribes_and_close_unsubscribes(tmp_path):
    op = keypair(tmp_path)
    assistant = Subscribable()
    sink = attach(config(tmp_path, op.path), assistant)
    assert assistant.subscribers == [sink] and active_sink() is sink
    for e in turn_events("c1", "hello"):
        for cb in list(assistant.subscribers):
            cb(e)
    sink.close()
    assert assistant.subscribers == [] and active_sink() is None
    assert len(exported(tmp_path)) == 1


def _fill(sink, n, start=0):
    for i in range(start, start + n):
        for e in turn_events(f"c{i}", f"question {i}", answer="long answer " * 200):
            sink(e)


@pytest.mark.parametrize(
    ("fault_sql", "lift_sql", "code"),
    [
        # SQLITE_FULL: the same error path as a full disk
        ("PRAGMA max_page_count = {pages}", "PRAGMA max_page_count = 1073741823", "log.disk-full"),
        # SQLITE_READONLY: the same error path as a file system remounted read-only
        ("PRAGMA query_only = ON", "PRAGMA query_only = OFF", "log.read-only"),
    ],
)
def test_a_write_fault_is_visible_keeps_turns_and_recovers(tmp_path, fault_sql, lift_sql, code):
    sink = make_sink(tmp_path)
    _fill(sink, 3)
    assert sink.flush()
    conn = sink.store.db.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(fault_sql.format(pages=pages))  # the writer is idle: safe to touch its connection
    _fill(sink, 20, start=3)  # the callbacks return normally although nothing can be written
    assert wait_for(lambda: sink.status().state == "fault")
    st = sink.status()
    assert st.code == code and st.backlog > 0 and st.fix
    with LogStore(tmp_path / "interactions.db", readonly=True) as s:
        assert audit.verify(s).ok and s.db.execute("SELECT count(*) FROM records").fetchone()[0] >= 3
    conn.execute(lift_sql)
    assert sink.flush(10)
    assert sink.status().state == "ok" and sink.status().written == 23 and sink.status().dropped == 0
    sink.close()
    assert [r["question"] for r in exported(tmp_path)] == [f"question {i}" for i in range(23)]


def test_an_unopenable_log_is_a_fault_not_an_exception(tmp_path):
    (tmp_path / "blocker").write_text("a file where the log folder should be")
    op = keypair(tmp_path)
    cfg = config(tmp_path, op.path)
    cfg.log.path = str(tmp_path / "blocker" / "interactions.db")
    sink = LogSink(cfg, retry_s=(0.05, 0.05), max_backlog=5)
    sink.start()
    _fill(sink, 8)
    assert wait_for(lambda: sink.status().state == "fault")
    st = sink.status()
    assert st.code == "log.cannot-open" and st.backlog == 5 and st.dropped == 3
    sink.close(timeout=2)
    assert sink.status().dropped == 8  # told, not hidden: unwritten turns at stop are counted


def test_wired_to_a_real_assistant(tmp_path):
    """The real conductor and the demo knowledge (lexical, no LLM): one record per closing event."""
    import kiosk.assistant as assistant_mod
    from kiosk.knowledge.retrieve import Knowledge

    op = keypair(tmp_path)
    cfg = config(tmp_path, op.path)
    knowledge = Knowledge.open(paths.DEMO_KNOWLEDGE_DIR, tmp_path / "index.db", use_embeddings=False)
    assistant = assistant_mod.Assistant(cfg, knowledge=knowledge, llm=None)
    sink = attach(cfg, assistant)
    closings: list[ev.Event] = []
    assistant.subscribe(
        lambda e: closings.append(e) if isinstance(e, ev.AnswerDone | ev.AnswerCancelled) else None
    )
    questions = ["hello", "When are you open on Saturday?", "How old is the cathedral across town?"]

    async def run():
        conv = assistant.start_conversation("kiosk")
        for q in questions:
            await assistant.ask(conv, q)
        await assistant.ask(conv, "   ")  # refused input: a fault, no turn

    asyncio.run(run())
    sink.close()
    rows = exported(tmp_path)
    expected = [
        (q, c.outcome, c.text) if isinstance(c, ev.AnswerDone) else (q, "cancelled", c.partial_text)
        for q, c in zip(questions, closings, strict=True)
    ]
    assert [(r["question"], r["outcome"], r["answer"]) for r in rows] == expected
    assert all(r["answer"] for r in rows)
