import orjson

from web.monitor import GlobalView, Monitor, PipelineTopics


def _record(key: str, value: int | None) -> tuple[bytes, bytes | None]:
    return orjson.dumps(key), None if value is None else orjson.dumps(value)


def test_newest_changelog_value_wins_and_tombstones_delete() -> None:
    view = GlobalView()
    for key, value in [("heart:Risk of Heart Disease", 3), ("heart:dead_letter", 1),
                       ("heart:Risk of Heart Disease", 7), ("sentiment:Positive Sentiment", 2),
                       ("sentiment:Positive Sentiment", None)]:
        view.apply(*_record(key, value))
    assert view.totals == {"heart:Risk of Heart Disease": 7, "heart:dead_letter": 1}
    assert view.pipeline_totals() == {"heart": 8}


def test_rate_is_over_the_sampled_window() -> None:
    view = GlobalView()
    view.apply(*_record("heart:x", 100))
    view.sample(1000.0, 1000.0)
    view.apply(*_record("heart:x", 400))
    view.sample(1010.0, 1010.0)
    assert view.rate("heart") == 30.0
    view.sample(1100.0, 1100.0)  # the first samples fall out of the one-minute window
    assert view.rate("heart") == 0.0
    assert view.rate("sentiment") == 0.0


def test_history_keeps_a_rate_per_ten_second_slot() -> None:
    view = GlobalView()
    view.apply(*_record("heart:x", 0))
    for second in range(0, 31):
        view.apply(*_record("heart:x", 0 if second < 10 else 50 * (second - 10)))
        view.sample(float(second), 2000.0 + second)
    # slots start at 2000, 2010, 2020, 2030: idle, then 50 events/s
    assert view.rates("heart") == {2000: 0.0, 2010: 50.0, 2020: 50.0}
    view.apply(*_record("heart:shadow:v2:agreed", 10**6))  # shadow counts are no events
    assert view.pipeline_totals() == {"heart": 1000}


def test_snapshot_splits_labels_dead_letters_and_lag() -> None:
    monitor = Monitor(bootstrap="unused:9092", group_id="g", changelog_topic="c",
                      pipelines=[PipelineTopics("heart", "hi", "ho", "hi-dlq"),
                                 PipelineTopics("sentiment", "si", "so", "si-dlq")])
    monitor.view.apply(*_record("heart:Risk of Heart Disease", 5))
    monitor.view.apply(*_record("heart:dead_letter", 2))
    monitor.view.lag = {"heart": {0: 3, 1: 0}}
    snap = monitor.snapshot()
    assert snap["heart"]["labels"] == {"Risk of Heart Disease": 5}
    assert (snap["heart"]["dead_letters"], snap["heart"]["total"]) == (2, 7)
    assert snap["heart"]["lag"] == {"0": 3, "1": 0} and snap["heart"]["lag_total"] == 3
    assert snap["sentiment"]["total"] == 0 and snap["sentiment"]["topics"]["dlq"] == "si-dlq"
