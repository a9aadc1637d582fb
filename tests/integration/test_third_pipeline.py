"""A third pipeline, declared in one module of its own, runs through a real worker.

Nothing in the app names it: the worker is told about it by the `PIPELINES` setting,
gets its topics from `IRIS_*` settings derived from its name, and its model (a forest
trained here on the iris data scikit-learn ships) from `MODEL_DIR`.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections import Counter
from pathlib import Path

from playwright.async_api import async_playwright
from sklearn.datasets import load_iris

from config.settings import DEFAULT_MODEL_DIR
from tests import iris_pipeline
from tests.integration.conftest import ROOT, make_worker
from tests.integration.kafka_io import keyed, produce, read_until, wait_for
from tests.integration.test_browser import CHROMIUM_ARGS

BAD_FLOWERS = [(b"petals", "not JSON"),
               (b'{"sepal length": 5.1}', '"sepal width" must be a length in centimetres'),
               (iris_pipeline.message([5.1, 3.5, -1.4, 0.2]),
                '"petal length" must be a length in centimetres, got -1.4')]


def _models(folder: Path) -> Path:
    for name in ("heart.joblib", "heart.json", "sentiment.joblib", "sentiment.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, folder / name)
    return folder


async def test_a_third_pipeline_answers_dead_letters_counts_and_shows(
        bootstrap: str, tmp_path: Path) -> None:
    forest = iris_pipeline.train(_models(tmp_path))
    run = uuid.uuid4().hex[:6]
    worker = make_worker(
        bootstrap, tmp_path, "iris", MODEL_DIR=str(tmp_path), PYTHONPATH=str(ROOT),
        PIPELINES="pipelines.heart,pipelines.sentiment,tests.iris_pipeline",
        IRIS_INPUT_TOPIC=f"irisinput-{run}", IRIS_OUTPUT_TOPIC=f"irisoutput-{run}")
    iris = worker.settings.pipeline("iris")
    x, species = load_iris(return_X_y=True)
    flowers = [(f"{run}-{i}".encode(), iris_pipeline.message(row)) for i, row in enumerate(x)]
    bad = [(f"{run}-bad-{i}".encode(), raw) for i, (raw, _) in enumerate(BAD_FLOWERS)]
    worker.start()
    try:
        await produce(bootstrap, iris.input_topic, flowers + bad)
        keys = {k for k, _ in flowers}
        answers = keyed(await read_until(bootstrap, iris.output_topic,
                                         lambda rs: len(keyed(rs, keys)) >= len(keys)), keys)
        expected = dict(zip((k for k, _ in flowers),
                            (iris_pipeline.SPECIES[c] for c in forest.predict(x)), strict=True))
        assert {r.key: r.value.decode() for r in answers} == expected
        right = sum(iris_pipeline.SPECIES[truth] == expected[key]
                    for (key, _), truth in zip(flowers, species, strict=True))
        assert right >= 0.95 * len(flowers)

        bad_keys = {k for k, _ in bad}
        dead = keyed(await read_until(bootstrap, iris.dlq_topic,
                                      lambda rs: len(keyed(rs, bad_keys)) >= len(bad)), bad_keys)
        reasons = {r.key: dict(r.headers)["error.reason"].decode() for r in dead}
        for (key, _), (_, reason) in zip(bad, BAD_FLOWERS, strict=True):
            assert reasons[key].startswith(reason)

        per_label = dict(Counter(expected.values()))
        await wait_for(lambda: worker.stats()["pipelines"]["iris"]["labels"] == per_label
                       and worker.stats()["pipelines"]["iris"]["dead_letters"] == len(bad),
                       f"/stats to count {per_label} and {len(bad)} dead letters")
        model = worker.stats()["pipelines"]["iris"]["model"]
        assert (model["file"], model["runs_in"]) == ("iris.joblib", "thread executor")
        total = len(flowers) + len(bad)
        assert re.search(rf'inference_events_in_total{{pipeline="iris"}} {total}\.0',
                         worker.page("/metrics"))
        await _dashboard_shows(worker.web_port, str(total))
    finally:
        worker.stop()


async def _dashboard_shows(port: int, total: str) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: `make test` installs it"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.wait_for_function(
            f"document.querySelector('[data-testid=\"iris-total\"]')?.textContent === '{total}'",
            timeout=60_000)
        assert "setosa" in (await page.locator("#pipeline-iris").text_content() or "")
        await browser.close()

