"""catalog.yaml holds the 30 reference services, and parse_catalog refuses anything off-format."""
from __future__ import annotations

import copy
import dataclasses
from decimal import Decimal

import pytest
import yaml

from app.catalog import (
    CATALOG_PATH,
    FAMILIES,
    FIELD_TYPES,
    CatalogError,
    load_catalog,
    parse_catalog,
)
from billing.pricing import estimate

# The 30 services of the reference, keyed exactly as it names them.
SERVICE_KEYS = {
    "llm-4090", "embedding-l4", "llava-4090", "caption", "clip", "rerank",
    "image-4090", "video", "inpaint", "controlnet", "img2img", "image-variation", "photomaker",
    "sticker", "ad-inpaint", "animate", "video-enhance",
    "whisper-l4", "whisperx", "tts-l4", "bark", "musicgen-l4", "voice-clone",
    "rembg-l4", "upscale-l4", "face-restore", "ocr", "segmentation", "pdf-parse", "nsfw-detect",
}

# The tasks each adapter knows.
ADAPTER_TASKS = {
    "openai": {"chat", "embed", "image", "transcribe", "speech"},
    "jina": {"rerank"},
    "replicate": {"predict"},
    "runpod": {"run"},
    "local": {"embed", "tts", "ocr", "pdf_parse", "upscale"},
}

# Exactly these services run locally, and the local step comes first in their chain.
LOCAL_TASK = {
    "embedding-l4": "embed",
    "tts-l4": "tts",
    "ocr": "ocr",
    "pdf-parse": "pdf_parse",
    "upscale-l4": "upscale",
}

BACKENDS = {
    "local": ("local", None, None),
    "groq": ("openai", "GROQ", "https://api.groq.com/openai/v1"),
    "deepinfra": ("openai", "DEEPINFRA", "https://api.deepinfra.com/v1/openai"),
    "fireworks": ("openai", "FIREWORKS", "https://api.fireworks.ai/inference/v1"),
    "together": ("openai", "TOGETHER", "https://api.together.xyz/v1"),
    "replicate": ("replicate", "REPLICATE", "https://api.replicate.com/v1"),
    "jina": ("jina", "JINA", "https://api.jina.ai/v1"),
    "runpod": ("runpod", "RUNPOD", "https://api.runpod.ai/v2"),
}

# The worker pool each service runs in.
FAMILY = {
    "llm-4090": "text", "embedding-l4": "text", "rerank": "text", "pdf-parse": "text",
    "llava-4090": "image", "caption": "image", "clip": "image", "nsfw-detect": "image",
    "rembg-l4": "image", "upscale-l4": "image", "face-restore": "image", "ocr": "image",
    "segmentation": "image", "image-4090": "image", "inpaint": "image", "controlnet": "image",
    "img2img": "image", "image-variation": "image", "photomaker": "image", "sticker": "image",
    "ad-inpaint": "image",
    "video": "video", "animate": "video", "video-enhance": "video",
    "whisper-l4": "audio", "whisperx": "audio", "tts-l4": "audio", "bark": "audio",
    "musicgen-l4": "audio", "voice-clone": "audio",
}

# The reference's sections.
CATEGORY = {
    **{k: "text" for k in ("llm-4090", "embedding-l4", "llava-4090", "caption", "clip", "rerank")},
    **{k: "image" for k in ("image-4090", "inpaint", "controlnet", "img2img", "image-variation",
                            "photomaker", "sticker", "ad-inpaint")},
    **{k: "video" for k in ("video", "animate", "video-enhance")},
    **{k: "audio" for k in ("whisper-l4", "whisperx", "tts-l4", "bark", "musicgen-l4",
                            "voice-clone")},
    **{k: "utility" for k in ("rembg-l4", "upscale-l4", "face-restore", "ocr", "segmentation",
                              "pdf-parse", "nsfw-detect")},
}

