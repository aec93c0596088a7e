"""The four wire protocols, answered deterministically: OpenAI, Replicate, Jina, RunPod.

Each handler takes the request (backend, method, path, JSON body, raw body, headers, origin)
and returns (status, content type, body bytes, extra headers).
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time

from .media import png, wav

EMBED_DIMENSIONS = 16
_ids = itertools.count(1)
_lock = threading.Lock()
RUNS: dict[str, dict] = {}  # prediction / job id -> its state


def reply(body, status: int = 200, headers: dict | None = None):
    return status, "application/json", json.dumps(body).encode(), headers or {}


def _words(text: str) -> int:
    return max(1, len(str(text).split()))


def vector(model: str, text: str) -> list[float]:
    """A unit vector derived from a hash of the model and text."""
    digest = hashlib.sha256(f"{model}\x00{text}".encode()).digest()
    raw = [b / 127.5 - 1.0 for b in digest[:EMBED_DIMENSIONS]]
    norm = sum(x * x for x in raw) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in raw]


# ------------------------------------------------------------------ OpenAI-compatible

def _user_text(messages: list) -> str:
    content = messages[-1].get("content") if messages else ""
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content or ""


def chat(req):
    body = req.json
    messages = body.get("messages") or []
    if not messages or not body.get("model"):
        return reply({"error": {"message": "model and messages are required",
                                "type": "invalid_request_error"}}, 400)
    text = f"[{req.backend}:{body['model']}] you said: {_user_text(messages)[:80]}"
    prompt_tokens = sum(_words(json.dumps(m.get("content"))) for m in messages)
    return reply({"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion",
                  "model": body["model"],
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": text}}],
                  "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": _words(text),
                            "total_tokens": prompt_tokens + _words(text)}})


def embeddings(req):
    body = req.json
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts or []
    data = [{"object": "embedding", "index": i, "embedding": vector(body.get("model", ""), t)}
            for i, t in enumerate(texts)]
    tokens = sum(_words(t) for t in texts)
    return reply({"object": "list", "data": data, "model": body.get("model"),
                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def images(req):
    body = req.json
    items = []
    for i in range(int(body.get("n") or 1)):
        seed = f"{body.get('model')}:{body.get('prompt')}:{body.get('seed')}:{i}"
        if body.get("response_format") == "b64_json":
            items.append({"b64_json": base64.b64encode(png(seed)).decode()})
        else:
            items.append({"url": f"{req.origin}/_files/{_name(seed)}.png"})
    return reply({"created": 0, "data": items})


def transcriptions(req):
    size = len(req.raw)
    return reply({"text": f"emulated transcript of {size} bytes", "task": "transcribe"})


def speech(req):
    return 200, "audio/wav", wav(json.dumps(req.json, sort_keys=True)), {}


# ------------------------------------------------------------------ Jina

def rerank(req):
    body = req.json
    query = set(str(body.get("query", "")).lower().split())
    docs = [d if isinstance(d, str) else d.get("text", "") for d in body.get("documents") or []]
    scored = [(len(query & set(doc.lower().split())) / (len(query) or 1), i)
              for i, doc in enumerate(docs)]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    results = [{"index": i, "relevance_score": round(score, 4)}
               | ({"document": {"text": docs[i]}} if body.get("return_documents", True) else {})
               for score, i in scored[:body.get("top_n") or len(docs)]]
    tokens = sum(_words(d) for d in docs) + len(query)
    return reply({"model": body.get("model"), "results": results,
                  "usage": {"total_tokens": tokens, "prompt_tokens": tokens}})


# ------------------------------------------------------------------ Replicate and RunPod

def _name(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def model_output(kind: str, model: str, data: dict, origin: str, dict_style: bool):
    """What a model of output `kind` returns (RunPod workers answer with objects)."""
    seed = _name(f"{model}:{json.dumps(data, sort_keys=True)}")
    urls = {"image": f"{origin}/_files/{seed}.png", "audio": f"{origin}/_files/{seed}.wav",
            "video": f"{origin}/_files/{seed}.mp4"}
    if kind == "text":
        text = f"emulated {model} output"
        return {"text": text} if dict_style else text
    if kind in urls:
        if dict_style:
            return {f"{kind}_url": urls[kind]}
        return [urls[kind]] if kind == "image" else urls[kind]
    return {"emulated": True, "model": model, "segments": [{"start": 0, "end": 1,
                                                            "text": "emulated"}]}


def _prediction(run: dict, origin: str, backend: str) -> dict:
    url = f"{origin}/{backend}/v1/predictions/{run['id']}"
    found = {"id": run["id"], "model": run["model"], "version": run.get("version"),
             "status": run["status"], "input": run["input"], "output": run.get("output"),
             "error": None, "urls": {"get": url, "cancel": url + "/cancel"}, "metrics": {}}
    if run["status"] == "succeeded":
        found["metrics"] = {"predict_time": 1.25}
    elif run["status"] == "canceled":  # Replicate bills a canceled prediction's run time
        found["metrics"] = {"predict_time": run["used"]}
    return found


def _cancel(run: dict, status: str) -> None:
    """Cancel a run once; it has used the held fault's `compute_seconds`, else its wall time."""
    if run["status"] in ("starting", "processing", "IN_QUEUE", "IN_PROGRESS"):
        run["status"] = status
        run["used"] = run.get("compute_seconds") or round(time.monotonic() - run["born"], 3)


