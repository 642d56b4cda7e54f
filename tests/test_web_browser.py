"""A real browser (Debian's chromium, headless, driven by Playwright) asks the kiosk.

The dev CA is trusted the honest way: imported into the NSS database Chromium reads on
Linux ($HOME/.pki/nssdb of a throw-away HOME), with no certificate-error overrides, and
--host-resolver-rules maps kiosk-001.fleet.test to 127.0.0.1 so the browser sends the
real name in SNI and Host. The answer comes from the real LLM and must arrive in pieces.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright import async_api

from tests.web_support import launch_browser as _browser
from tests.web_support import serving

# No skips: chromium, certutil (libnss3-tools) and playwright come with os-image/install.sh
# test, and a missing one must fail here rather than pass unseen.
pytestmark = [pytest.mark.llm]


async def test_browser_asks_and_sees_the_answer_stream(tmp_path):
    async with serving(with_llm=True) as s, async_api.async_playwright() as pw:
        browser = await _browser(pw, tmp_path)
        try:
            page = await browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            response = await page.goto(f"{s.base}/")
            assert response is not None and response.ok
            assert "default-src 'self'" in response.headers["content-security-policy"]
            security = await response.security_details()
            assert security is not None and security["protocol"] in ("TLS 1.2", "TLS 1.3")
            # (expect() polls through selectors: wait_for_function would need 'unsafe-eval')
            status_line = page.locator("#status-line")
            await async_api.expect(status_line).to_have_text(re.compile("^Ready"))

            # keyboard focus order: skip link, question box, Ask (Stop is disabled), status link
            order = []
            for _ in range(4):
                await page.keyboard.press("Tab")
                order.append(
                    await page.evaluate("document.activeElement.id || document.activeElement.textContent")
                )
            assert order[:3] == ["Skip to the question box", "question", "ask"]
            assert await page.get_attribute("#question", "aria-describedby") == "status-line hint"
            assert await page.locator("label[for=question]").count() == 1

            await page.evaluate(
                """() => {
                    window.__lengths = [];
                    new MutationObserver(() => {
                        const a = document.querySelector('#turns li.kiosk .text');
                        if (a) window.__lengths.push(a.textContent.length);
                    }).observe(document.getElementById('turns'),
                               {subtree: true, childList: true, characterData: true});
                }"""
            )
            await page.fill("#question", "How many books can I take out?")
            await page.press("#question", "Enter")
            await async_api.expect(status_line).to_have_text("Ask another question.", timeout=60_000)
            answer = await page.text_content("#turns li.kiosk .text")
            asked = await page.text_content("#turns li.you .text")
            lengths = await page.evaluate("window.__lengths")
            assert asked == "How many books can I take out?"
            assert "12" in (answer or "")  # the entry's "12 items", phrased or shown
            growing = sorted(set(n for n in lengths if n > 0))
            assert len(growing) >= 2, f"the answer did not stream: {lengths}"
            assert problems == [], problems  # no CSP violation, no script error
        finally:
            await browser.close()


VIEWPORTS = [{"width": 390, "height": 844}, {"width": 1280, "height": 800}]


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["phone", "desktop"])
async def test_page_names_the_venue_keeps_the_conversation_and_refuses_long_kindly(tmp_path, viewport):
    async with serving(with_llm=False) as s, async_api.async_playwright() as pw:
        browser = await _browser(pw, tmp_path)
        try:
            page = await browser.new_page(viewport=viewport)
            await page.goto(f"{s.base}/")
            venue = s.rt.config.venue.name
            await async_api.expect(page.locator("h1")).to_have_text(venue)
            assert venue in await page.title()
            examples = page.locator("button.example")
            await async_api.expect(examples.first).to_be_visible(timeout=120_000)  # searched once per start
            assert (await examples.first.text_content() or "").startswith("Tell me about")
            status_line = page.locator("#status-line")
            await async_api.expect(status_line).to_have_text(re.compile("^Ready"))
            await page.evaluate(
                """() => { window.__waited = false;
                    new MutationObserver(() => { if (document.querySelector('#turns .waiting .dots'))
                        window.__waited = true; }).observe(document.getElementById('turns'),
                        {subtree: true, childList: true}); }"""
            )
            # Too long: the limit is said, the text stays, nothing is sent.
            long_q = "When is storytime? " * 30
            await page.fill("#question", long_q)
            await page.press("#question", "Enter")
            hint = page.locator("#hint")
            await async_api.expect(hint).to_be_visible()
            assert "500 characters" in (await hint.text_content() or "")
            assert await page.input_value("#question") == long_q
            assert await page.locator("#turns li").count() == 0
            # An example question is asked with a click, and answered.
            await examples.first.click()
            await async_api.expect(page.locator("#turns li.kiosk .text").first).not_to_be_empty()
            await page.fill("#question", "When is storytime?")
            await page.press("#question", "Enter")
            await async_api.expect(page.locator("#turns li.kiosk .text").nth(1)).to_contain_text("10:30")
            assert await page.evaluate("window.__waited")  # the indicator came before the answer
            await async_api.expect(hint).to_be_hidden()
            # A reload: the session's conversation is still on the page.
            await page.reload()
            await async_api.expect(page.locator("#turns li.you")).to_have_count(2)
            await async_api.expect(page.locator("#turns li.kiosk .text").nth(1)).to_contain_text("10:30")
            await page.screenshot(path=str(tmp_path / f"page-{viewport['width']}.png"), full_page=True)
            shots = Path(os.environ.get("KIOSK_SHOTS", "")) if os.environ.get("KIOSK_SHOTS") else None
            if shots:
                await page.screenshot(path=str(shots / f"page-{viewport['width']}.png"), full_page=True)
        finally:
            await browser.close()


async def test_a_stopped_answer_is_marked_and_stays_marked_after_a_reload(tmp_path):
    async with serving(with_llm=True, knowledge={"instant_threshold": 1.0}) as s, \
            async_api.async_playwright() as pw:
        browser = await _browser(pw, tmp_path)
        try:
            page = await browser.new_page(viewport=VIEWPORTS[0])
            await page.goto(f"{s.base}/")
            await async_api.expect(page.locator("#status-line")).to_have_text(re.compile("^Ready"))
            await s.assistant.gate.acquire(-1, "someone-else")  # the model is busy: the answer waits
            try:
                await page.fill("#question", "Tell me about the meeting room")
                await page.press("#question", "Enter")
                await async_api.expect(page.locator("#turns .waiting")).to_be_visible()
                await async_api.expect(page.locator("#stop")).to_be_enabled()
                await page.click("#stop")
                closing = page.locator("#turns li.kiosk .closing.stopped")
                await async_api.expect(closing).to_have_text("Stopped.", timeout=30_000)
            finally:
                s.assistant.gate.release()
            shots = os.environ.get("KIOSK_SHOTS")
            if shots:
                await page.screenshot(path=str(Path(shots) / "page-stopped.png"), full_page=True)
            await page.reload()
            await async_api.expect(page.locator("#turns li.kiosk .closing.stopped")).to_have_text("Stopped.")
        finally:
            await browser.close()
