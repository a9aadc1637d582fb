import re
from pathlib import Path

import pytest

from config.settings import Settings, SettingsError
from transport.topics import Replication


def test_defaults_are_the_demos() -> None:
    s = Settings.from_env({})
    heart, sentiment = s.pipeline("heart"), s.pipeline("sentiment")
    assert (heart.input_topic, heart.output_topic) == ("heartinput", "heartoutput")
    assert (sentiment.input_topic, sentiment.output_topic) == ("sentimentinput", "sentimentoutput")
    assert s.broker_url == "kafka://127.0.0.1:9092"
    assert s.bootstrap_servers == "127.0.0.1:9092"
    assert (s.web_host, s.web_port, s.topic_partitions) == ("127.0.0.1", 6066, 4)
    assert heart.dlq_topic == "heartinput-dlq"


def test_broker_list_accepts_plain_and_faust_forms() -> None:
    s = Settings.from_env({"BROKER_URL": "a:1,kafka://b:2"})
    assert s.broker_url == "kafka://a:1;kafka://b:2"
    assert s.bootstrap_servers == "a:1,b:2"


def test_every_bad_value_is_reported_at_once(tmp_path: Path) -> None:
    env = {
        "WEB_PORT": "seventy",
        "TOPIC_PARTITIONS": "0",
        "HEART_INPUT_TOPIC": "bad topic!",
        "BROKER_URL": "localhost",
        "BATCH_SIZE": "-1",
        "MODEL_DIR": str(tmp_path / "nowhere"),
        "APP_STORE": "redis://x",
        "FETCH_LINGER_MS": "500",
    }
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    message = str(err.value)
    for name in env:
        assert name in message



def test_fetches_linger_two_milliseconds_unless_told() -> None:
    assert Settings.from_env({}).fetch_linger_ms == 2
    assert Settings.from_env({"FETCH_LINGER_MS": "0"}).fetch_linger_ms == 0


def test_sasl_needs_a_user_and_password_and_never_shows_the_password(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"BROKER_SECURITY_PROTOCOL": "sasl_ssl", "BROKER_CA_FILE": "/nope",
                           "BROKER_SASL_MECHANISM": "KERBEROS"})
    message = str(caught.value)
    assert "BROKER_SECURITY_PROTOCOL=SASL_SSL needs BROKER_SASL_USERNAME" in message
    assert "BROKER_CA_FILE='/nope' is not a readable file" in message
    assert "BROKER_SASL_MECHANISM='KERBEROS' must be one of PLAIN" in message
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    s = Settings.from_env({"BROKER_SECURITY_PROTOCOL": "SASL_SSL", "BROKER_CA_FILE": str(ca),
                           "BROKER_SASL_USERNAME": "app", "BROKER_SASL_PASSWORD": "hunter2"})
    assert s.broker_sasl_password == "hunter2" and "hunter2" not in repr(s)


def test_each_pipeline_reads_settings_named_after_it() -> None:
    s = Settings.from_env({"SENTIMENT_MAX_CHARS": "10", "SENTIMENT_PROCESSES": "3",
                           "HEART_OUTPUT_TOPIC": "risks"})
    sentiment = s.pipeline("sentiment")
    assert (sentiment.options, sentiment.processes) == ({"max_chars": 10}, 3)
    assert s.pipeline("heart").output_topic == "risks"
    assert s.pipeline("heart").processes is None  # scored on the loop or in threads


def test_a_new_pipeline_module_gets_its_own_topic_settings() -> None:
    s = Settings.from_env({"PIPELINES": "pipelines.heart, tests.iris_pipeline",
                           "IRIS_INPUT_TOPIC": "flowers"})
    assert [p.name for p in s.pipelines] == ["heart", "iris"]
    iris = s.pipeline("iris")
    assert (iris.input_topic, iris.output_topic, iris.dlq_topic) == (
        "flowers", "irisoutput", "flowers-dlq")


def test_unusable_pipeline_lists_are_refused_with_the_reason() -> None:
    for env, reason in [
        ({"PIPELINES": "pipelines.nothing"}, "'pipelines.nothing' cannot be imported"),
        ({"PIPELINES": "config.settings"}, "has no `pipeline = PipelineSpec(...)`"),
        ({"PIPELINES": "pipelines.heart,pipelines.heart"}, "declare the name 'heart'"),
        ({"SENTIMENT_INPUT_TOPIC": "heartinput"}, "is another pipeline's input topic too"),
        ({"HEART_OUTPUT_TOPIC": "sentimentinput"}, "a pipeline's output may not be an input"),
        ({"SENTIMENT_MAX_CHARS": "0"}, "SENTIMENT_MAX_CHARS=0 is out of range"),
    ]:
        with pytest.raises(SettingsError, match=re.escape(reason)):
            Settings.from_env(env)


@pytest.mark.parametrize(("env", "brokers", "expected"), [
    ({}, 1, (1, None)),
    ({}, 2, (2, None)),
    ({}, 5, (3, 2)),
    ({"TOPIC_REPLICATION_FACTOR": "2"}, 5, (2, None)),
    ({"TOPIC_MIN_INSYNC_REPLICAS": "3"}, 3, (3, 3)),
])
def test_replication_follows_the_cluster_unless_set(env: dict[str, str], brokers: int,
                                                    expected: tuple[int, int | None]) -> None:
    replication = Replication.for_cluster(Settings.from_env(env), brokers)
    assert (replication.factor, replication.min_insync) == expected


def test_worker_names_itself_by_host_and_port_unless_told() -> None:
    assert Settings.from_env({}).group_instance_id(5001).endswith("-5001")
    assert Settings.from_env({"WORKER_ID": "blue-1"}).group_instance_id(5001) == "blue-1"
    with pytest.raises(SettingsError, match="WORKER_ID"):
        Settings.from_env({"WORKER_ID": "has spaces"})


def test_web_token_is_never_shown() -> None:
    assert "s3cret" not in repr(Settings.from_env({"WEB_AUTH_TOKEN": "s3cret"}))
