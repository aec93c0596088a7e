"""The MCP server, through the mcp package's in-process client, against the real API."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from gpubridge import Client
from gpubridge.mcp_server import build_server
from tests.helpers import grant, register
from tests.integration.live import live_server  # noqa: F401  (fixture)
from tests.needs import require_module


def _call(server, name: str, arguments: dict | None = None):
    from mcp import Client as McpClient

    async def go():
        async with McpClient(server) as session:
            tools = await session.list_tools()
            result = await session.call_tool(name, arguments or {})
            return tools, result
    return asyncio.run(go())


def _payload(result) -> dict | list:
    assert not result.is_error, result
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if isinstance(content, dict) else content
    return json.loads(result.content[0].text)


def test_tools_list_the_catalog_and_run_a_job(app, client, live_server, worker):
    require_module("tokenizers")
    key = register(client, "mcp@example.com")
    grant(app, "mcp@example.com", "2")
    server = build_server(Client(live_server, key))
    tools, result = _call(server, "run_service",
                          {"service": "embedding-l4", "input": {"text": "hello"}})
    names = {tool.name for tool in tools.tools}
    assert {"run_service", "job_status", "estimate_cost", "list_services",
            "get_balance"} <= names
    run_tool = next(t for t in tools.tools if t.name == "run_service")
    assert "embedding-l4" in run_tool.description and "pdf-parse" in run_tool.description
    job = _payload(result)
    assert job["status"] == "completed" and job["output"]["dimensions"] == 384
    _, balance = _call(server, "get_balance")
    assert Decimal(_payload(balance)["balance"]) == Decimal("2") - Decimal(job["cost_usd"])


def test_tool_errors_carry_the_api_error(client, live_server):
    server = build_server(Client(live_server, register(client, "mcp-broke@example.com")))
    _, unknown = _call(server, "run_service", {"service": "nope", "input": {}})
    assert _payload(unknown)["code"] == "unknown_service"
    assert "embedding-l4" in _payload(unknown)["available_services"]
    # embedding-l4's local backend is a Python dependency: a refusal for credit, not for a
    # missing system tool (tts-l4 would be no_backend where espeak-ng is not installed).
    _, short = _call(server, "run_service",
                     {"service": "embedding-l4", "input": {"text": "hi"}})
    assert _payload(short)["code"] == "insufficient_credits"
    assert _payload(short)["required_usd"] == "0.01"
    _, estimate = _call(server, "estimate_cost", {"service": "tts-l4"})
    assert _payload(estimate)["estimated_cost_usd"] == "0.02"


def test_gpubridge_mcp_command_serves_over_stdio(client, live_server):
    import os
    import sys

    from mcp import Client as McpClient
    from mcp import StdioServerParameters

    key = register(client, "mcp-stdio@example.com")
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "gpubridge.mcp_server"],
        env={**os.environ, "GPUBRIDGE_BASE_URL": live_server, "GPUBRIDGE_API_KEY": key})

    async def go():
        async with McpClient(params) as session:
            names = {tool.name for tool in (await session.list_tools()).tools}
            return names, await session.call_tool("get_balance", {})
    names, balance = asyncio.run(go())
    assert "run_service" in names
    assert Decimal(_payload(balance)["balance"]) == 0
