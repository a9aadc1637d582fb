"""How every Kafka client of the app connects: TLS and SASL, as the settings say.

Faust's own clients get `broker_credentials`; the app's other clients (output producer,
topic admin, dashboard consumer, replay producer) get the same options through Faust's
own translation, so all of them connect the same way.
"""

from __future__ import annotations

import ssl
from typing import Any

import faust
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import CredentialsT

from config.settings import Settings


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verify the brokers against BROKER_CA_FILE, or the system's trusted CAs."""
    cafile = str(settings.broker_ca_file) if settings.broker_ca_file else None
    return ssl.create_default_context(cafile=cafile)


def broker_credentials(settings: Settings) -> CredentialsT | None:
    """Faust's credentials for the configured protocol; None for PLAINTEXT."""
    protocol = settings.broker_security_protocol
    if protocol == "SSL":
        return faust.SSLCredentials(_ssl_context(settings))
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.broker_sasl_username, password=settings.broker_sasl_password,
            mechanism=settings.broker_sasl_mechanism,
            ssl_context=_ssl_context(settings) if protocol == "SASL_SSL" else None)
    return None


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments that make an aiokafka client connect like the worker does."""
    credentials = broker_credentials(settings)
    return dict(credentials_to_aiokafka_auth(credentials)) if credentials else {}
