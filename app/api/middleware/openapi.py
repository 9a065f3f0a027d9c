"""What the security middleware does, written into the OpenAPI schema: open routes need no
key, the others may answer 401, 403 and 429, and the idempotent POSTs take Idempotency-Key.
Derived from the same rules the middleware applies, so the two cannot drift apart."""

from typing import Any

from app.api.errors import PROBLEM_JSON, problem_responses
from app.api.middleware.idempotency import is_idempotent
from app.config import Settings
from app.security.keys import required_scope

METHODS = {"get", "head", "options", "post", "put", "patch", "delete"}
IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "A unique value per logical request (a UUID, say). Retrying with the same "
    "key and the same body returns the first response (with `Idempotent-Replayed: true`) "
    "and stores nothing again; the same key with another body is a 422, and while the "
    "first request still runs a 409. Keys are kept for IDEMPOTENCY_TTL_HOURS.",
}


def document_security(schema: dict[str, Any], settings: Settings) -> None:
    """Mark open routes `security: []`; declare 401/403/429 and Idempotency-Key elsewhere."""
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method in METHODS:
                _document(operation, method.upper(), path, settings)


def _document(operation: dict[str, Any], method: str, path: str, settings: Settings) -> None:
    needed = required_scope(method, path)
    if needed is None:
        operation["security"] = []
        return
    if needed == "read" and settings.public_reads:
        operation["security"] = [{}, {"ApiKey": []}]  # the key is optional
    responses = operation.setdefault("responses", {})
    _add(responses, 401)
    _add(responses, 403, f"The API key lacks the `{needed}` scope.")
    _add(responses, 429)
    if any(p.get("name") == "restore" for p in operation.get("parameters", [])):
        _add(responses, 403, "`?restore=true` needs the `admin` scope: it undoes a takedown.")
    if is_idempotent(method, path):
        operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
        _add(responses, 409, "A request with this Idempotency-Key is still in progress.")
        _add(responses, 422, "The Idempotency-Key was used before with another request.")


def _add(responses: dict[str, Any], code: int, description: str | None = None) -> None:
    """Declare a problem response, or extend the description of the one already declared."""
    if str(code) in responses:
        if description:
            existing = responses[str(code)].get("description", "")
            addition = description[0].lower() + description[1:]
            responses[str(code)]["description"] = f"{existing} Or: {addition}".strip()
        return
    entry = problem_responses(code)[code] if description is None else _problem(description)
    responses[str(code)] = entry


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}
