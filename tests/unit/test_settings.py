from pathlib import Path

import pytest

from settings import Settings, SettingsError


def test_defaults_are_the_demos() -> None:
    s = Settings.from_env({})
    assert (s.heart_input_topic, s.heart_output_topic) == ("heartinput", "heartoutput")
    assert (s.sentiment_input_topic, s.sentiment_output_topic) == (
        "sentimentinput", "sentimentoutput")
    assert s.broker_url == "kafka://127.0.0.1:9092"
    assert s.bootstrap_servers == "127.0.0.1:9092"
    assert (s.web_host, s.web_port, s.topic_partitions) == ("127.0.0.1", 6066, 4)
    assert s.heart_dlq_topic == "heartinput-dlq"


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
    }
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    message = str(err.value)
    for name in env:
        assert name in message



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
