import logging

from transport.log_limits import RepeatLimiter


def _record(name: str, msg: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_repeats_are_held_back_and_counted() -> None:
    limiter = RepeatLimiter(interval_s=3600)
    assert limiter.filter(_record("aiokafka", "Unable connect to node %s"))
    assert not any(limiter.filter(_record("aiokafka", "Unable connect to node %s"))
                   for _ in range(100))
    assert limiter.filter(_record("aiokafka.conn", "Unable connect to node %s"))  # other logger
    limiter.interval_s = 0
    again = _record("aiokafka", "Unable connect to node %s")
    assert limiter.filter(again) and "(100 more like this" in again.msg


def test_other_loggers_and_info_pass_untouched() -> None:
    limiter = RepeatLimiter(interval_s=3600)
    assert all(limiter.filter(_record("agents.scoring", "dead-lettering %s")) for _ in range(5))
    assert all(limiter.filter(_record("aiokafka", "joined", logging.INFO)) for _ in range(5))
