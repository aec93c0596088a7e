"""An MCP server exposing GPU-Bridge's services as tools, calling the HTTP API with a key.

    GPUBRIDGE_BASE_URL=https://... GPUBRIDGE_API_KEY=gpub_... gpubridge-mcp   # stdio

Tools: `run_service` (any catalog service; the catalog is in its description), `job_status`,
`estimate_cost`, `list_services`, `get_balance`. Money comes back as decimal strings.
"""
from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

from mcp.server.mcpserver import MCPServer

from .client import Client
from .errors import GpuBridgeError, JobFailed

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def _plain(value: Any) -> Any:
    """JSON-safe: Decimal money as its exact decimal string."""
    return json.loads(json.dumps(value, default=lambda v: str(v) if isinstance(v, Decimal)
                                 else repr(v)))


def _error(exc: GpuBridgeError) -> dict:
    return {"error": exc.message, "code": exc.code, "hint": exc.hint,
            **{k: v for k, v in exc.body.items() if k in ("available_services", "required_usd",
                                                          "field")}}


def _catalog_text(catalog: dict) -> str:
    lines = []
    for entry in catalog["services"]:
        fields = ", ".join(f"{name}{'' if rules.get('required') else '?'}"
                           for name, rules in entry["input_schema"].items())
        lines.append(f"- {entry['key']}: {entry['name']} (from ${entry['default_cost_usd']}; "
                     f"input: {fields})")
    return "\n".join(lines)


def build_server(client: Client) -> MCPServer:
    """The MCP server for the API behind `client` (the catalog is read once, now)."""
    catalog = client.catalog()
    server = MCPServer("gpubridge", instructions=(
        "Run AI jobs on GPU-Bridge: pick a service with list_services, then run_service. "
        "Jobs are paid from the account's credit; estimate_cost tells the price first."))

    @server.tool(description="Run one GPU-Bridge service and return the finished job "
                             "(output, cost). Services:\n" + _catalog_text(catalog))
    def run_service(service: str, input: dict, wait: bool = True,
                    timeout_seconds: float = 120.0) -> dict:
        try:
            return _plain(client.run(service, input, wait=wait, timeout=timeout_seconds))
        except JobFailed as exc:
            return _plain(exc.job)
        except GpuBridgeError as exc:
            return _plain(_error(exc))

    @server.tool(description="A job's status, progress, output and cost.")
    def job_status(job_id: str) -> dict:
        try:
            return _plain(client.status(job_id))
        except GpuBridgeError as exc:
            return _plain(_error(exc))

    @server.tool(description="Estimated cost of a service in USD (seconds: expected run time).")
    def estimate_cost(service: str, seconds: float | None = None) -> dict:
        try:
            return _plain(client.estimate(service, seconds))
        except GpuBridgeError as exc:
            return _plain(_error(exc))

    @server.tool(description="Every service with its price, models and input fields.")
    def list_services() -> list[dict]:
        return _plain([{key: entry[key] for key in ("key", "name", "family", "description",
                                                      "default_cost_usd", "models",
                                                      "input_schema", "available")}
                       for entry in client.catalog()["services"]])

    @server.tool(description="The account's balance, held credit, daily spend and limit.")
    def get_balance() -> dict:
        try:
            return _plain(client.balance())
        except GpuBridgeError as exc:
            return _plain(_error(exc))

    return server


def main() -> None:
    """`gpubridge-mcp`: serve the tools over stdio."""
    client = Client(os.environ.get("GPUBRIDGE_BASE_URL", DEFAULT_BASE_URL),
                    os.environ.get("GPUBRIDGE_API_KEY"))
    build_server(client).run("stdio")


if __name__ == "__main__":
    main()
