"""The OpenAPI document declares the refusals each route can answer (the fuzzer found 401, 400 and 404 missing)."""

from __future__ import annotations

from harness.api import Api


def test_every_operation_declares_its_refusals_with_their_body(sqlite_api: Api) -> None:
    document = sqlite_api.client.get("/openapi.json").json()
    assert document["components"]["schemas"]["Refusal"]["required"] == ["detail", "message", "message_ar"]
    operations = [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]
    assert len(operations) >= 70
    for path, method, op in operations:
        codes = set(op["responses"])
        assert {"404", "422"} <= codes, (method, path)
        if op.get("security") or "auth" in op.get("tags", []):
            assert {"401", "403"} <= codes, (method, path)
        if "requestBody" in op:
            assert "400" in codes, (method, path)  # a body that is not UTF-8 JSON
        for code in codes - {"200", "201", "202", "204"}:  # 202: a citizen's code was asked for
            assert op["responses"][code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Refusal"}, (method, path, code)
    board = document["paths"]["/api/queue/board/events"]["get"]["responses"]["200"]["content"]
    assert list(board) == ["text/event-stream"]


def test_the_declared_refusal_matches_what_the_api_answers(sqlite_api: Api) -> None:
    unauthenticated = sqlite_api.client.get("/api/cases")
    assert unauthenticated.status_code == 401 and isinstance(unauthenticated.json()["detail"], str)
    wrong_login = sqlite_api.client.post("/api/auth/token", data={"username": "nobody", "password": "x"})
    assert wrong_login.status_code == 401  # declared on the sign-in route too
    not_json = sqlite_api.client.post("/api/cases", content=b"\xff\xfe", headers={
        **sqlite_api.user("front_desk"), "content-type": "application/json"})
    assert not_json.status_code in (400, 422) and "detail" in not_json.json()


def test_the_work_distribution_routes_are_documented(sqlite_api: Api) -> None:
    """Issue 18's API, as it names it, is in the OpenAPI document with the methods it names."""
    paths = sqlite_api.client.get("/openapi.json").json()["paths"]
    wanted = {
        "/api/centers/{code}/assignment/{lane}": {"put"},
        "/api/tasks": {"get"},
        "/api/tasks/{task_id}": {"get"},
        "/api/users/{username}/absences": {"get", "post"},
        "/api/me/availability": {"put", "get"},
        "/api/supervisor/bulk": {"post"},
        "/api/incidents": {"get"},
        "/api/incidents/{incident_id}/retry": {"post"},
        "/api/incidents/{incident_id}/skip": {"post"},
        "/api/incidents/{incident_id}/cancel": {"post"},
        "/api/supervisor/workload": {"get"},
    }
    for path, methods in wanted.items():
        assert path in paths and methods <= set(paths[path]), (path, sorted(paths.get(path, {})))
    deleting = [p for p in paths if p.startswith("/api/users/{username}/absences/") and "delete" in paths[p]]
    assert len(deleting) == 1, deleting
    document = sqlite_api.client.get("/openapi.json").json()
    ref = paths["/api/tasks/{task_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    task = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "assigned_to" in task["properties"] and "delegated_from" in task["properties"]
