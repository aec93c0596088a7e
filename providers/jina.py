"""The Jina adapter: task `rerank` (POST /rerank)."""
from __future__ import annotations

import time

from .base import BackendUnavailable, Call, Result, UpstreamError, Usage
from .urlguard import UrlPolicy
from .wire import Client


class JinaBackend:
    """A backend speaking Jina's rerank API."""

    def __init__(self, name: str, client: Client, policy: UrlPolicy):
        self.name, self.client = name, client

    def availability(self, task: str) -> str | None:
        return None if task == "rerank" else f"the jina adapter has no task {task!r}"

    def run(self, call: Call) -> Result:
        """Rank the documents; results carry index, relevance_score and (if asked) the text."""
        if call.task != "rerank":
            raise BackendUnavailable(self.availability(call.task))
        started = time.monotonic()
        data = call.input
        body = {"model": call.model, "query": data["query"], "documents": data["documents"],
                "return_documents": data.get("return_documents", True)}
        if data.get("top_n"):
            body["top_n"] = data["top_n"]
        answer = self.client.json("POST", "/rerank", call.timeout, json=body)
        try:
            results = [_result(item) for item in answer["results"]]
        except (KeyError, TypeError) as exc:
            raise UpstreamError(f"{self.name}: no results in the rerank answer") from exc
        tokens = (answer.get("usage") or {}).get("total_tokens") or 0
        return Result(output={"results": results, "model": call.model},
                      usage=Usage(input_tokens=int(tokens),
                                  compute_seconds=time.monotonic() - started))


def _result(item: dict) -> dict:
    found = {"index": item["index"], "relevance_score": item["relevance_score"]}
    document = item.get("document")
    if document is not None:
        found["document"] = document.get("text") if isinstance(document, dict) else document
    return found
