"""The worker on a SASL_SSL listener: certificates made here, PLAIN users, no secret shown."""

from __future__ import annotations

import datetime
import ipaddress
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.examples import DEMO_HEART_LABEL, DEMO_HEART_LINE
from tests.integration.conftest import PrivateBroker, free_port, make_worker
from tests.integration.kafka_io import keyed, produce, read_until

PASSWORD = f"s3cret-{uuid.uuid4().hex}"


def _certificates(folder: Path) -> tuple[Path, Path]:
    """A CA and a broker certificate for 127.0.0.1 it signed: (ca.pem, broker.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_path, broker_path = folder / "ca.pem", folder / "broker.pem"
    ca_path.write_bytes(ca.public_bytes(pem))
    broker_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(pem) + ca.public_bytes(pem))
    return ca_path, broker_path


async def test_worker_over_sasl_ssl_keeps_its_password_to_itself(tmp_path: Path) -> None:
    ca, keystore = _certificates(tmp_path)
    secure_port = free_port()
    extra = tmp_path / "secure.properties"
    extra.write_text("\n".join([
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={keystore}",
        "sasl.enabled.mechanisms=PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config="
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="admin" password="admin-pw" user_app="{PASSWORD}";',
    ]))
    broker = PrivateBroker.create(tmp_path / "kafka",
                                  KAFKA_EXTRA_LISTENER=f"SASL_SSL://127.0.0.1:{secure_port}",
                                  KAFKA_EXTRA_CONFIG=str(extra))
    broker.start()
    worker = make_worker(f"127.0.0.1:{secure_port}", tmp_path, "secure",
                         BROKER_SECURITY_PROTOCOL="SASL_SSL", BROKER_CA_FILE=str(ca),
                         BROKER_SASL_USERNAME="app", BROKER_SASL_PASSWORD=PASSWORD)
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    try:
        worker.start()
        key = f"secure-{uuid.uuid4().hex}".encode()
        # The test's own clients use the broker's plain listener; the worker only knows TLS.
        await produce(broker.bootstrap, heart_pipe.input_topic, [(key, DEMO_HEART_LINE)])
        records = await read_until(broker.bootstrap, heart_pipe.output_topic,
                                   lambda rs: bool(keyed(rs, {key})), timeout=90)
        assert [r.value for r in keyed(records, {key})] == [DEMO_HEART_LABEL.encode()]
        shown = "".join(worker.page(path) for path in ("/", "/stats", "/metrics")).encode()
        assert PASSWORD.encode() not in shown
    finally:
        worker.stop()
        broker.stop()
    assert PASSWORD not in worker.log_path.read_text(errors="replace")
