"""The OpenAPI 3 document, built from the marshmallow schemas that validate requests
(schemas.py, one input schema per catalog service) and those that describe answers.

Blueprints add their own operations and components to app.extensions["openapi"] (see
document()). Every route of the app appears: the ones in OPERATIONS with their schemas, any other one with
its view's docstring and the shared error responses, so a new endpoint is never missing.
"""
from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from . import openapi_more
from . import response_schemas as out
from . import schemas
from .catalog import Catalog

BEARER = [{"bearerAuth": []}]
STATUS_TEXT = {400: "Bad input; nothing changed", 401: "Missing or invalid API key",
               402: "Not enough credit", 404: "Not found", 409: "Conflict",
               413: "Body too large", 415: "Not JSON", 429: "Rate limited (see Retry-After)",
               500: "Server error", 503: "A store or every backend is down"}
# path -> method -> (summary, request schema name or None, response schema name or None,
#                    success status, error statuses, needs auth, tag[, error schema name])
OPERATIONS = {
    "/run": {"post": ("Submit a job to any service", "RunRequest", "RunAccepted", 202,
                      (400, 401, 402, 413, 415, 503), True, "jobs")},
    "/status/{job_id}": {"get": ("A job's status, output and cost", None, "JobStatus", 200,
                                 (404,), False, "jobs")},
    "/account/register": {"post": ("Create an account and its API key", "RegisterRequest",
                                   "Registered", 201, (400, 409), False, "account")},
    "/account/balance": {"get": ("Balance, held credit, daily spend and limit", None,
                                 "Balance", 200, (401,), True, "account")},
    "/account/jobs": {"get": ("Job history with costs, newest first", None, "JobPage", 200,
                              (400, 401), True, "account")},
    "/catalog": {"get": ("Every service with prices, models and input schema (JSON; a browser "
                         "asking for text/html gets the catalog page)", None, "CatalogView",
                         200, (), False, "catalog")},
    "/catalog/estimate": {"get": ("Estimated cost of a service (an API key, if sent, applies "
                                  "its volume discount)", None, "Estimate", 200, (400, 401),
                                  False, "catalog")},
    # 503 answers the same Health body, with status "degraded".
    "/health": {"get": ("Database, Redis, queues and backends", None, "Health", (200, 503), (),
                        False, "operations")},
    **openapi_more.OPERATIONS,
}
RESPONSE_SCHEMAS = ("Error", "RunAccepted", "JobStatus", "Registered", "Balance", "JobPage",
                    "CatalogView", "Estimate", "Health", *openapi_more.RESPONSE_SCHEMAS)
QUERY = {
    "/account/jobs": [("limit", "integer", "1 to 100, default 20"),
                      ("cursor", "string", "next_cursor of the previous page")],
    "/catalog/estimate": [("service", "string", "a service key"),
                          ("seconds", "number", "expected run time")],
    **openapi_more.QUERY,
}
PATH_TYPES = {"delivery_id": "integer"}


def _text_or_list(self, field, **kwargs) -> dict:
    """TextOrList is a string or a list of strings."""
    if isinstance(field, schemas.TextOrList):
        return {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    return {}


def _new_spec(base_url: str | None) -> tuple[APISpec, MarshmallowPlugin]:
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)
    spec = APISpec(title="GPU-Bridge API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[plugin], info={"description": "One POST /run for every AI service "
                                           "in the catalog; money is exact USD numbers."},
                   servers=[{"url": base_url}] if base_url else [])
    plugin.converter.add_attribute_function(_text_or_list)
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                   "description": "gpub_... API key"})
    return spec, plugin


def _run_request(spec: APISpec, catalog: Catalog) -> None:
    """RunRequest: one variant per service, told apart by `service`, each with its input."""
    variants, mapping = [], {}
    for key, service in catalog.services.items():
        spec.components.schema(f"Input_{key}", schema=schemas.input_schema(service))
        name = f"RunRequest_{key}"
        spec.components.schema(name, {
            "type": "object", "required": ["service", "input"], "additionalProperties": False,
            "description": f"{service.name}: {service.description}",
            "properties": {
                "service": {"type": "string", "enum": [key]},
                "input": {"$ref": f"#/components/schemas/Input_{key}"},
                "webhook_url": {"type": "string", "nullable": True, "maxLength": 2048}}})
        variants.append({"$ref": f"#/components/schemas/{name}"})
        mapping[key] = f"#/components/schemas/{name}"
    spec.components.schema("RunRequest", {
        "oneOf": variants, "discriminator": {"propertyName": "service", "mapping": mapping},
        "description": "Validated as schemas.RunRequest, then input against the service's "
                       "Input_<service> schema."})


