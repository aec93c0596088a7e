"""llms.txt, robots.txt and ai-plugin.json, written from the catalog so they never drift."""
from __future__ import annotations

from billing.money import format_usd
from billing.pricing import estimate

from .catalog import Catalog, Service

CATEGORY_TITLES = {"text": "Text & intelligence", "image": "Image", "video": "Video",
                   "audio": "Audio & speech", "utility": "Documents & utilities"}


def _fields(service: Service) -> str:
    parts = []
    for name, rules in service.input.items():
        mark = "" if rules.get("required") else "?"
        parts.append(f"{name}{mark}: {rules['type']}")
    return ", ".join(parts)


def _service_line(service: Service) -> str:
    price = format_usd(estimate(service, {}, service.default_model))
    models = f" Models: {', '.join(service.models)}." if service.models else ""
    return (f"- `{service.key}` — {service.name}: {service.description} "
            f"From ${price} ({service.pricing.kind.replace('_', ' ')}). "
            f"Input: {{{_fields(service)}}}.{models}")


def llms_txt(catalog: Catalog, base_url: str) -> str:
    """The llms.txt document: what the API is, how to call it, and every service."""
    base = base_url.rstrip("/")
    lines = [
        "# GPU-Bridge",
        f"> Unified AI job API — {len(catalog.services)} services, one endpoint: POST /run",
        "",
        f"API base URL: {base}",
        f"OpenAPI: {base}/openapi.json — docs: {base}/docs — catalog (JSON): {base}/catalog",
        "",
        "## Use",
        "1. POST /account/register {\"email\": ...} -> {\"api_key\": \"gpub_...\"} (shown once)",
        "2. POST /run with Authorization: Bearer gpub_... and "
        "{\"service\": KEY, \"input\": {...}, \"webhook_url\"?: URL} -> 202 {\"job_id\", "
        "\"status_url\", \"estimated_cost_usd\"}",
        "3. GET /status/{job_id} until status is completed or failed; `output` holds the result",
        "- Errors: {\"error\", \"code\", \"hint\"}; money is USD as exact JSON numbers.",
        "- OpenAI-compatible: POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models.",
        "",
    ]
    by_category: dict[str, list[Service]] = {}
    for service in catalog.services.values():
        by_category.setdefault(service.category, []).append(service)
    for category, services in by_category.items():
        lines.append(f"## {CATEGORY_TITLES.get(category, category.title())}")
        lines.extend(_service_line(service) for service in services)
        lines.append("")
    return "\n".join(lines)


def robots_txt(base_url: str) -> str:
    """Crawlers may read the public pages and discovery files, never account pages."""
    base = base_url.rstrip("/")
    return "\n".join([
        "User-agent: *", "Allow: /", "Disallow: /account/", "Disallow: /files/", "",
        "# AI agent discovery", f"# llms.txt: {base}/llms.txt",
        f"# OpenAPI: {base}/openapi.json", f"# Plugin manifest: {base}/.well-known/ai-plugin.json",
        ""])


def ai_plugin(catalog: Catalog, base_url: str) -> dict:
    """The ai-plugin.json manifest, pointing at our OpenAPI document."""
    base = base_url.rstrip("/")
    keys = ", ".join(sorted(catalog.services))
    return {
        "schema_version": "v1",
        "name_for_human": "GPU-Bridge",
        "name_for_model": "gpubridge",
        "description_for_human": f"{len(catalog.services)} AI services behind one API.",
        "description_for_model": (
            "Run AI jobs: POST /run with {service, input}, then GET /status/{job_id}. "
            f"Services: {keys}. GET /catalog gives each input schema and price."),
        "auth": {"type": "user_http", "authorization_type": "bearer"},
        "api": {"type": "openapi", "url": f"{base}/openapi.json"},
        "logo_url": f"{base}/static/logo.svg",
        "contact_email": "support@example.com",
        "legal_info_url": f"{base}/docs",
    }