def _hold(fault: dict | None):
    """Polls a run stays unfinished for: None (not held), an int, or -1 (forever)."""
    if not fault or fault.get("kind") != "processing":
        return None
    return int(fault.get("polls", -1))


def _clock(fault: dict | None) -> dict:
    """When a run was created, and the compute seconds a held run reports once cancelled."""
    return {"born": time.monotonic(), "compute_seconds": (fault or {}).get("compute_seconds")}


def _still_held(run: dict) -> bool:
    held = run.get("held")
    if held is None or held == 0:
        return False
    if held > 0:
        run["held"] = held - 1
    return True


def create_prediction(req, kinds: dict, fault: dict | None):
    match = re.search(r"/models/([^/]+/[^/]+)/predictions$", req.path)
    model = match.group(1) if match else req.json.get("version", "")
    if not isinstance(req.json.get("input"), dict):
        return reply({"detail": "input is required", "status": 422, "title": "Invalid input"},
                     422)
    held = _hold(fault)
    run = {"id": f"p{next(_ids)}", "model": model, "version": req.json.get("version"),
           "input": req.json["input"], "held": held, **_clock(fault),
           "status": "starting" if held is None else "processing"}
    if held is None and req.headers.get("Prefer", "").startswith("wait"):
        _finish(run, kinds, req.origin)
    with _lock:
        RUNS[run["id"]] = run
    return reply(_prediction(run, req.origin, req.backend), 201)


def _finish(run: dict, kinds: dict, origin: str, dict_style: bool = False) -> None:
    kind = kinds.get(run["model"]) or kinds.get(run.get("version") or "", "json")
    run["output"] = model_output(kind, run["model"], run["input"], origin, dict_style)
    run["status"] = "COMPLETED" if dict_style else "succeeded"


def get_prediction(req, kinds: dict, cancel: bool):
    run_id = re.search(r"/predictions/([^/]+)", req.path).group(1)
    with _lock:
        run = RUNS.get(run_id)
    if run is None:
        return reply({"detail": "Not found."}, 404)
    if cancel:
        _cancel(run, "canceled")
    elif run["status"] in ("starting", "processing") and not _still_held(run):
        _finish(run, kinds, req.origin)
    return reply(_prediction(run, req.origin, req.backend))


def runpod(req, kinds: dict, fault: dict | None):
    match = re.search(r"/([^/]+)/(run|status|cancel)(?:/([^/]+))?$", req.path)
    endpoint, action, job_id = match.groups()
    if action == "run":
        if not isinstance(req.json.get("input"), dict):
            return reply({"error": "input is required"}, 400)
        held = _hold(fault)
        run = {"id": f"rp-{next(_ids)}", "model": endpoint, "input": req.json["input"],
               "held": held, **_clock(fault),
               "status": "IN_QUEUE" if held is None else "IN_PROGRESS"}
        with _lock:
            RUNS[run["id"]] = run
        return reply({"id": run["id"], "status": run["status"]})
    with _lock:
        run = RUNS.get(job_id or "")
    if run is None:
        return reply({"error": "job not found"}, 404)
    if action == "cancel":
        _cancel(run, "CANCELLED")
        return reply({"id": run["id"], "status": run["status"]})
    if run["status"] == "CANCELLED":
        run.setdefault("executionTime", round(run.get("used", 0) * 1000))
    elif run["status"] in ("IN_QUEUE", "IN_PROGRESS") and not _still_held(run):
        _finish(run, kinds, req.origin, dict_style=True)
        run.update(executionTime=1500, delayTime=20)
    return reply({key: run[key] for key in ("id", "status", "output", "executionTime",
                                             "delayTime") if key in run})
