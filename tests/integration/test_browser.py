"""The dashboard in headless Chromium: its numbers follow the stream without a reload."""

from __future__ import annotations

import re
import shutil
import uuid

import pytest
from playwright.async_api import async_playwright

from models.artifacts import sha256_file
from tests.examples import fixture_reviews, heart_record
from tests.integration.conftest import OUTPUT, ROOT, make_worker
from tests.integration.kafka_io import produce, wait_for
from tests.poison_model import odd_age_candidate

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SCREENSHOT = OUTPUT / "dashboard.png"



async def test_dashboard_numbers_reach_what_was_sent(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: `make test` installs it"
    tmp = tmp_path_factory.mktemp("browser")
    candidate = odd_age_candidate(tmp / "candidate")
    worker = make_worker(bootstrap, tmp, "browser", PYTHONPATH=str(ROOT))
    worker.start()
    version = sha256_file(candidate)[:12]
    try:
        for args in (["publish", "heart", str(candidate)], ["shadow", "heart", version]):
            done = worker.command("artifacts", *args)
            assert done.returncode == 0, done.stderr
        # The command returns once the change is on the artifacts topic; the worker loads
        # the shadow after that, and events scored before it are not compared.
        await wait_for(lambda: (worker.stats()["pipelines"]["heart"]["shadow"] or {})
                       .get("version") == version, "the worker to shadow the candidate")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1300, "height": 900})
            await page.goto(f"http://127.0.0.1:{worker.web_port}/")
            total = page.locator('[data-testid="heart-total"]')
            await page.wait_for_function(
                "document.querySelector('[data-testid=\"heart-total\"]')?.textContent === '0'")

            s = worker.settings
            heart_pipe = s.pipeline("heart")
            sentiment_pipe = s.pipeline("sentiment")
            run = uuid.uuid4().hex[:6]
            await produce(bootstrap, heart_pipe.input_topic,
                          [(f"{run}-{i}".encode(), heart_record(i)) for i in range(150)]
                          + [(f"{run}-bad-{i}".encode(), b"{oops") for i in range(10)])
            reviews = fixture_reviews()
            await produce(bootstrap, sentiment_pipe.input_topic,
                          [(f"{run}-r{i}".encode(), reviews[i][0].encode()) for i in range(40)])

            for testid, expected in [("heart-total", "160"), ("heart-dead", "10"),
                                     ("sentiment-total", "40"), ("sentiment-dead", "0")]:
                await page.wait_for_function(
                    f"document.querySelector('[data-testid=\"{testid}\"]')"
                    f"?.textContent === '{expected}'", timeout=90_000)
            assert await total.text_content() == "160"
            assert "live" in (await page.locator("#status").text_content() or "")
            assert "at-least-once" in (await page.locator("#guarantee").text_content() or "")
            # Shadow agreement, the drift table, reject reasons and the latency chart.
            await page.wait_for_function(
                "document.querySelector('[data-testid=\"heart-shadow\"]')"
                "?.textContent.includes('of 150')", timeout=30_000)
            shadow = await page.locator('[data-testid="heart-shadow"]').text_content() or ""
            assert "agreement" in shadow and "%" in shadow, shadow
            drift = await page.locator('[data-testid="heart-drift"]').text_content() or ""
            assert "cholesterol" in drift and "Risk of Heart Disease" in drift, drift
            reasons = await page.locator('[data-testid="heart-reasons"]').text_content() or ""
            assert "not JSON" in reasons and "10" in reasons, reasons
            p99 = await page.locator("#pipeline-heart .history svg").nth(1).text_content() or ""
            assert re.search(r"p99 latency \(this worker\): [\d,.]+ ms", p99), p99
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
            await browser.close()
    finally:
        worker.stop()
    assert SCREENSHOT.stat().st_size > 10_000
