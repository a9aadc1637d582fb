import asyncio
import gzip
import io
from pathlib import Path
from typing import Any

import orjson

from agents.replay_source import Progress, paced, read_messages
from pipelines import heart, sentiment
from pipelines.spec import Examples, PipelineSpec
from schemas.heart import decode_heart_event
from schemas.sentiment import decode_review


def _examples(spec: PipelineSpec[Any]) -> Examples:
    assert spec.examples is not None
    return spec.examples


HEART = _examples(heart.pipeline)
SENTIMENT = _examples(sentiment.pipeline)


def test_shipped_examples_are_valid_inputs() -> None:
    patients = read_messages(HEART)
    reviews = read_messages(SENTIMENT)
    assert len(patients) == 300 and len(reviews) == 60
    assert all(decode_heart_event(m) for m in patients)
    assert all(decode_review(m).text for m in reviews)


def test_heart_csv_rows_become_demo_json_without_target(tmp_path: Path) -> None:
    path = tmp_path / "p.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("age,sex,oldpeak,target\n60,1,2.5,1\n")
    [message] = read_messages(HEART, path)
    assert orjson.loads(message) == {"age": 60, "sex": 1, "oldpeak": 2.5}


def test_sentiment_text_files_send_one_review_per_line(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text("Great film\n\nAwful film\n")
    assert read_messages(SENTIMENT, path) == [b"Great film", b"Awful film"]


def test_progress_bar_reaches_the_total() -> None:
    out = io.StringIO()
    progress = Progress(4, out=out, width=4)
    progress.close(4)
    assert "[####] 4/4" in out.getvalue()


def test_paced_releases_at_the_rate() -> None:
    async def run() -> tuple[list[int], float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen = [i async for i in paced(5, rate=100)]
        return seen, loop.time() - started

    seen, elapsed = asyncio.run(run())
    assert seen == [0, 1, 2, 3, 4]
    assert elapsed >= 0.04  # five messages at 100/s span at least four intervals
