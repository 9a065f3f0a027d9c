"""Probes, unknown routes, and the OpenAPI document that admins browse."""

from fastapi.testclient import TestClient


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "reachable"


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = client.put("/v1/articles")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"


def test_every_operation_has_summary_and_typed_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method} {path} has no summary"
            errors = [code for code in operation["responses"] if code.startswith(("4", "5"))]
            if path.startswith("/v1"):
                assert errors, f"{method} {path} declares no error responses"
            for code in errors:
                content = operation["responses"][code].get("content", {})
                if path.startswith("/v1"):
                    assert "application/problem+json" in content, f"{method} {path} {code}"


def test_request_bodies_have_examples_and_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    create = spec["paths"]["/v1/articles"]["post"]["requestBody"]["content"]
    assert set(create) == {"application/json", "text/plain", "text/html"}
    assert create["text/plain"]["example"].startswith("Iranian head")
    schemas = spec["components"]["schemas"]
    assert schemas["ArticleIn"]["examples"]
    assert {"ImportRequest", "ImportResponse", "Problem", "ArticleRead"} <= set(schemas)
    imports = spec["paths"]["/v1/imports"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-ndjson"} <= set(imports)


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
