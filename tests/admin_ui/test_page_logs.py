"""The pages' requests are logged like the API's, with the signed-in reader as the user."""

from __future__ import annotations

from tests.support.logs import Lines, lines_fixture  # noqa: F401 - the fixture
from tests.support.pages import Pages


def test_a_page_line_names_the_signed_in_reader(pages: Pages, lines: Lines) -> None:
    name = pages.user("front_desk")
    pages.sign_in(name)
    lines.read()
    assert pages.client.get("/desk").status_code == 200
    pages.client.cookies.clear()
    pages.client.get("/desk")
    signed, anonymous = lines.read()
    assert (signed["route"], signed["status"], signed["user"]) == ("/desk", 200, name)
    assert (anonymous["route"], anonymous["status"], anonymous["user"]) == ("/desk", 303, None)
