"""What a web visitor's page shows again after a reload: their own questions and answers.

The session (cookie) outlives a reload, and so does the conversation in the Assistant;
the page did not. This subscriber keeps, per web conversation, the lines the page had
shown, including answers that were stopped (marked so), and forgets them when the
Assistant resets that conversation (idle, start over, eviction), so it never holds
more than the Assistant itself remembers of a visitor.
"""

from __future__ import annotations

from kiosk import events as ev
from kiosk import wording

MAX_TURNS = 50


class Transcripts:
    def __init__(self) -> None:
        self._web: set[str] = set()
        self._turns: dict[str, list[dict]] = {}

    def __call__(self, event: ev.Event) -> None:
        cid = event.conversation_id
        if isinstance(event, ev.ConversationStarted):
            if event.source == "web":
                self._web.add(cid)
            return
        if cid not in self._web:
            return
        if isinstance(event, ev.ConversationReset):
            self._turns.pop(cid, None)
            self._web.discard(cid)  # a reset conversation is never shown again
        elif isinstance(event, ev.QuestionReceived):
            turns = self._turns.setdefault(cid, [])
            turns.append({"question": event.text, "answer": "", "state": "answering", "note": ""})
            del turns[:-MAX_TURNS]
        elif isinstance(event, ev.AnswerToken) and self._turns.get(cid):
            self._turns[cid][-1]["answer"] += event.text
        elif isinstance(event, ev.AnswerDone) and self._turns.get(cid):
            self._turns[cid][-1].update(answer=event.text, state="done")
        elif isinstance(event, ev.AnswerCancelled) and self._turns.get(cid):
            self._turns[cid][-1].update(
                answer=event.partial_text, state="stopped", note=wording.stopped(event.reason)
            )

    def turns(self, conversation_id: str) -> list[dict]:
        return [dict(t) for t in self._turns.get(conversation_id, [])]
