"""The queue over HTTP: the kiosk without sign-in, the counters' actions and every refusal, the board and its
stream, and a case opened from a called ticket."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from harness.api import Api
from harness.settings import TEST_PROCESSES, make_settings


def issue(api: Api, category: str = "permits", priority: str = "normal") -> dict[str, object]:
    r = api.client.post("/api/queue/tickets", json={"category": category, "priority": priority})
    assert r.status_code == 201, r.text
    found: dict[str, object] = r.json()
    return found


def test_the_kiosk_issues_tickets_without_sign_in(api: Api) -> None:
    first = issue(api)
    assert (first["number"], first["status"], first["priority"]) == ("P-001", "waiting", "normal")
    assert first["estimated_wait_seconds"] == 0  # nobody ahead
    second = issue(api, priority="elderly")
    assert second["number"] == "P-002"
    assert second["estimated_wait_seconds"] == 300 * 1 / 2  # default service time, one ahead, two counters
    assert issue(api, "traffic")["number"] == "T-001"
    cats = {c["code"]: c for c in api.client.get("/api/queue/categories").json()}
    assert cats["permits"]["waiting"] == 2 and cats["permits"]["name"]["ar"] == "التراخيص"
    assert cats["permits"]["estimated_wait_seconds"] == 300.0
    got = api.client.get("/api/queue/tickets/p-2")
    assert got.status_code == 200 and got.json()["number"] == "P-002"


def test_kiosk_refusals(api: Api) -> None:
    r = api.client.post("/api/queue/tickets", json={"category": "weddings"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "category"
    r = api.client.post("/api/queue/tickets", json={"category": "permits", "priority": "vip"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "priority"
    assert api.client.post("/api/queue/tickets", json={"category": "permits", "x": 1}).status_code == 422
    assert api.client.get("/api/queue/tickets/P-404").status_code == 404
    assert api.client.get("/api/queue/tickets/nonsense").status_code == 404


def test_the_kiosk_is_throttled_per_address(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, tmp_path, queue_issue_max_per_ip=2)
    with TestClient(create_app(settings)) as client:
        codes = [client.post("/api/queue/tickets", json={"category": "permits"}).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_counters_call_recall_serve_and_finish(api: Api) -> None:
    clerk = api.user("front_desk")
    first, second = issue(api), issue(api)
    assert api.client.post("/api/queue/counters/1/call-next").status_code == 401
    assert api.client.post("/api/queue/counters/1/call-next", headers=api.user("engineering")).status_code == 403
    assert api.client.post("/api/queue/counters/9/call-next", headers=clerk).status_code == 404
    called = api.client.post("/api/queue/counters/1/call-next", headers=clerk)
    assert called.status_code == 200
    assert (called.json()["number"], called.json()["status"], called.json()["counter"]) == (first["number"],
                                                                                           "called", 1)
    assert api.client.post("/api/queue/counters/1/call-next", headers=clerk).status_code == 409  # still busy
    # Calling a ticket that was already called: 409.
    again = api.client.post(f"/api/queue/tickets/{first['number']}/call", json={"counter": 3}, headers=clerk)
    assert again.status_code == 409
    assert api.client.post("/api/queue/tickets/P-404/call", json={"counter": 3}, headers=clerk).status_code == 404
    recalled = api.client.post(f"/api/queue/tickets/{first['number']}/recall", headers=clerk)
    assert recalled.status_code == 200 and recalled.json()["recalls"] == 1
    assert api.client.post(f"/api/queue/tickets/{first['number']}/serve", headers=clerk).json()["status"] == "serving"
    assert api.client.post(f"/api/queue/tickets/{first['number']}/recall", headers=clerk).status_code == 409
    assert api.client.post(f"/api/queue/tickets/{first['number']}/done", headers=clerk).json()["status"] == "done"
    assert api.client.post(f"/api/queue/tickets/{first['number']}/done", headers=clerk).status_code == 409
    assert api.client.post("/api/queue/tickets/P-404/done", headers=clerk).status_code == 404
    # Out of turn, by number, at counter 3.
    out = api.client.post(f"/api/queue/tickets/{second['number']}/call", json={"counter": 3}, headers=clerk)
    assert out.status_code == 200 and out.json()["counter"] == 3
    gone = api.client.post(f"/api/queue/tickets/{second['number']}/no-show", headers=clerk)
    assert gone.status_code == 200 and gone.json()["status"] == "no_show"
    assert api.client.post("/api/queue/counters/1/call-next", headers=clerk).status_code == 404  # nobody waits
    board = api.client.get("/api/queue/board").json()
    assert [(c["ticket"], c["kind"], c["counter"]) for c in board["calls"]] == [
        (second["number"], "call", 3), (first["number"], "recall", 1), (first["number"], "call", 1)]


def test_counter_numbers_and_board_ids_beyond_the_database_integers_are_refused_not_500(api: Api) -> None:
    clerk, admin = api.user("front_desk"), api.user("admin")
    ticket = issue(api)
    huge = 2**31  # one past PostgreSQL's integer
    assert api.client.post(f"/api/queue/counters/{huge}/call-next", headers=clerk).status_code == 404
    assert api.client.post(f"/api/queue/tickets/{ticket['number']}/call", json={"counter": huge},
                           headers=clerk).status_code == 404
    put = api.client.put(f"/api/queue/counters/{huge}", json={"name": "Window", "categories": []}, headers=admin)
    assert put.status_code == 422 and put.json()["detail"][0]["field"] == "number"
    # A call's id is BIGINT (a center node's start at its center's id times 10^12): past that, refused.
    assert api.client.get(f"/api/queue/board/events?after={2**63}").status_code == 422


def test_transfer_and_the_waiting_list(api: Api) -> None:
    clerk = api.user("front_desk")
    ticket = issue(api, priority="disabled")
    number = ticket["number"]
    assert api.client.get("/api/queue/tickets").status_code == 401
    waiting = api.client.get("/api/queue/tickets", params={"category": ["permits"]}, headers=clerk).json()
    assert [t["number"] for t in waiting] == [number]
    assert api.client.post(f"/api/queue/tickets/{number}/transfer", json={"category": "traffic"},
                           headers=clerk).status_code == 409  # not called yet
    api.client.post("/api/queue/counters/1/call-next", headers=clerk)
    bad = api.client.post(f"/api/queue/tickets/{number}/transfer", json={"category": "weddings"}, headers=clerk)
    assert bad.status_code == 422
    moved = api.client.post(f"/api/queue/tickets/{number}/transfer", json={"category": "traffic"}, headers=clerk)
    assert moved.status_code == 200
    new = moved.json()
    assert (new["number"], new["status"], new["priority"], new["waiting_since"]) == (
        "T-001", "waiting", "disabled", ticket["waiting_since"])
    old = api.client.get(f"/api/queue/tickets/{number}").json()
    assert (old["status"], old["transferred_to"]) == ("transferred", "T-001")
    assert api.client.post("/api/queue/counters/2/call-next", headers=clerk).json()["number"] == "T-001"


def test_administrators_set_categories_and_counters(api: Api) -> None:
    admin, clerk = api.user("admin"), api.user("front_desk")
    body = {"letter": "J", "name_ar": "الجوازات", "name_en": "Passports", "services": ["passport"]}
    assert api.client.put("/api/queue/categories/passports", json=body, headers=clerk).status_code == 403
    r = api.client.put("/api/queue/categories/passports", json=body, headers=admin)
    assert r.status_code == 200 and r.json()["letter"] == "J"
    taken = api.client.put("/api/queue/categories/visas", json={**body, "letter": "P"}, headers=admin)
    assert taken.status_code == 422
    bad = api.client.put("/api/queue/counters/4", json={"name": "Window 4", "categories": ["nope"]}, headers=admin)
    assert bad.status_code == 422
    r = api.client.put("/api/queue/counters/4", json={"name": "Window 4", "categories": ["passports"]}, headers=admin)
    assert r.status_code == 200
    assert issue(api, "passports")["number"] == "J-001"
    assert api.client.post("/api/queue/counters/4/call-next", headers=clerk).json()["number"] == "J-001"
    counters = {c["number"]: c for c in api.client.get("/api/queue/counters").json()}
    assert (counters[4]["ticket"], counters[4]["status"]) == ("J-001", "called")


def test_a_case_opened_from_a_called_ticket_is_linked(api: Api) -> None:
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    clerk = api.user("front_desk")
    waiting = issue(api)
    refused = api.client.post("/api/cases", json={"service_code": "test_permit", "citizen": _citizen(),
                                                   "ticket": waiting["number"]}, headers=clerk)
    assert refused.status_code == 409  # not called yet
    unknown = api.client.post("/api/cases", json={"service_code": "test_permit", "citizen": _citizen(),
                                                   "ticket": "P-404"}, headers=clerk)
    assert unknown.status_code == 404
    api.client.post("/api/queue/counters/1/call-next", headers=clerk)
    opened = api.client.post("/api/cases", json={"service_code": "test_permit", "citizen": _citizen(),
                                                  "ticket": waiting["number"]}, headers=clerk)
    assert opened.status_code == 201, opened.text
    ticket = api.client.get(f"/api/queue/tickets/{waiting['number']}", headers=clerk).json()
    assert (ticket["case_id"], ticket["status"]) == (opened.json()["id"], "serving")
    public = api.client.get(f"/api/queue/tickets/{waiting['number']}").json()
    assert (public["case_id"], public["status"]) == (None, "serving")  # the public never learns the case
    twice = api.client.post("/api/cases", json={"service_code": "test_permit", "citizen": _citizen(),
                                                 "ticket": waiting["number"]}, headers=clerk)
    assert twice.status_code == 409
    listed = api.client.get("/api/cases", headers=clerk).json()
    assert listed["total"] == 1  # the refused openings left nothing behind


def _citizen() -> dict[str, str]:
    return {"national_id": "29001011234567", "full_name": "سارة أحمد محمود", "phone": "+201001234567"}


def test_the_board_stream_sends_each_call(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(database_url, tmp_path, queue_board_stream_seconds=0.5, queue_board_poll_ms=50)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        clerk = api.user("front_desk")
        issue(api)
        issue(api, "traffic")
        start = client.get("/api/queue/board").json()["last_call_id"]
        client.post("/api/queue/counters/1/call-next", headers=clerk)
        client.post("/api/queue/counters/2/call-next", headers=clerk)
        client.post("/api/queue/tickets/P-001/recall", headers=clerk)
        with client.stream("GET", f"/api/queue/board/events?after={start}") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            text = "".join(stream.iter_text())
        events = [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ")]
        assert [(e["ticket"], e["counter"], e["kind"]) for e in events] == [
            ("P-001", 1, "call"), ("T-001", 2, "call"), ("P-001", 1, "recall")]
        assert f"id: {events[-1]['id']}" in text
        # A reconnecting board gives the last id it saw and gets only what came after.
        client.post("/api/queue/tickets/P-001/done", headers=clerk)
        client.post("/api/queue/counters/3/call-next", headers=clerk)  # nothing waits for counter 3
        client.post("/api/queue/tickets/T-001/recall", headers=clerk)
        with client.stream("GET", "/api/queue/board/events",
                           headers={"Last-Event-ID": str(events[-1]["id"])}) as stream:
            later = "".join(stream.iter_text())
        assert [json.loads(line[6:])["ticket"] for line in later.splitlines() if line.startswith("data: ")] == [
            "T-001"]
        # An id no board was given (beyond the database's integers) is ignored: the stream starts from now.
        with client.stream("GET", "/api/queue/board/events", headers={"Last-Event-ID": "9" * 12}) as stream:
            assert stream.status_code == 200
            assert "data: " not in "".join(stream.iter_text())


def test_kiosks_and_boards_of_a_center(api: Api) -> None:
    admin = api.user("admin")
    r = api.client.post("/api/centers", json={"code": "giza", "name_ar": "الجيزة", "name_en": "Giza",
                                              "level": "governorate"}, headers=admin)
    assert r.status_code == 201, r.text
    giza = r.json()["id"]
    r = api.client.put("/api/queue/counters/1", json={"name": "Giza 1", "categories": ["permits"], "center": "giza"},
                       headers=admin)
    assert r.status_code == 200
    bad = api.client.post("/api/queue/tickets", json={"category": "permits", "center": "atlantis"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "center"
    ticket = api.client.post("/api/queue/tickets", json={"category": "permits", "center": "giza"}).json()
    plain = issue(api)
    assert ticket["number"] == plain["number"] == "P-001"
    assert api.client.get("/api/queue/tickets/P-001", params={"center": "giza"}).json()["estimated_wait_seconds"] == 0
    clerk = api.user("front_desk", center_id=giza)
    called = api.client.post("/api/queue/counters/1/call-next", headers=clerk)
    assert called.status_code == 200 and called.json()["counter"] == 1
    board = api.client.get("/api/queue/board", params={"center": "giza"}).json()
    assert [(c["ticket"], c["counter_name"]) for c in board["calls"]] == [("P-001", "Giza 1")]
    assert api.client.get("/api/queue/board").json()["calls"] == []  # the center-less hall heard nothing
    waiting = api.client.get("/api/queue/categories").json()
    assert next(c for c in waiting if c["code"] == "permits")["waiting"] == 1  # the center-less ticket


def test_a_board_at_central_follows_its_hall_after_a_center_nodes_calls_arrive(tmp_path: Path,
                                                                               database_url: str) -> None:
    # A center node's calls reach central numbered from its block of ids (storage/nodes.py ID_BLOCK), above every
    # call of central's own halls: a board starting "from now" at the highest call of every center skipped each
    # call its own hall made after.
    from sqlalchemy import text

    from storage.db import engine_for
    from storage.nodes import ID_BLOCK

    settings = make_settings(database_url, tmp_path, queue_board_stream_seconds=0.5, queue_board_poll_ms=50)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        admin, clerk = api.user("admin"), api.user("front_desk")
        assert client.post("/api/centers", json={"code": "ASW01", "name_ar": "أسوان", "name_en": "Aswan",
                                                 "level": "governorate"}, headers=admin).status_code == 201
        with engine_for(database_url).begin() as conn:  # the node's ticket and call, as replicated
            aswan = conn.execute(text("SELECT id FROM center WHERE code = 'ASW01'")).scalar_one()
            conn.execute(text(
                "INSERT INTO queue_ticket (id, number, day, seq, category_code, priority, status, issued_at, "
                "waiting_since, recalls, center_id) VALUES (:id, 'P-001', '2026-06-01', 1, 'permits', 'normal', "
                "'called', '2026-06-01 08:00:00', '2026-06-01 08:00:00', 0, :c)"), {"id": 7 * ID_BLOCK + 1, "c": aswan})
            conn.execute(text(
                "INSERT INTO queue_call (id, ticket_id, ticket_number, category_code, counter_number, counter_name, "
                "kind, at, center_id) VALUES (:id, :id, 'P-001', 'permits', 1, 'Aswan 1', 'call', "
                "'2026-06-01 08:01:00', :c)"), {"id": 7 * ID_BLOCK + 1, "c": aswan})
        issue(api)
        start = client.get("/api/queue/board").json()["last_call_id"]
        assert start < ID_BLOCK
        client.post("/api/queue/counters/1/call-next", headers=clerk)
        with client.stream("GET", "/api/queue/board/events") as stream:  # from now: its own hall's latest call
            assert "data: " not in "".join(stream.iter_text())
        with client.stream("GET", f"/api/queue/board/events?after={start}") as stream:
            text_ = "".join(stream.iter_text())
        assert [json.loads(line[6:])["ticket"] for line in text_.splitlines() if line.startswith("data: ")] == [
            "P-001"]
