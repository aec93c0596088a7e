"""Builds one Backend object per catalog backend, from the catalog and the app's config."""
from __future__ import annotations

from app.catalog import Catalog

from .media import UrlPolicy
from .unconfigured import UnconfiguredBackend


def build_backends(catalog: Catalog, config: dict) -> dict:
    """Backends by catalog key; remote ones without their API key report why they can't run."""
    from .local import LocalBackend  # imported here: its model stack loads lazily anyway

    policy = UrlPolicy(allow_private=bool(config.get("ALLOW_PRIVATE_URLS")))
    backends = {}
    for key, spec in catalog.backends.items():
        if spec.adapter == "local":
            backends[key] = LocalBackend(policy)
            continue
        settings = config.get("BACKENDS", {}).get((spec.env or key).lower(), {})
        if not settings.get("api_key"):
            reason = f"not configured: set {spec.env or key.upper()}_API_KEY"
        else:
            reason = f"the {spec.adapter} adapter is not available in this build"
        backends[key] = UnconfiguredBackend(key, reason)
    return backends
