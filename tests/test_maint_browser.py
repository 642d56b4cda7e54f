"""The technician's phone page at /maint, in a real browser over real TLS.

Debian's chromium (headless, Playwright) trusts the dev CA through its NSS database, as
in test_web_browser.py; the kiosk web server, argon2, the lockout store, the settings
writer and the health checks are the real ones. The voice loop whose volume the phone
changes is the real VoiceLoop with the configured engines (never started: no microphone).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from maint_support import PIN, maint_server
from playwright import async_api

from kiosk import config as config_mod
from kiosk.maint.live import parts_for
from kiosk.speech import engines, sinks, sources
from kiosk.speech.pipeline import VoiceLoop
from tests.web_support import launch_browser

PHONE = {"width": 360, "height": 740}


def _problems(page) -> list[str]:
    """Script errors and CSP violations (a 401 the page expects is not one)."""
    seen: list[str] = []
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: seen.append(m.text)
        if m.type == "error" and "Failed to load resource" not in m.text
        else None,
    )
    return seen


async def _shot(page, name: str) -> None:
    """With KIOSK_SHOTS=DIR, a full-page screenshot for people to look at."""
    if os.environ.get("KIOSK_SHOTS"):
        await page.screenshot(path=str(Path(os.environ["KIOSK_SHOTS"]) / name), full_page=True)


async def _pin(page, pin: str) -> None:
    await page.fill("#pin", pin)
    await page.press("#pin", "Enter")


async def test_phone_logs_in_sees_health_and_changes_the_volume_live(tmp_path):
    async with maint_server(tmp_path) as m, async_api.async_playwright() as pw:
        voice = VoiceLoop(
            m.rt.assistant, engines.build_front_end(m.config.speech), sources.PcmSource(b""), None,
            sinks.NullSink(speed=0), volume=m.config.speech.volume,
        )  # fmt: skip
        parts_for(m.rt.assistant).voice = voice
        browser = await launch_browser(pw, tmp_path)
        try:
            page = await browser.new_page(viewport=PHONE)
            problems = _problems(page)
            response = await page.goto(f"{m.base}/maint")
            assert response is not None and response.ok
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert response.headers["cache-control"] == "no-store"
            # the PIN form: labelled, numeric keypad, nothing remembered; focus is already in it
            pin = page.locator("#pin")
            await async_api.expect(pin).to_be_visible()
            await async_api.expect(page.locator("#panel")).to_be_hidden()
            assert await pin.get_attribute("inputmode") == "numeric"
            assert await pin.get_attribute("autocomplete") == "off"
            assert await page.locator("label[for=pin]").count() == 1
            await async_api.expect(pin).to_be_focused()

            # a wrong PIN, typed on the keyboard
            await page.keyboard.type("739104")
            await page.keyboard.press("Enter")
            message = page.locator("#message")
            await async_api.expect(message).to_have_text("Wrong PIN.")
            await async_api.expect(page.locator("#panel")).to_be_hidden()

            # the right one: health with real values from this machine
            await page.keyboard.type(PIN)
            await page.keyboard.press("Enter")
            await async_api.expect(page.locator("#panel")).to_be_visible()
            memory = page.locator("#health tbody tr", has_text="memory")
            await async_api.expect(memory).to_contain_text(re.compile(r"[\d,]+ MiB available of [\d,]+ MiB"))
            await async_api.expect(page.locator("#health tbody tr", has_text="maint PIN")).to_contain_text("OK")
            await async_api.expect(page.locator("#log")).to_contain_text("Chain check")

            # every setting has a label; the live volume is shown as it is
            volume = page.locator("#set-speech-volume")
            await async_api.expect(volume).to_have_value("1")
            inputs = page.locator("#settings-fields input")
            assert await inputs.count() == 8
            for i in range(await inputs.count()):
                iid = await inputs.nth(i).get_attribute("id")
                assert await page.locator(f"label[for='{iid}']").count() == 1, iid
            await async_api.expect(page.locator("label[for=set-knowledge-path]")).to_contain_text("after a restart")
            # narrow screen: nothing wider than the phone
            assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

            # keyboard: from the last field Tab reaches Save
            await page.focus("#set-knowledge-path")
            await page.keyboard.press("Tab")
            await async_api.expect(page.locator("#settings-save")).to_be_focused()
            # change the volume from the phone (Enter saves): written, and applied to the running voice
            await volume.fill("0.4")
            await volume.press("Enter")
            result = page.locator("#settings-result")
            await async_api.expect(result).to_contain_text("Applied now: speech.volume")
            await _shot(page, "maint-phone.png")
            assert voice.volume == 0.4 and m.config.speech.volume == 0.4
            assert config_mod.load(m.config_file).speech.volume == 0.4
            # a value the kiosk would refuse is refused, with the key named, and nothing changes
            await volume.fill("7")
            await page.click("#settings-save")
            await async_api.expect(result).to_contain_text(re.compile(r"Not saved: .*speech\.volume"))
            assert voice.volume == 0.4 and config_mod.load(m.config_file).speech.volume == 0.4

            # a reload keeps the session (the page gets its CSRF token back) and shows the new value
            await page.reload()
            await async_api.expect(page.locator("#set-speech-volume")).to_have_value("0.4")
            await page.click("#reload")
            await async_api.expect(page.locator("#action-result")).to_contain_text("Knowledge reloaded: 32 entries")
            await async_api.expect(page.locator("#restart")).to_be_hidden()  # no restart hook in this process
            await page.click("#logout")
            await async_api.expect(message).to_have_text("Logged out.")
            await async_api.expect(page.locator("#panel")).to_be_hidden()
            async with m.client().get(f"{m.base}/maint/api/health") as r:
                assert r.status == 401
            assert problems == [], problems
        finally:
            await browser.close()


async def test_phone_shows_the_lockout_with_its_retry_time(tmp_path):
    async with maint_server(tmp_path) as m, async_api.async_playwright() as pw:
        browser = await launch_browser(pw, tmp_path)
        try:
            page = await browser.new_page(viewport=PHONE)
            problems = _problems(page)
            await page.goto(f"{m.base}/maint")
            message = page.locator("#message")
            for i, wrong in enumerate(("739104", "739105", "739106", "739107")):
                await _pin(page, wrong)
                await async_api.expect(message).to_have_text("Wrong PIN.")
                assert m.state.gate.state().failures == i + 1
            await _pin(page, "739108")  # the fifth: locked from now on
            await async_api.expect(message).to_have_text(
                re.compile(r"^Wrong PIN\. Too many wrong PINs: locked, try again in \d+ s\.$")
            )
            # the right PIN while locked: refused, and the page says for how long
            await _pin(page, PIN)
            await async_api.expect(message).to_have_text(re.compile(r"^Locked: too many wrong PINs\. Try again in \d+ s\.$"))
            said = int(re.search(r"in (\d+) s", await message.text_content() or "").group(1))
            remaining = m.state.gate.state().remaining_s
            assert 0 < said <= 30 and abs(said - remaining) <= 2, (said, remaining)
            await async_api.expect(page.locator("#login-button")).to_be_disabled()
            await _shot(page, "maint-locked.png")
            await async_api.expect(page.locator("#panel")).to_be_hidden()
            assert problems == [], problems
        finally:
            await browser.close()
