"""Builds one Backend object per catalog backend, from the catalog and the app's config."""
from __future__ import annotations

from app.catalog import Catalog

from .jina import JinaBackend
from .openai_compat import OpenAIBackend
from .replicate import ReplicateBackend
from .runpod import RunPodBackend
from .unconfigured import UnconfiguredBackend
from .urlguard import UrlPolicy
from .wire import Client

#: catalog `adapter:` -> the class speaking that wire protocol
ADAPTERS = {"openai": OpenAIBackend, "replicate": ReplicateBackend, "jina": JinaBackend,
            "runpod": RunPodBackend}


def build_backends(catalog: Catalog, config: dict) -> dict:
    """Backends by catalog key; remote ones without their API key report why they can't run."""
    from .local import LocalBackend  # imported here: its model stack loads lazily anyway

    policy = UrlPolicy(allow_private=bool(config.get("ALLOW_PRIVATE_URLS")))
    disabled = set(config.get("DISABLED_BACKENDS") or ())
    backends = {}
    for key, spec in catalog.backends.items():
        if key in disabled:
            backends[key] = UnconfiguredBackend(key, "disabled by GPUBRIDGE_DISABLED_BACKENDS")
        elif spec.adapter == "local":
            backends[key] = LocalBackend(policy)
        else:
            backends[key] = _remote(key, spec, config, policy)
    return backends


def _remote(key: str, spec, config: dict, policy: UrlPolicy):
    env = spec.env or key.upper()
    settings = config.get("BACKENDS", {}).get(env.lower(), {})
    if not settings.get("api_key"):
        return UnconfiguredBackend(key, f"not configured: set {env}_API_KEY")
    base_url = settings.get("base_url") or spec.base_url
    if not base_url:
        return UnconfiguredBackend(key, f"not configured: set {env}_BASE_URL")
    client = Client(key, base_url, settings["api_key"])
    return ADAPTERS[spec.adapter](key, client, policy)
