"""The official `openai` package, unchanged, against our /v1 endpoints."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.catalog import load_catalog
from billing.money import usd
from billing.pricing import actual_cost
from providers.base import Result, Usage
from tests.helpers import auth, data, grant, register
from tests.integration.live import live_server  # noqa: F401  (fixture)
from tests.needs import require_module

REPLY = "The quick brown fox jumps over the lazy dog, twice over and once more."


class FakeChatBackend:
    """A provider that answers chat with fixed text and exact token counts."""

    name = "groq"

    def __init__(self):
        self.calls = []

    def availability(self, task: str) -> str | None:
        return None if task == "chat" else f"no task {task}"

    def run(self, call):
        self.calls.append(call)
        return Result(output={"text": REPLY}, usage=Usage(input_tokens=1234, output_tokens=56))


@pytest.fixture
def fake_chat(app, monkeypatch):
    fake = FakeChatBackend()
    monkeypatch.setitem(app.extensions["backends"], "groq", fake)
    return fake


@pytest.fixture
def account(app, client):
    key = register(client, "oai@example.com")
    grant(app, "oai@example.com", "5")
    return key


@pytest.fixture
def openai_client(live_server, account):
    require_module("openai")
    import openai

    return openai.OpenAI(base_url=live_server + "/v1", api_key=account, max_retries=0)


def _expected_cost() -> int:
    service = load_catalog().get("llm-4090")
    return actual_cost(service, "llama-3.3-70b-versatile",
                       {"input_tokens": 1234, "output_tokens": 56})


def test_chat_completion_bills_the_exact_usage(client, account, openai_client, fake_chat):
    answer = openai_client.chat.completions.create(
        model="llama-3.3-70b-versatile", max_tokens=100,
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "Say the pangram."}])
    assert answer.choices[0].message.content == REPLY
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1234, 56)
    call = fake_chat.calls[0]
    assert call.model == "llama-3.3-70b-versatile" and call.input["system"] == "Be brief."
    assert call.input["messages"][-1] == {"role": "user", "content": "Say the pangram."}
    job_id = answer.id.removeprefix("chatcmpl-")
    cost = usd(_expected_cost())
    assert cost > 0
    history = data(client.get("/account/jobs", headers=auth(account)))["jobs"]
    assert history[0]["job_id"].replace("-", "") == job_id and history[0]["cost_usd"] == cost
    balance = data(client.get("/account/balance", headers=auth(account)))
    assert balance["balance"] == Decimal("5") - cost and balance["held"] == 0


def test_chat_stream_sends_chunks_and_usage(account, openai_client, fake_chat):
    stream = openai_client.chat.completions.create(
        model="llama-3.3-70b-versatile", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Say the pangram."}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 1234 and chunks[-1].usage.completion_tokens == 56


def test_embeddings_run_on_the_local_backend(openai_client):
    require_module("tokenizers")
    packed = openai_client.embeddings.create(model="all-MiniLM-L6-v2", input=["hello", "world"])
    plain = openai_client.embeddings.create(model="all-MiniLM-L6-v2", input="hello",
                                            encoding_format="float")
    assert [len(item.embedding) for item in packed.data] == [384, 384]
    assert packed.data[0].embedding == pytest.approx(plain.data[0].embedding, abs=1e-6)
    assert packed.usage.prompt_tokens > 0


def test_models_and_errors_in_openai_shape(live_server, openai_client, fake_chat):
    import openai

    ids = {model.id for model in openai_client.models.list()}
    assert {"llama-3.3-70b-versatile", "all-MiniLM-L6-v2"} <= ids
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client.chat.completions.create(model="gpt-9", messages=[
            {"role": "user", "content": "hi"}])
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        openai_client.chat.completions.create(model="llama-3.3-70b-versatile", messages=[])
    assert bad.value.body["param"] == "messages"
    stranger = openai.OpenAI(base_url=live_server + "/v1", api_key="gpub_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.embeddings.create(model="all-MiniLM-L6-v2", input="x")


def test_no_credit_is_a_402_in_openai_shape(client, live_server, fake_chat):
    import openai

    broke = openai.OpenAI(base_url=live_server + "/v1", max_retries=0,
                          api_key=register(client, "broke-oai@example.com"))
    with pytest.raises(openai.APIStatusError) as refused:
        broke.chat.completions.create(model="llama-3.3-70b-versatile",
                                      messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 402
    assert refused.value.body["type"] == "insufficient_quota"
    assert fake_chat.calls == []
