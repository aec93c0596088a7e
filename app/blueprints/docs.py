"""The API's self-description: /openapi.json, /docs, /llms.txt, /robots.txt, ai-plugin.json."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request

from ..catalog import load_catalog
from ..discovery import ai_plugin, llms_txt, robots_txt
from ..openapi import build_openapi

bp = Blueprint("docs", __name__)


def _base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] or request.host_url


def openapi_document() -> dict:
    return build_openapi(current_app, load_catalog(), _base_url().rstrip("/"))


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document of this API."""
    return openapi_document()


@bp.get("/docs")
def docs_page():
    """Human-readable API reference, rendered from the OpenAPI document."""
    return render_template("docs.html", spec=openapi_document())


@bp.get("/llms.txt")
def llms():
    """What the API is and every service, for language models."""
    return Response(llms_txt(load_catalog(), _base_url()), mimetype="text/plain")


@bp.get("/robots.txt")
def robots():
    """Crawler rules and pointers to the discovery files."""
    return Response(robots_txt(_base_url()), mimetype="text/plain")


@bp.get("/.well-known/ai-plugin.json")
def plugin_manifest():
    """The AI plugin manifest, pointing at /openapi.json."""
    return ai_plugin(load_catalog(), _base_url())