def _content(ok_schema: str | None) -> dict:
    """A schema name is a JSON body; a media type ("text/html", "*/*") a body of that type."""
    if ok_schema is None:
        return {}
    if "/" in ok_schema:
        return {"content": {ok_schema: {"schema": {"type": "string"}}}}
    return {"content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{ok_schema}"}}}}


def _responses(ok_status, ok_schema: str | None, errors, auth: bool,
               error_schema: str = "Error") -> dict:
    statuses = ok_status if isinstance(ok_status, tuple) else (ok_status,)
    responses = {str(status): {"description": "OK" if status < 300 else
                               STATUS_TEXT.get(status, "Error"), **_content(ok_schema)}
                 for status in statuses}
    codes = set(errors) | {429, 500} | ({401} if auth else set())
    for code in sorted(codes):
        responses[str(code)] = {"description": STATUS_TEXT.get(code, "Error"),
                                "content": {"application/json": {"schema": {
                                    "$ref": f"#/components/schemas/{error_schema}"}}}}
    if 429 in codes:
        responses["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                       "description": "seconds to wait"}}
    return responses


def _operation(path: str, method: str, row: tuple) -> dict:
    summary, request, response, ok, errors, auth, tag, *error_schema = row
    operation = {"summary": summary, "tags": [tag],
                 "operationId": f"{method}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
                 "responses": _responses(ok, response, errors, auth, *error_schema)}
    if auth:
        operation["security"] = BEARER
    if request:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{request}"}}}}
    params = [{"name": name, "in": "query", "required": path == "/catalog/estimate"
               and name == "service",
               "schema": {"type": kind}, "description": text}
              for name, kind, text in QUERY.get(path, [])]
    params += [{"name": name, "in": "path", "required": True,
                "schema": {"type": PATH_TYPES.get(name, "string")}}
               for name in re.findall(r"{(\w+)}", path)]
    if params:
        operation["parameters"] = params
    return operation


def document(app: Flask, operations: dict, components: dict | None = None) -> None:
    """Let a blueprint describe its routes (rows as in OPERATIONS; components are marshmallow
    Schema classes or OpenAPI dicts)."""
    extra = app.extensions.setdefault("openapi", {"operations": {}, "components": {}})
    extra["operations"].update(operations)
    extra["components"].update(components or {})


def openapi_path(rule: str) -> str:
    """Flask's /status/<job_id> as OpenAPI's /status/{job_id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _route_docs(app: Flask) -> dict:
    """Every app route: path -> method -> the view's one-line docstring."""
    found: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        doc = (app.view_functions[rule.endpoint].__doc__ or rule.endpoint).strip()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.setdefault(openapi_path(rule.rule), {})[method.lower()] = doc.splitlines()[0]
    return found


def build_openapi(app: Flask, catalog: Catalog, base_url: str | None = None) -> dict:
    """The whole OpenAPI document for `app` serving `catalog`."""
    spec, _plugin = _new_spec(base_url)
    for name in RESPONSE_SCHEMAS:
        spec.components.schema(name, schema=getattr(out, name))
    spec.components.schema("RegisterRequest", schema=schemas.RegisterRequest)
    for name, component in openapi_more.REQUESTS.items():
        spec.components.schema(name, component)
    _run_request(spec, catalog)
    extra = app.extensions.get("openapi", {})
    for name, component in extra.get("components", {}).items():
        if isinstance(component, dict):
            spec.components.schema(name, component)
        else:  # a marshmallow Schema class
            spec.components.schema(name, schema=component)
    operations = {**OPERATIONS, **extra.get("operations", {})}
    for path, methods in sorted(_route_docs(app).items()):
        documented = operations.get(path, {})
        spec.path(path=path, operations={
            method: _operation(path, method, documented[method]) if method in documented
            else _operation(path, method, (summary, None, None, 200, (), False, "other"))
            for method, summary in methods.items()})
    document_ = spec.to_dict()
    openapi_more.refine(document_, catalog)
    return document_
