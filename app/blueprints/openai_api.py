"""OpenAI-compatible endpoints: /v1/chat/completions, /v1/embeddings, /v1/models.

Same API keys, billing and routing as POST /run; errors in OpenAI's own error object.
"""
from __future__ import annotations

import base64
import json
import struct
import time

from flask import Blueprint, Response, current_app, stream_with_context
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from .. import openai_compat as compat
from .. import schemas
from ..auth import current_account
from ..catalog import load_catalog
from ..errors import ApiError
from ..openapi import document
from .jobs import json_body

bp = Blueprint("openai", __name__, url_prefix="/v1")
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               402: "insufficient_quota", 403: "permission_error", 404: "invalid_request_error",
               409: "invalid_request_error", 413: "invalid_request_error",
               429: "rate_limit_error"}
CHUNK_WORDS = 4  # words per streamed delta
OPENAI_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": "string", "nullable": True},
        "code": {"type": "string", "nullable": True}}}}}
OPENAI_LIST = {"type": "object", "properties": {"object": {"type": "string"},
                                                "data": {"type": "array", "items": {}}}}


@bp.record_once
def _describe(state) -> None:
    document(state.app, {
        "/v1/chat/completions": {"post": (
            "OpenAI-compatible chat completion (stream: true gives text/event-stream)",
            "ChatCompletionRequest", None, 200, (400, 402, 404, 502, 503), True, "openai",
            "OpenAIError")},
        "/v1/embeddings": {"post": ("OpenAI-compatible embeddings", "EmbeddingRequest",
                                    "OpenAIList", 200, (400, 402, 404, 502, 503), True,
                                    "openai", "OpenAIError")},
        "/v1/models": {"get": ("OpenAI-compatible model list", None, "OpenAIList", 200, (),
                               False, "openai", "OpenAIError")},
    }, {"ChatCompletionRequest": compat.ChatCompletionRequest,
        "EmbeddingRequest": compat.EmbeddingRequest,
        "OpenAIError": OPENAI_ERROR, "OpenAIList": OPENAI_LIST})


def openai_error(status: int, message: str, code: str | None, param: str | None = None):
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return body, status


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    param = exc.extra.get("field")
    body, status = openai_error(exc.status, exc.message, exc.code, param)
    headers = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else {}
    return body, status, headers


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return openai_error(exc.code or 500, exc.description or exc.name, None)


def _load(schema, body) -> dict:
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise schemas.validation_error(exc) from None


def _usage(usage: dict) -> dict:
    prompt, completion = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


@bp.post("/chat/completions")
def chat_completions():
    """OpenAI chat completions (stream: true answers server-sent events)."""
    account = current_account()
    request = _load(compat.ChatCompletionRequest(), json_body())
    catalog = load_catalog()
    data, messages = compat.chat_input(request, catalog)
    done = compat.run_inline(catalog, current_app.extensions["backends"], account.id,
                             compat.CHAT_SERVICE, data, {"messages": messages})
    text = compat.output_text(done.output)
    base = {"id": compat.completion_id(done.job.id), "created": int(time.time()),
            "model": request["model"], "system_fingerprint": None}
    headers = {"X-Job-Id": str(done.job.id)}
    if request.get("stream"):
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        events = _chat_events(base, text, _usage(done.usage), include_usage)
        return Response(stream_with_context(events), mimetype="text/event-stream",
                        headers={**headers, "Cache-Control": "no-cache"})
    return {**base, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(done.usage)}, 200, headers


def _pieces(text: str):
    words = text.split(" ")
    for start in range(0, len(words), CHUNK_WORDS):
        piece = " ".join(words[start:start + CHUNK_WORDS])
        yield piece if start + CHUNK_WORDS >= len(words) else piece + " "


def _chat_events(base: dict, text: str, usage: dict, include_usage: bool):
    """chat.completion.chunk events: the role, the text in pieces, the stop, [the usage]."""
    chunk = {**base, "object": "chat.completion.chunk"}

    def event(delta: dict, finish: str | None = None, **extra) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return f"data: {json.dumps({**chunk, 'choices': [choice], **extra})}\n\n"

    yield event({"role": "assistant", "content": ""})
    for piece in _pieces(text) if text else ():
        yield event({"content": piece})
    yield event({}, "stop")
    if include_usage:
        yield f"data: {json.dumps({**chunk, 'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"


def _encode(vector: list, encoding: str):
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


@bp.post("/embeddings")
def embeddings():
    """OpenAI embeddings (float or base64 encoding)."""
    account = current_account()
    request = _load(compat.EmbeddingRequest(), json_body())
    catalog = load_catalog()
    data = compat.embedding_input(request, catalog)
    done = compat.run_inline(catalog, current_app.extensions["backends"], account.id,
                             compat.EMBED_SERVICE, data)
    output = done.output or {}
    vectors = output.get("embeddings") or [output.get("embedding", [])]
    prompt = int(done.usage.get("input_tokens", 0))
    return {"object": "list", "model": request["model"],
            "data": [{"object": "embedding", "index": i,
                      "embedding": _encode(v, request["encoding_format"])}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt}}, 200, \
        {"X-Job-Id": str(done.job.id)}


@bp.get("/models")
def models():
    """The chat and embedding models, in OpenAI's list format."""
    catalog = load_catalog()
    data = []
    for key in (compat.CHAT_SERVICE, compat.EMBED_SERVICE):
        service = catalog.get(key)
        data += [{"id": name, "object": "model", "created": 0, "owned_by": "gpubridge",
                  "service": key} for name in service.models]
    return {"object": "list", "data": data}
