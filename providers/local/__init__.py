"""The `local` backend: real work on the worker's own machine, one module per task."""
from __future__ import annotations

from providers.base import BackendUnavailable, Call, Result
from providers.local import embedding, ocr, pdf, speech, upscale
from providers.urlguard import UrlPolicy

#: task name (the catalog's `task:`) -> module with availability() and run(call, policy)
TASKS = {"embed": embedding, "tts": speech, "ocr": ocr, "pdf_parse": pdf, "upscale": upscale}


class LocalBackend:
    """Runs embeddings, TTS, OCR, PDF parsing and upscaling with local tools and models."""

    name = "local"

    def __init__(self, policy: UrlPolicy):
        self.policy = policy

    def availability(self, task: str) -> str | None:
        """None when `task`'s tool or model is installed here, else why not."""
        module = TASKS.get(task)
        return module.availability() if module else "unknown task"

    def run(self, call: Call) -> Result:
        """Run one call on this machine."""
        reason = self.availability(call.task)
        if reason:
            raise BackendUnavailable(reason)
        return TASKS[call.task].run(call, self.policy)
