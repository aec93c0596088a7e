"""The OpenAI-compatible API's logic: an OpenAI request becomes a job of one of our services,
held, run through the same router in this process (the call is synchronous), and settled.

Chat goes to `llm-4090`, embeddings to `embedding-l4`; billing, limits and the ledger are the
ones every job uses. No Flask request objects here: the views pass what they parsed.
"""
from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

from flask import current_app
from marshmallow import EXCLUDE, Schema, fields, validate

from billing.settlement import settle_job
from workers import execute

from .catalog import Catalog
from .errors import ApiError
from .extensions import db
from .jobs import submit_job
from .models import Job

CHAT_SERVICE = "llm-4090"
EMBED_SERVICE = "embedding-l4"
ROLES = ("system", "developer", "user", "assistant", "tool")


class Message(Schema):
    class Meta:
        unknown = EXCLUDE

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    content = fields.Raw(required=True, allow_none=True)


class ChatCompletionRequest(Schema):
    """POST /v1/chat/completions; parameters we do not use are ignored, as OpenAI's are."""

    class Meta:
        unknown = EXCLUDE

    model = fields.String(required=True)
    messages = fields.List(fields.Nested(Message), required=True,
                           validate=validate.Length(min=1))
    max_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    max_completion_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    temperature = fields.Float(allow_none=True, validate=validate.Range(min=0, max=2))
    top_p = fields.Float(allow_none=True, validate=validate.Range(min=0, max=1))
    n = fields.Integer(allow_none=True, validate=validate.Equal(1))
    stream = fields.Boolean(load_default=False, allow_none=True)
    stream_options = fields.Dict(allow_none=True)


class EmbeddingRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    model = fields.String(required=True)
    input = fields.Raw(required=True)
    encoding_format = fields.String(load_default="float",
                                    validate=validate.OneOf(["float", "base64"]))


@dataclass(frozen=True)
class Finished:
    """A job run to its end here: the row, and the backend's output and usage."""

    job: Job
    output: object
    usage: dict


def _text(content) -> str:
    """A message's content: a string, or OpenAI's list of parts (text parts only)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict)
                       and p.get("type") == "text")
    raise ApiError(400, "invalid_field", "Message content must be a string or a list of parts.",
                   "Send text content.", field="messages")


def chat_input(request: dict, catalog: Catalog) -> tuple[dict, list[dict]]:
    """Our llm-4090 input for an OpenAI chat request, and the messages passed to the backend."""
    messages = [{"role": m["role"], "content": _text(m["content"])} for m in request["messages"]]
    system = "\n\n".join(m["content"] for m in messages if m["role"] in ("system", "developer"))
    turns = [m for m in messages if m["role"] not in ("system", "developer")]
    if not turns:
        raise ApiError(400, "invalid_field", "messages needs at least one user message.",
                       "Add a message with role user.", field="messages")
    prompt = turns[0]["content"] if len(turns) == 1 else "\n\n".join(
        f"{m['role']}: {m['content']}" for m in turns)
    data = {"prompt": prompt, "model": _model(request["model"], catalog, CHAT_SERVICE)}
    if system:
        data["system"] = system
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    for name, value in (("max_tokens", limit), ("temperature", request.get("temperature")),
                        ("top_p", request.get("top_p"))):
        if value is not None:
            data[name] = value
    return data, messages


def _model(name: str, catalog: Catalog, service_key: str) -> str:
    service = catalog.get(service_key)
    if name == service_key:
        return service.default_model
    if name not in service.models:
        raise ApiError(404, "model_not_found", f"The model '{name}' does not exist.",
                       "GET /v1/models lists the models.", field="model")
    return name


def embedding_input(request: dict, catalog: Catalog) -> dict:
    """Our embedding-l4 input for an OpenAI embeddings request."""
    value = request["input"]
    if not (isinstance(value, str) or (isinstance(value, list)
                                       and all(isinstance(v, str) for v in value))):
        raise ApiError(400, "invalid_field", "input must be a string or a list of strings.",
                       "Token arrays are not supported; send text.", field="input")
    return {"text": value, "model": _model(request["model"], catalog, EMBED_SERVICE)}


def run_inline(catalog: Catalog, backends: dict, account_id: int, service: str, data: dict,
               extra_input: dict | None = None) -> Finished:
    """Hold and write the job, run it here through the router, settle it; raise if it failed."""
    config = current_app.config
    submitted = submit_job(catalog, backends, account_id, {"service": service, "input": data},
                           send=False)
    claimed = execute.claim(db.session, submitted.job.id, config["JOB_LEASE_SECONDS"],
                            config["JOB_MAX_DELIVERIES"])
    if claimed is None:  # cannot happen for a job nobody else was told about; be safe
        raise ApiError(500, "internal_error", "The job could not be started.", "Retry.")
    if extra_input:  # passed to the backend, not stored: the job row keeps the validated input
        claimed = dataclasses.replace(claimed, input={**claimed.input, **extra_input})
    # Share the workers' circuit breakers when the app keeps them (providers.health).
    health = current_app.extensions.get("backend_health")
    ended = execute.execute(db.session, catalog, backends, claimed, config["JOB_LEASE_SECONDS"],
                            health=health, settle=True)
    if ended is None or not ended.settled:
        settle_job(db.session, catalog, claimed.job_id)
    job = db.session.get(Job, claimed.job_id, populate_existing=True)
    if job.status != "completed":
        error = job.error or {}
        raise ApiError(502, error.get("code", "backends_failed"),
                       error.get("message", "The job failed."), "Retry, or pick another model.",
                       job_id=str(job.id))
    return Finished(job=job, output=job.output, usage=job.usage or {})


def output_text(output) -> str:
    """The completion text from a chat backend's output (a string or {"text"|"content": ...})."""
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        for key in ("text", "content", "output"):
            if isinstance(output.get(key), str):
                return output[key]
    return ""


def completion_id(job_id: uuid.UUID) -> str:
    return f"chatcmpl-{job_id.hex}"
