"""One input path: the web checks questions with the Assistant's rule and maps its codes."""

from __future__ import annotations

import asyncio
import json

from kiosk import events as ev
from tests.web_support import serving


async def test_websocket_errors_carry_the_assistants_codes_and_a_cancel_is_an_event():
    async with serving() as s:
        ws = await s.http.ws_connect(f"{s.base}/ws", headers={"Origin": s.base})
        limit = s.assistant.config.session.max_question_chars
        await ws.send_json({"type": "ask", "question": "why " * limit})
        reply = await ws.receive_json()
        assert (
            reply["type"] == "error" and reply["code"] == "input.too-long" and str(limit) in reply["message"]
        )
        await ws.send_json({"type": "ask", "question": " \n\t "})
        assert (await ws.receive_json())["code"] == "input.empty"
        s.handle.state.queue.hold()  # as while the kiosk's own visitor is answered: web questions wait
        await ws.send_json({"type": "ask", "question": "When is storytime?"})
        await asyncio.sleep(0.3)
        await ws.send_json({"type": "cancel"})
        frames = []
        while not frames or frames[-1]["type"] != "answer-cancelled":
            frames.append(await asyncio.wait_for(ws.receive_json(), 10))
        cancelled = ev.from_dict(frames[-1])
        assert isinstance(cancelled, ev.AnswerCancelled) and cancelled.reason == "user" and cancelled.t > 0
        assert cancelled.conversation_id == next(iter(s.handle.state.sessions._sessions.values())).conv.id
        s.handle.state.queue.resume()
        await ws.close()


async def test_a_page_load_creates_no_session_and_a_question_does():
    async with serving() as s:
        async with s.http.get(f"{s.base}/") as r:
            assert r.status == 200 and "kiosk_sid" in r.cookies
        sessions = s.handle.state.sessions
        assert len(sessions) == 0
        ws = await s.http.ws_connect(f"{s.base}/ws", headers={"Origin": s.base})
        assert len(sessions) == 0  # connecting is not asking
        await ws.send_json({"type": "ask", "question": "When is storytime?"})
        async for msg in ws:
            if json.loads(msg.data)["type"] == "answer-done":
                break
        assert len(sessions) == 1
        await ws.close()
