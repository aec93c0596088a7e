"""Server-rendered pages: landing, catalog, account dashboard, status. No front-end build."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from billing.money import format_usd
from billing.pricing import estimate

from ..catalog import load_catalog
from .catalog import service_view

bp = Blueprint("pages", __name__)


def wants_html() -> bool:
    """True when the client prefers HTML to JSON (a browser); API clients get JSON."""
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["application/json"]


@bp.before_app_request
def _catalog_page_for_browsers():
    # GET /catalog stays the JSON catalog for clients; a browser asking for HTML gets the page.
    if request.method == "GET" and request.path == "/catalog" and wants_html() \
            and request.args.get("format") != "json":
        return catalog_page()
    return None


@bp.get("/")
def landing():
    """The landing page."""
    catalog = load_catalog()
    families = sorted({s.family for s in catalog.services.values()})
    cheapest = min(catalog.services.values(), key=lambda s: estimate(s, {}, s.default_model))
    return render_template("landing.html", count=len(catalog.services), families=families,
                           cheapest=cheapest,
                           cheapest_price=format_usd(estimate(cheapest, {},
                                                              cheapest.default_model)))


@bp.get("/catalog/browse")
def catalog_page():
    """The catalog as a page, filterable by family and price (also GET /catalog as HTML)."""
    services = [service_view(s) for s in load_catalog().services.values()]
    families = sorted({s["family"] for s in services})
    return render_template("catalog.html", services=services, families=families)


@bp.get("/account/dashboard")
def dashboard():
    """Balance, spend, top-up and job history; the page calls the JSON API with the key."""
    return render_template("dashboard.html")


@bp.get("/status")
def status_page():
    """Live checks of the database, Redis, queues and backends (reads /health)."""
    return render_template("status.html")
