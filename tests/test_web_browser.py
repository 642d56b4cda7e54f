"""A real browser (Debian's chromium, headless, driven by Playwright) asks the kiosk.

The dev CA is trusted the honest way: imported into the NSS database Chromium reads on
Linux ($HOME/.pki/nssdb of a throw-away HOME), with no certificate-error overrides, and
--host-resolver-rules maps kiosk-001.fleet.test to 127.0.0.1 so the browser sends the
real name in SNI and Host. The answer comes from the real LLM and must arrive in pieces.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from playwright import async_api

from tests.web_support import HOST, serving, shared_pki

CHROMIUM = "/usr/bin/chromium"
# No skips: chromium, certutil (libnss3-tools) and playwright come with os-image/install.sh
# test, and a missing one must fail here rather than pass unseen.
pytestmark = [pytest.mark.llm]


def _nss_home(tmp_path: Path, ca_pem: Path) -> Path:
    home = tmp_path / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{db}", "-n", "kiosk dev CA", "-t", "C,,", "-i", str(ca_pem)],
        check=True,
    )
    return home


async def _browser(pw, tmp_path: Path):
    files, _ = shared_pki()
    home = _nss_home(tmp_path, files.ca_cert)
    return await pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        env={**os.environ, "HOME": str(home)},
        args=[
            "--no-sandbox",
            f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",  # Playwright itself gives each launch a fresh --user-data-dir
        ],
    )


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
            assert await page.get_attribute("#question", "aria-describedby") == "status-line"
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
            await page.fill("#question", "Is there a section for kids?")
            await page.press("#question", "Enter")
            await async_api.expect(status_line).to_have_text("Ask another question.", timeout=60_000)
            answer = await page.text_content("#turns li.kiosk .text")
            asked = await page.text_content("#turns li.you .text")
            lengths = await page.evaluate("window.__lengths")
            assert asked == "Is there a section for kids?"
            assert "children" in (answer or "").lower()
            growing = sorted(set(n for n in lengths if n > 0))
            assert len(growing) >= 2, f"the answer did not stream: {lengths}"
            assert problems == [], problems  # no CSP violation, no script error
        finally:
            await browser.close()
