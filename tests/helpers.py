"""Small helpers shared by API tests."""
from __future__ import annotations

import socket

from sqlalchemy import text


def register(client, email: str = "ada@example.com") -> str:
    """Register an account and return its API key."""
    response = client.post("/account/register", json={"email": email})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["api_key"]


def grant(app, email: str, amount_usd: str) -> None:
    """Credit an account through the operator command, as an operator would."""
    result = app.test_cli_runner().invoke(
        args=["credits", "grant", email, amount_usd, "--reason", "test credit"])
    assert result.exit_code == 0, result.output


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def counts(session) -> dict:
    """Row counts of the tables a refused request must not touch."""
    return {table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("jobs", "ledger_transactions", "ledger_entries")}


def data(response) -> dict:
    """A response's JSON with numbers as exact Decimals (money must not pass through float)."""
    import json
    from decimal import Decimal

    return json.loads(response.get_data(), parse_float=Decimal)


def settled(client, job_id: str) -> dict | None:
    """The job's status once it is settled, else None (a wait_for predicate)."""
    body = data(client.get(f"/status/{job_id}"))
    return body if body["settled"] else None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (the moment it is returned)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