# The reference's example inputs, field by field (the catalog must accept each of them).
REFERENCE_INPUTS = {
    "llm-4090": {"prompt": "Hello", "max_tokens": 512, "model": "llama-3.3-70b-versatile"},
    "embedding-l4": {"text": "your text here"},
    "llava-4090": {"image_url": "https://x.test/a.png", "prompt": "What is this?"},
    "caption": {"image_url": "https://x.test/a.png"},
    "clip": {"image_url": "https://x.test/a.png"},
    "rerank": {"query": "search query", "documents": ["doc1", "doc2", "doc3"], "top_n": 3},
    "image-4090": {"prompt": "A cat astronaut"},
    "video": {"prompt": "A sunset timelapse", "image_url": "https://x.test/a.png"},
    "inpaint": {"image_url": "https://x.test/a.png", "mask_url": "https://x.test/m.png",
                "prompt": "a red door"},
    "controlnet": {"image_url": "https://x.test/a.png", "prompt": "a castle"},
    "img2img": {"image_url": "https://x.test/a.png", "prompt": "oil painting"},
    "image-variation": {"image_url": "https://x.test/a.png"},
    "photomaker": {"image_url": "https://x.test/a.png", "prompt": "a portrait in watercolor style"},
    "sticker": {"image_url": "https://x.test/a.png", "prompt": "smiling"},
    "ad-inpaint": {"image_url": "https://x.test/a.png", "prompt": "product on marble table"},
    "animate": {"image_url": "https://x.test/a.png", "prompt": "gentle motion"},
    "video-enhance": {"video_url": "https://x.test/v.mp4", "resolution": "1080p", "fps": 60},
    "whisper-l4": {"audio_url": "https://x.test/a.mp3"},
    "whisperx": {"audio_url": "https://x.test/a.mp3"},
    "tts-l4": {"text": "Hello world", "voice": "af_alloy"},
    "bark": {"text": "Hello [laughter] how are you?"},
    "musicgen-l4": {"prompt": "calm piano melody", "duration_seconds": 10},
    "voice-clone": {"audio_url": "https://x.test/a.mp3"},
    "rembg-l4": {"image_url": "https://x.test/a.png"},
    "upscale-l4": {"image_url": "https://x.test/a.png", "scale": 4},
    "face-restore": {"image_url": "https://x.test/a.png"},
    "ocr": {"image_url": "https://x.test/a.png"},
    "segmentation": {"image_url": "https://x.test/a.png"},
    "pdf-parse": {"file_url": "https://x.test/a.pdf", "mode": "fast"},
    "nsfw-detect": {"image_url": "https://x.test/a.png"},
}

MEDIA_FIELDS = {"image_url", "mask_url", "audio_url", "video_url", "file_url"}

# Per-request prices of the reference, in micro-USD, for the flat-priced services.
FLAT_PRICES = {
    "embedding-l4": 10_000,
    "rerank": 1_000,
    "llava-4090": 50_000,
    "caption": 10_000,
    "clip": 20_000,
    "inpaint": 40_000,
    "controlnet": 50_000,
    "img2img": 40_000,
    "image-variation": 40_000,
    "photomaker": 50_000,
    "sticker": 20_000,
    "ad-inpaint": 50_000,
    "nsfw-detect": 5_000,
}

# Typical prices of the reference, in micro-USD, for the per-second services: the estimate at
# estimated_seconds (never below the minimum) must land on them.
PER_SECOND_TYPICAL = {
    "video": 650_000,
    "animate": 100_000,
    "video-enhance": 500_000,
    "whisper-l4": 50_000,
    "whisperx": 50_000,
    "tts-l4": 20_000,
    "bark": 30_000,
    "musicgen-l4": 50_000,
    "voice-clone": 650_000,
    "rembg-l4": 10_000,
    "upscale-l4": 40_000,
    "face-restore": 20_000,
    "ocr": 10_000,
    "segmentation": 20_000,
    "pdf-parse": 50_000,
}

# "from $X" prices of the reference are the minimum charge; everything else per-second: $0.01.
PER_SECOND_MINIMUM = {"video": 300_000, "voice-clone": 100_000, "whisper-l4": 50_000}

