"""The service catalog: `catalog.yaml` read into frozen objects, once per process.

Format of `catalog.yaml` (every price is a decimal *string* of USD; money never passes a float):

    backends:
      <backend-key>:                 # e.g. local, groq, deepinfra, replicate, jina, runpod
        adapter: local|openai|replicate|jina|runpod
        env: GROQ                    # reads GROQ_API_KEY / GROQ_BASE_URL (not for local)
        base_url: https://...        # the documented default base URL
    services:
      <service-key>:                 # e.g. embedding-l4
        name: Text Embeddings
        family: text|image|audio|video     # the worker pool (Celery queue) that runs it
        category: text|image|video|audio|utility   # how the public catalog groups it
        description: one sentence
        estimated_seconds: 2         # typical run time, used by per-second estimates
        timeout_seconds: 60          # per backend call
        output: text|embedding|image|audio|video|json   # what `output` holds
        models: [a, b]               # optional: public model names; first is the default
        pricing:
          kind: flat|per_token|per_second
          usd: "0.01"                # flat: price per output; per_token: minimum per request
          by_model: {m: "0.003"}     # flat: per-model price per output (overrides usd)
          per_mtok: {m: {input: "0.59", output: "0.79"}}   # per_token, USD per 1M tokens
          usd_per_second: "0.0024"   # per_second
          minimum_usd: "0.01"        # per_second (and per_token) minimum charge
          outputs_field: num_outputs # flat: input field that multiplies the price
        input:                       # field -> rules; unknown fields are refused
          prompt: {type: string, required: true, max_length: 32000}
          max_tokens: {type: integer, min: 1, max: 8192, default: 512}
          scale: {type: integer, enum: [2, 4], default: 4}
          text: {type: text_or_list, required: true, max_length: 8192, max_items: 128}
          image_url: {type: url, required: true}   # https:// or data: URI
        backends:                    # the ordered failover chain
          - backend: local
            task: embed              # the adapter's task name
            model: all-MiniLM-L6-v2  # upstream model (or per public model: models: {pub: upstream})
            cost_usd: "0.0001"       # what one call costs us (routing by X-Priority: cheap)

Field types: string, integer, number, boolean, url, string_list, text_or_list.
Field rules: required, default, enum, min, max, min_length, max_length, max_items.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from billing.money import MoneyError, duration_millis, parse_usd

CATALOG_PATH = Path(__file__).resolve().parent.parent / "catalog.yaml"
FAMILIES = ("text", "image", "audio", "video")
FIELD_TYPES = ("string", "integer", "number", "boolean", "url", "string_list", "text_or_list")
PRICING_KINDS = ("flat", "per_token", "per_second")
ADAPTER_TASKS = {
    "local": ("embed", "tts", "ocr", "pdf_parse", "upscale"),
    "openai": ("chat", "embed", "image", "transcribe", "speech"),
    "jina": ("rerank",),
    "replicate": ("predict",),
    "runpod": ("run",),
}


class CatalogError(ValueError):
    """Raised at load time when catalog.yaml breaks the format above."""


@dataclass(frozen=True)
class Pricing:
    """A service's price, every amount in integer micro-USD."""

    kind: str
    flat: int = 0
    by_model: dict[str, int] = field(default_factory=dict)
    per_mtok: dict[str, tuple[int, int]] = field(default_factory=dict)  # (input, output)
    per_second: int = 0
    minimum: int = 0
    outputs_field: str | None = None


@dataclass(frozen=True)
class BackendStep:
    """One link of a service's failover chain."""

    backend: str
    task: str
    model: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    cost: int = 0

    def upstream_model(self, public_model: str | None) -> str | None:
        """The provider's model name for our public one, or None if it does not serve it."""
        if self.models:
            return self.models.get(public_model or "")
        return self.model


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per catalog load
class Service:
    key: str
    name: str
    family: str
    category: str
    description: str
    # Durations are whole milliseconds, parsed from the YAML's decimal seconds through
    # Decimal: the typical run time prices per-second holds, so no float may decide it.
    estimated_millis: int
    timeout_millis: int
    output: str
    pricing: Pricing
    input: dict[str, dict]
    chain: tuple[BackendStep, ...]
    models: tuple[str, ...] = ()

    @property
    def default_model(self) -> str | None:
        return self.models[0] if self.models else None


@dataclass(frozen=True)
class BackendConfig:
    key: str
    adapter: str
    env: str | None = None
    base_url: str | None = None


@dataclass(frozen=True)
class Catalog:
    services: dict[str, Service]
    backends: dict[str, BackendConfig]

    def get(self, key: str) -> Service | None:
        return self.services.get(key)


