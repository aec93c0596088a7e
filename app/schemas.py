"""Request schemas (marshmallow); the per-service input schemas are built from catalog.yaml."""
from __future__ import annotations

from functools import lru_cache

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from .catalog import Service
from .errors import ApiError

MAX_URL_LENGTH = 8 * 1024 * 1024  # data: URIs carry whole files inline


class TextOrList(fields.Field):
    """A string, or a non-empty list of strings (embedding inputs take both)."""

    def __init__(self, max_length: int | None = None, max_items: int | None = None, **kw):
        super().__init__(**kw)
        self.max_length = max_length
        self.max_items = max_items

    def _deserialize(self, value, attr, data, **kwargs):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise ValidationError("Must be a string or a non-empty list of strings.")
        if self.max_items and len(items) > self.max_items:
            raise ValidationError(f"At most {self.max_items} items.")
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise ValidationError("Every item must be a non-empty string.")
            if self.max_length and len(item) > self.max_length:
                raise ValidationError(f"Each text may be at most {self.max_length} characters.")
        return value


def _url(value: str) -> None:
    if not value.startswith(("https://", "http://", "data:")):
        raise ValidationError("Must be an https:// URL or a data: URI.")


def _http_url(value: str) -> None:
    if not value.lower().startswith(("https://", "http://")):
        raise ValidationError("Must be an https:// URL.")


def _validators(rules: dict) -> list:
    found = []
    if "enum" in rules:
        found.append(validate.OneOf(rules["enum"]))
    if "min" in rules or "max" in rules:
        found.append(validate.Range(min=rules.get("min"), max=rules.get("max")))
    if "min_length" in rules or "max_length" in rules:
        found.append(validate.Length(min=rules.get("min_length"), max=rules.get("max_length")))
    return found


def _field(rules: dict) -> fields.Field:
    kind = rules["type"]
    common = {"required": bool(rules.get("required"))}
    if "default" in rules:
        common["load_default"] = rules["default"]
    if kind == "text_or_list":
        return TextOrList(rules.get("max_length"), rules.get("max_items"), **common)
    if kind == "string_list":
        item = fields.String(validate=validate.Length(min=1, max=rules.get("max_length")))
        return fields.List(item, validate=validate.Length(min=1, max=rules.get("max_items")),
                           **common)
    if kind == "url":
        return fields.String(validate=[_url, validate.Length(max=MAX_URL_LENGTH)], **common)
    field_class = {"string": fields.String, "integer": fields.Integer, "number": fields.Float,
                   "boolean": fields.Boolean}[kind]
    extra = {"strict": True} if kind == "integer" else {}
    return field_class(validate=_validators(rules), **extra, **common)


@lru_cache(maxsize=None)
def input_schema(service: Service) -> Schema:
    """The marshmallow schema that validates `input` for one service."""
    field_map = {name: _field(rules) for name, rules in service.input.items()}
    return Schema.from_dict(field_map, name=f"Input_{service.key}")(unknown=RAISE)


class RunRequest(Schema):
    """POST /run body. `input` is checked separately against the service's own schema."""

    class Meta:
        unknown = RAISE

    service = fields.String(required=True, validate=validate.Length(min=1, max=64))
    input = fields.Dict(required=True)
    webhook_url = fields.String(validate=[_http_url, validate.Length(max=2048)], allow_none=True)
    # job.completed / job.failed / job.cancelled are always sent; job.started on request.
    webhook_events = fields.List(fields.String(validate=validate.OneOf(
        ("job.started", "job.completed", "job.failed", "job.cancelled"))),
        validate=validate.Length(max=4), allow_none=True)


class RegisterRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    email = fields.Email(required=True, validate=validate.Length(max=320))
    message = fields.String(validate=validate.Length(max=2000))  # POST /account/recover only


def validation_error(exc: ValidationError, prefix: str = "") -> ApiError:
    """The first problem of a marshmallow error as a 400 in the shared shape."""
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    name, problem = next(iter(messages.items()))
    while isinstance(problem, dict):  # nested (list items): dig to the first message
        key, problem = next(iter(problem.items()))
        name = f"{name}[{key}]" if isinstance(key, int) else f"{name}.{key}"
    text = problem[0] if isinstance(problem, list) and problem else str(problem)
    field_name = f"{prefix}{name}"
    if text == "Missing data for required field.":
        return ApiError(400, "missing_field", f"Missing required field '{field_name}'.",
                        "Add the field; GET /catalog shows each service's input schema.",
                        field=field_name)
    if text == "Unknown field.":
        return ApiError(400, "unknown_field", f"Unknown field '{field_name}'.",
                        "Remove it; GET /catalog shows each service's input schema.",
                        field=field_name)
    return ApiError(400, "invalid_field", f"Field '{field_name}': {text}",
                    "GET /catalog shows each service's input schema.", field=field_name)


def load(schema: Schema, data, prefix: str = "") -> dict:
    """Validate `data` with `schema`, raising the shared 400 on the first problem."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise validation_error(exc, prefix) from None