PRICING_KIND = {
    "llm-4090": "per_token",
    "image-4090": "flat",
    **{k: "flat" for k in FLAT_PRICES},
    **{k: "per_second" for k in PER_SECOND_TYPICAL},
}

LLM_REFERENCE_MODELS = {
    "llama-3.3-70b-versatile", "llama-3.1-8b-instant", "llama-4-scout", "qwen3-32b",
    "gpt-oss-120b", "gpt-oss-20b", "kimi-k2", "kimi-k2-0905", "deepseek-v3.1", "deepseek-r1",
    "llama-4-maverick", "qwen3-235b", "kimi-k2.5", "glm-5", "minimax-m2.5", "deepseek-v3-0324",
    "llama-3.3-70b", "deepseek-v3.2", "deepseek-r1-0528", "qwen3-coder-480b",
    "qwen3-coder-480b-turbo", "deepseek-v3.1-terminus", "qwen3-next-80b", "deepseek-ocr",
}

IMAGE_REFERENCE_MODELS = {
    "flux-schnell", "flux-dev", "flux-1.1-pro", "sd-3.5-large", "sdxl-lightning",
    "playground-v2.5", "FLUX.2-dev", "FLUX.2-pro", "imagen-4.0-fast", "imagen-4.0-ultra",
    "seedream-3.0", "seedream-4.0", "FLUX.1-schnell",
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def raw():
    with open(CATALOG_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


# ------------------------------------------------------------------ the shipped catalog


def test_exactly_the_thirty_reference_services(catalog):
    assert set(catalog.services) == SERVICE_KEYS
    assert len(catalog.services) == 30


def test_backends_are_the_eight_providers_with_their_documented_urls(catalog):
    got = {k: (b.adapter, b.env, b.base_url) for k, b in catalog.backends.items()}
    assert got == BACKENDS


@pytest.mark.parametrize("key", sorted(SERVICE_KEYS))
def test_every_service_is_well_formed(catalog, key):
    svc = catalog.services[key]
    assert svc.family in FAMILIES
    assert svc.family == FAMILY[key]
    assert svc.category == CATEGORY[key]
    assert svc.name and svc.description
    assert svc.output in {"text", "embedding", "image", "audio", "video", "json"}
    assert 0 < svc.estimated_millis <= svc.timeout_millis
    assert svc.chain, "a service needs a backend chain"
    for step in svc.chain:
        adapter = catalog.backends[step.backend].adapter
        assert step.task in ADAPTER_TASKS[adapter], (key, step.backend, step.task)
        assert step.cost >= 0
        # Every step names its upstream model, except a local step that needs none (tts,
        # ocr, pdf_parse, upscale run the worker's own tool).
        if step.backend != "local" or step.task == "embed":
            assert step.model or step.models, (key, step.backend)
        if step.models:
            assert set(step.models) <= set(svc.models), (key, step.backend)
            assert all(isinstance(v, str) and v for v in step.models.values())


def test_local_steps_exist_for_exactly_the_five_local_services_and_come_first(catalog):
    with_local = {
        key for key, svc in catalog.services.items()
        if any(step.backend == "local" for step in svc.chain)
    }
    assert with_local == set(LOCAL_TASK)
    for key, task in LOCAL_TASK.items():
        chain = catalog.services[key].chain
        assert chain[0].backend == "local" and chain[0].task == task
        assert len(chain) >= 2, f"{key} needs a remote backend behind the local one"
        assert all(step.backend != "local" for step in chain[1:])


def test_local_embeddings_serve_the_default_model(catalog):
    svc = catalog.services["embedding-l4"]
    assert svc.default_model == "all-MiniLM-L6-v2"
    assert svc.chain[0].upstream_model(svc.default_model) == "all-MiniLM-L6-v2"
    # The local model only answers for itself: asking for bge-m3 goes remote.
    assert svc.chain[0].upstream_model("bge-m3") is None
    assert any(step.upstream_model("bge-m3") == "BAAI/bge-m3" for step in svc.chain)


def test_embedding_input_matches_the_reference(catalog):
    assert catalog.services["embedding-l4"].input["text"] == {
        "type": "text_or_list", "required": True, "max_length": 8192, "max_items": 128,
    }


@pytest.mark.parametrize("key", sorted(SERVICE_KEYS))
def test_model_enums_and_public_models_agree(catalog, key):
    svc = catalog.services[key]
    field = svc.input.get("model")
    if not svc.models:
        assert field is None, f"{key} has a model field but no public models"
        return
    assert field is not None, f"{key} lists public models but takes no model field"
    assert field["type"] == "string"
    assert list(field["enum"]) == list(svc.models)
    assert field["default"] == svc.default_model
    assert field["default"] in svc.models
    assert len(set(svc.models)) == len(svc.models)
    for model in svc.models:
        assert any(step.upstream_model(model) for step in svc.chain), f"{key}: {model} unserved"


def test_llm_offers_every_reference_model(catalog):
    svc = catalog.services["llm-4090"]
    assert set(svc.models) == LLM_REFERENCE_MODELS
    assert svc.default_model == "llama-3.3-70b-versatile"
    groq = next(step for step in svc.chain if step.backend == "groq")
    assert groq.upstream_model("llama-3.3-70b-versatile") == "llama-3.3-70b-versatile"
    assert groq.upstream_model("llama-4-scout") == "meta-llama/llama-4-scout-17b-16e-instruct"
    assert groq.upstream_model("deepseek-v3.1") is None  # not a Groq model
    for model in svc.models:
        served_by = [s.backend for s in svc.chain if s.upstream_model(model)]
        assert served_by, model


def test_image_generation_offers_every_reference_model(catalog):
    svc = catalog.services["image-4090"]
    assert set(svc.models) == IMAGE_REFERENCE_MODELS
    assert svc.default_model == "flux-schnell"
    assert set(svc.pricing.by_model) == IMAGE_REFERENCE_MODELS


@pytest.mark.parametrize("key", sorted(SERVICE_KEYS))
def test_pricing_kind(catalog, key):
    assert catalog.services[key].pricing.kind == PRICING_KIND[key]


def test_llm_is_priced_per_token_for_every_model_with_the_reference_minimum(catalog):
    svc = catalog.services["llm-4090"]
    pricing = svc.pricing
    assert pricing.flat == 3_000  # $0.003 per request at least
    assert pricing.minimum == 3_000
    assert set(pricing.per_mtok) == set(svc.models)
    for model, (inp, out) in pricing.per_mtok.items():
        assert 0 < inp and 0 < out, model
    # Groq's published prices for the default model, per million tokens.
    assert pricing.per_mtok["llama-3.3-70b-versatile"] == (590_000, 790_000)
    assert pricing.per_mtok["llama-3.1-8b-instant"] == (50_000, 80_000)


def test_image_generation_is_priced_per_output(catalog):
    pricing = catalog.services["image-4090"].pricing
    assert pricing.by_model["flux-schnell"] == 3_000
    assert pricing.by_model["flux-dev"] == 25_000
    assert pricing.flat == 3_000
    assert pricing.outputs_field == "num_outputs"
    field = catalog.services["image-4090"].input["num_outputs"]
    assert (field["type"], field["min"], field["max"], field["default"]) == ("integer", 1, 4, 1)


@pytest.mark.parametrize("key", sorted(FLAT_PRICES))
def test_flat_prices_equal_the_reference(catalog, key):
    assert catalog.services[key].pricing.flat == FLAT_PRICES[key]


@pytest.mark.parametrize("key", sorted(PER_SECOND_TYPICAL))
def test_per_second_estimate_lands_on_the_reference_price(catalog, key):
    svc = catalog.services[key]
    pricing = svc.pricing
    assert pricing.per_second > 0
    assert pricing.minimum == PER_SECOND_MINIMUM.get(key, 10_000)
    estimate = max(pricing.minimum, pricing.per_second * svc.estimated_millis // 1000)
    assert estimate == PER_SECOND_TYPICAL[key]


def test_every_amount_is_a_quoted_decimal_of_at_most_six_places(raw):
    amounts = []
    for key, svc in raw["services"].items():
        pricing = svc["pricing"]
        for name in ("usd", "usd_per_second", "minimum_usd"):
            if name in pricing:
                amounts.append((key, pricing[name]))
        amounts += [(key, v) for v in (pricing.get("by_model") or {}).values()]
        for v in (pricing.get("per_mtok") or {}).values():
            amounts += [(key, v["input"]), (key, v["output"])]
        amounts += [(key, step["cost_usd"]) for step in svc["backends"] if "cost_usd" in step]
    assert amounts
    for key, amount in amounts:
        assert isinstance(amount, str), (key, amount)
        value = Decimal(amount)
        assert value >= 0 and -value.as_tuple().exponent <= 6, (key, amount)


def test_every_step_states_its_cost(raw):
    for key, svc in raw["services"].items():
        for step in svc["backends"]:
            assert "cost_usd" in step, (key, step["backend"])


# ------------------------------------------------------------------ input schemas


def _accepts(rules: dict, value) -> bool:
    """A small reading of the field rules, enough to check the reference examples."""
    kind = rules["type"]
    if kind in ("string", "url"):
        ok = isinstance(value, str)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "string_list":
        ok = isinstance(value, list) and all(
            isinstance(v, str) and len(v) <= rules.get("max_length", len(v)) for v in value)
    elif kind == "text_or_list":
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value))
    else:
        return False
    if not ok:
        return False
    if "enum" in rules and value not in rules["enum"]:
        return False
    if "min" in rules and value < rules["min"]:
        return False
    if "max" in rules and value > rules["max"]:
        return False
    if isinstance(value, str):
        if len(value) < rules.get("min_length", 0):
            return False
        if "max_length" in rules and len(value) > rules["max_length"]:
            return False
    if isinstance(value, list) and "max_items" in rules and len(value) > rules["max_items"]:
        return False
    return True


@pytest.mark.parametrize("key", sorted(SERVICE_KEYS))
def test_reference_example_input_is_accepted(catalog, key):
    schema = catalog.services[key].input
    example = REFERENCE_INPUTS[key]
    assert set(example) <= set(schema), f"{key}: unknown fields {set(example) - set(schema)}"
    for name, value in example.items():
        assert _accepts(schema[name], value), (key, name, value)
    for name, rules in schema.items():
        if rules.get("required"):
            assert name in example, f"{key}: {name} is required but the reference omits it"


@pytest.mark.parametrize("key", sorted(SERVICE_KEYS))
def test_field_rules_are_consistent(catalog, key):
    for name, rules in catalog.services[key].input.items():
        where = f"{key}.{name}"
        assert rules["type"] in FIELD_TYPES, where
        assert set(rules) <= {"type", "required", "default", "enum", "min", "max",
                              "min_length", "max_length", "max_items"}, where
        if name in MEDIA_FIELDS:
            assert rules["type"] == "url", where
        if rules["type"] in ("string", "text_or_list") and not rules.get("enum"):
            assert "max_length" in rules, f"{where}: free text needs a max_length"
        if rules["type"] in ("string_list", "text_or_list"):
            assert "max_items" in rules, f"{where}: lists need max_items"
            assert "max_length" in rules, f"{where}: list items need a max_length"
        if "enum" in rules:
            kind = {"string": str, "integer": int}[rules["type"]]
            assert all(type(v) is kind for v in rules["enum"]), where  # "1:1" stays a string
        if "min" in rules and "max" in rules:
            assert rules["min"] <= rules["max"], where
        if "default" in rules:
            assert not rules.get("required"), f"{where}: a required field has no use for a default"
            assert _accepts(rules, rules["default"]), where


def test_production_bounds(catalog):
    llm = catalog.services["llm-4090"].input
    assert llm["prompt"]["max_length"] == 32000 and llm["prompt"]["required"]
    assert (llm["max_tokens"]["min"], llm["max_tokens"]["max"], llm["max_tokens"]["default"]) \
        == (1, 8192, 512)
    assert (llm["temperature"]["type"], llm["temperature"]["min"], llm["temperature"]["max"]) \
        == ("number", 0, 2)
    assert not llm["system"].get("required")
    assert catalog.services["image-4090"].input["prompt"]["max_length"] == 2000
    assert catalog.services["upscale-l4"].input["scale"] == {
        "type": "integer", "enum": [2, 4], "default": 2}
    assert catalog.services["pdf-parse"].input["mode"]["enum"] == ["fast", "accurate"]
    rerank = catalog.services["rerank"].input
    assert rerank["documents"]["type"] == "string_list" and rerank["documents"]["max_items"]
    assert rerank["top_n"]["type"] == "integer"
    enhance = catalog.services["video-enhance"].input
    assert "1080p" in enhance["resolution"]["enum"] and 60 in enhance["fps"]["enum"]
    music = catalog.services["musicgen-l4"].input["duration_seconds"]
    assert music["type"] == "integer" and music["min"] >= 1 and music["max"] <= 60
    assert catalog.services["tts-l4"].input["voice"]["type"] == "string"


# ------------------------------------------------------------------ the loader refuses


def _minimal() -> dict:
    return {
        "backends": {
            "local": {"adapter": "local"},
            "replicate": {"adapter": "replicate", "env": "REPLICATE",
                          "base_url": "https://api.replicate.com/v1"},
        },
        "services": {
            "ocr": {
                "name": "OCR",
                "family": "image",
                "pricing": {"kind": "per_second", "usd_per_second": "0.0025",
                            "minimum_usd": "0.01"},
                "input": {"image_url": {"type": "url", "required": True}},
                "backends": [
                    {"backend": "local", "task": "ocr", "cost_usd": "0"},
                    {"backend": "replicate", "task": "predict", "model": "datalab-to/ocr"},
                ],
            },
        },
    }


def test_minimal_catalog_parses():
    catalog = parse_catalog(_minimal())
    assert catalog.services["ocr"].pricing.per_second == 2_500
    assert catalog.services["ocr"].pricing.minimum == 10_000


def test_the_shipped_yaml_reparses_to_the_same_services(raw, catalog):
    # Services compare by identity (one per load), so compare their fields.
    again = parse_catalog(copy.deepcopy(raw))
    assert set(again.services) == set(catalog.services)
    for key, svc in catalog.services.items():
        for f in dataclasses.fields(svc):
            assert getattr(again.services[key], f.name) == getattr(svc, f.name), (key, f.name)


@pytest.mark.parametrize("field_name", ["usd_per_second", "minimum_usd"])
def test_refuses_a_float_price(field_name):
    data = _minimal()
    data["services"]["ocr"]["pricing"][field_name] = 0.01
    with pytest.raises(CatalogError):
        parse_catalog(data)


def test_refuses_an_unquoted_price_in_yaml_text():
    text = """
backends:
  local: {adapter: local}
services:
  embedding-l4:
    name: Text Embeddings
    family: text
    pricing: {kind: flat, usd: 0.01}
    input:
      text: {type: text_or_list, required: true}
    backends:
      - {backend: local, task: embed, model: all-MiniLM-L6-v2}
"""
    with pytest.raises(CatalogError):
        parse_catalog(yaml.safe_load(text))
    assert parse_catalog(yaml.safe_load(text.replace("usd: 0.01", 'usd: "0.01"')))


def test_refuses_a_float_step_cost_and_a_float_per_mtok():
    data = _minimal()
    data["services"]["ocr"]["backends"][1]["cost_usd"] = 0.005
    with pytest.raises(CatalogError):
        parse_catalog(data)
    data = _minimal()
    data["services"]["ocr"]["pricing"] = {
        "kind": "per_token", "usd": "0.003", "per_mtok": {"m": {"input": 0.59, "output": "0.79"}}}
    with pytest.raises(CatalogError):
        parse_catalog(data)


def test_durations_become_whole_milliseconds_rounded_up_through_decimal():
    data = _minimal()
    # A float reads this as 4.0 and loses what lies past the millisecond.
    data["services"]["ocr"]["estimated_seconds"] = "4.0000000000000000001"
    data["services"]["ocr"]["timeout_seconds"] = 2.5
    ocr = parse_catalog(data).services["ocr"]
    assert (ocr.estimated_millis, ocr.timeout_millis) == (4_001, 2_500)
    # The hold for the typical run: 4.001 s at $0.0025/s, rounded up to the micro-dollar.
    assert estimate(ocr, {}) == 10_003


@pytest.mark.parametrize("bad", [0, -1, "soon", "NaN"])
def test_refuses_a_duration_that_is_not_a_positive_number(bad):
    data = _minimal()
    data["services"]["ocr"]["estimated_seconds"] = bad
    with pytest.raises(CatalogError, match="estimated_seconds"):
        parse_catalog(data)


def test_refuses_an_unknown_backend():
    data = _minimal()
    data["services"]["ocr"]["backends"].append({"backend": "openrouter", "task": "chat"})
    with pytest.raises(CatalogError):
        parse_catalog(data)


def test_refuses_an_unknown_field_type():
    data = _minimal()
    data["services"]["ocr"]["input"]["image_url"]["type"] = "image"
    with pytest.raises(CatalogError):
        parse_catalog(data)


@pytest.mark.parametrize("chain", [[], None])
def test_refuses_an_empty_chain(chain):
    data = _minimal()
    data["services"]["ocr"]["backends"] = chain
    with pytest.raises(CatalogError):
        parse_catalog(data)


def test_refuses_a_task_the_adapter_lacks_and_a_missing_key():
    data = _minimal()
    data["services"]["ocr"]["backends"][0]["task"] = "chat"  # local has no chat
    with pytest.raises(CatalogError, match="no task 'chat'"):
        parse_catalog(data)
    data = _minimal()
    del data["services"]["ocr"]["name"]
    with pytest.raises(CatalogError, match="off-format"):
        parse_catalog(data)


def test_refuses_an_unknown_family_and_pricing_kind():
    data = _minimal()
    data["services"]["ocr"]["family"] = "gpu"
    with pytest.raises(CatalogError):
        parse_catalog(data)
    data = _minimal()
    data["services"]["ocr"]["pricing"]["kind"] = "per_minute"
    with pytest.raises(CatalogError):
        parse_catalog(data)


# ------------------------------------------------------------------ with the real consumers


@pytest.mark.parametrize("key", sorted(SERVICE_KEYS))
def test_reference_example_passes_the_api_input_schema(catalog, key):
    from app.schemas import input_schema

    loaded = input_schema(catalog.services[key]).load(REFERENCE_INPUTS[key])
    for name, rules in catalog.services[key].input.items():
        if "default" in rules and name not in REFERENCE_INPUTS[key]:
            assert loaded[name] == rules["default"], (key, name)


def test_reference_prices_through_the_pricing_functions(catalog):
    from billing.pricing import estimate

    def price(key, data=None, model=None):
        svc = catalog.services[key]
        return estimate(svc, data or {}, model or svc.default_model)

    assert price("embedding-l4", {"text": "hi"}) == 10_000
    assert price("rerank") == 1_000
    assert price("image-4090", {"num_outputs": 1}, "flux-schnell") == 3_000
    assert price("image-4090", {"num_outputs": 2}, "flux-dev") == 50_000
    assert price("llm-4090", {"prompt": "Hello", "max_tokens": 16}) == 3_000  # the minimum
    for key, typical in PER_SECOND_TYPICAL.items():
        assert price(key) == typical, key