def _money(raw: Any, where: str) -> int:
    if not isinstance(raw, str):
        raise CatalogError(f"{where}: prices are decimal strings, got {raw!r}")
    return parse_usd(raw)


def _pricing(raw: dict, where: str) -> Pricing:
    kind = raw.get("kind")
    if kind not in PRICING_KINDS:
        raise CatalogError(f"{where}: pricing.kind must be one of {PRICING_KINDS}")
    return Pricing(
        kind=kind,
        flat=_money(raw["usd"], where) if "usd" in raw else 0,
        by_model={m: _money(v, where) for m, v in (raw.get("by_model") or {}).items()},
        per_mtok={
            m: (_money(v["input"], where), _money(v["output"], where))
            for m, v in (raw.get("per_mtok") or {}).items()
        },
        per_second=_money(raw["usd_per_second"], where) if "usd_per_second" in raw else 0,
        minimum=_money(raw["minimum_usd"], where) if "minimum_usd" in raw else 0,
        outputs_field=raw.get("outputs_field"),
    )


def _chain(raw: list, where: str, backends: dict) -> tuple[BackendStep, ...]:
    steps = []
    for step in raw or []:
        if step.get("backend") not in backends:
            raise CatalogError(f"{where}: unknown backend {step.get('backend')!r}")
        adapter = backends[step["backend"]].adapter
        if step.get("task") not in ADAPTER_TASKS.get(adapter, ()):
            raise CatalogError(f"{where}: the {adapter} adapter has no task {step.get('task')!r}")
        steps.append(BackendStep(
            backend=step["backend"],
            task=step["task"],
            model=step.get("model"),
            models=dict(step.get("models") or {}),
            cost=_money(step["cost_usd"], where) if "cost_usd" in step else 0,
        ))
    if not steps:
        raise CatalogError(f"{where}: a service needs at least one backend")
    return tuple(steps)


def _input(raw: dict, where: str) -> dict[str, dict]:
    for name, rules in (raw or {}).items():
        if rules.get("type") not in FIELD_TYPES:
            raise CatalogError(f"{where}.input.{name}: type must be one of {FIELD_TYPES}")
    return dict(raw or {})


def _millis(raw: dict, name: str, default: int, where: str) -> int:
    """`raw[name]` seconds (default `default`) as whole milliseconds, more than zero."""
    try:
        millis = duration_millis(raw.get(name, default))
    except ValueError:
        millis = 0
    if millis <= 0:
        raise CatalogError(f"{where}.{name}: must be a positive number of seconds")
    return millis


def _service(key: str, raw: dict, backends: dict) -> Service:
    where = f"services.{key}"
    if raw.get("family") not in FAMILIES:
        raise CatalogError(f"{where}: family must be one of {FAMILIES}")
    return Service(
        key=key,
        name=raw["name"],
        family=raw["family"],
        category=raw.get("category", raw["family"]),
        description=raw.get("description", ""),
        estimated_millis=_millis(raw, "estimated_seconds", 10, where),
        timeout_millis=_millis(raw, "timeout_seconds", 120, where),
        output=raw.get("output", "json"),
        pricing=_pricing(raw.get("pricing") or {}, where),
        input=_input(raw.get("input"), where),
        chain=_chain(raw.get("backends"), where, backends),
        models=tuple(raw.get("models") or ()),
    )


def _backend(key: str, raw: dict) -> BackendConfig:
    if raw.get("adapter") not in ADAPTER_TASKS:
        raise CatalogError(f"backends.{key}: adapter must be one of {tuple(ADAPTER_TASKS)}")
    return BackendConfig(key=key, adapter=raw["adapter"], env=raw.get("env"),
                         base_url=raw.get("base_url"))


def parse_catalog(data: dict) -> Catalog:
    """Build a Catalog from the parsed YAML, refusing anything off-format with CatalogError."""
    try:
        backends = {key: _backend(key, raw) for key, raw in (data.get("backends") or {}).items()}
        services = {key: _service(key, raw, backends) for key, raw in data["services"].items()}
    except (KeyError, TypeError, AttributeError, MoneyError) as exc:
        raise CatalogError(f"catalog.yaml is off-format: {exc!r}") from exc
    return Catalog(services=services, backends=backends)


@lru_cache(maxsize=4)
def load_catalog(path: str = str(CATALOG_PATH)) -> Catalog:
    """The catalog at `path`, parsed once per process."""
    with open(path, encoding="utf-8") as fh:
        return parse_catalog(yaml.safe_load(fh))
