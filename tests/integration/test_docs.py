"""The API's self-description: OpenAPI from the validating schemas, docs, discovery files."""
from openapi_spec_validator import validate

from app.catalog import load_catalog
from app.openapi import openapi_path


def test_openapi_is_valid_and_lists_every_route(app, client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
        assert methods <= set(spec["paths"][openapi_path(rule.rule)]), rule.rule


def test_every_error_response_is_the_shared_shape(client):
    spec = client.get("/openapi.json").get_json()
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "code", "hint"}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and not path.startswith("/v1/"):
                    schema = response["content"]["application/json"]["schema"]
                    # /health answers its report when degraded, not an error.
                    expected = "Health" if (path, status) == ("/health", "503") else "Error"
                    assert schema == {"$ref": f"#/components/schemas/{expected}"}, (path, status)
    run = spec["paths"]["/run"]["post"]
    assert {"400", "401", "402", "429", "503"} <= set(run["responses"])
    assert "Retry-After" in run["responses"]["429"]["headers"]


def test_run_request_has_one_variant_per_service_with_its_input_schema(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    catalog = load_catalog()
    mapping = schemas["RunRequest"]["discriminator"]["mapping"]
    assert set(mapping) == set(catalog.services)
    for key, service in catalog.services.items():
        component = schemas[f"Input_{key}"]
        assert set(component["properties"]) == set(service.input)
        required = {name for name, rules in service.input.items() if rules.get("required")}
        assert set(component.get("required", [])) == required
        assert component["additionalProperties"] is False  # unknown fields are refused


def test_openapi_input_schema_agrees_with_validation(client):
    """A value the OpenAPI enum forbids is refused by POST /run's validation too."""
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert schemas["Input_upscale-l4"]["properties"]["scale"]["enum"] == [2, 4]
    assert schemas["Input_embedding-l4"]["properties"]["text"]["oneOf"][1]["type"] == "array"


def test_docs_page_shows_every_path(client):
    spec = client.get("/openapi.json").get_json()
    page = client.get("/docs")
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    html = page.get_data(as_text=True)
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in html


def test_llms_txt_robots_and_plugin_follow_the_catalog(client):
    catalog = load_catalog()
    llms = client.get("/llms.txt")
    assert llms.content_type.startswith("text/plain")
    text = llms.get_data(as_text=True)
    assert f"{len(catalog.services)} services" in text
    for key in catalog.services:
        assert f"`{key}`" in text
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert "Disallow: /account/" in robots and "/llms.txt" in robots
    plugin = client.get("/.well-known/ai-plugin.json").get_json()
    assert plugin["api"]["url"].endswith("/openapi.json")
    assert all(key in plugin["description_for_model"] for key in catalog.services)


def test_catalog_stays_json_for_clients_and_is_a_page_for_browsers(client):
    assert client.get("/catalog").content_type == "application/json"
    assert client.get("/catalog", headers={"Accept": "*/*"}).content_type == "application/json"
    page = client.get("/catalog", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.content_type.startswith("text/html")
    assert "embedding-l4" in page.get_data(as_text=True)
    forced = client.get("/catalog?format=json", headers={"Accept": "text/html"})
    assert forced.content_type == "application/json"
