"""`faust -A app acls User:<name> [--apply --command-config admin.properties]`.

Prints the `kafka-acls` commands that give a worker's Kafka user what it needs and nothing
more (`transport.acls`); with --apply, runs them with Kafka's own tool from the fetched
jars (`broker/bin/kafka-acls`), as the administrator the command config names.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import click

from app import app
from transport.acls import worker_grants

KAFKA_ACLS = Path(__file__).resolve().parents[1] / "broker" / "bin" / "kafka-acls"


@app.command(
    click.argument("principal"),
    click.option("--apply", is_flag=True, help="add the ACLs now (needs --command-config)"),
    click.option("--command-config", type=click.Path(exists=True, dir_okay=False),
                 help="Kafka client properties of an administrator (SASL login)"),
)
async def acls(self: object, principal: str, apply: bool, command_config: str | None) -> None:
    """Print (or apply) the least-privilege ACLs of a worker's Kafka user."""
    if not principal.startswith("User:"):
        raise click.UsageError(f"{principal!r}: name a Kafka principal, e.g. User:app")
    if apply and not command_config:
        raise click.UsageError("--apply needs --command-config (an administrator's login)")
    admin = ["--command-config", command_config or "admin.properties"]
    for grant in worker_grants(app.settings):
        command = ["kafka-acls", "--bootstrap-server", app.settings.bootstrap_servers, *admin,
                   *grant.arguments(principal)]
        print(shlex.join(command))
        if apply:
            done = subprocess.run([str(KAFKA_ACLS), *command[1:]], capture_output=True,
                                  text=True, timeout=120)
            if done.returncode != 0:
                raise click.ClickException(f"kafka-acls failed:\n{done.stdout}{done.stderr}")
