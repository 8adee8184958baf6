"""Accounts on the pages: a sign-out ends the cookie for good (a copy kept from before opens nothing), the
change-password page, and the admins' users pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from harness.pages import PASSWORD, Pages, csrf_of


def test_a_cookie_copied_before_sign_out_opens_nothing_after(pages: Pages) -> None:
    pages.as_user("front_desk")
    stolen = pages.client.cookies["shubbak_session"]
    assert pages.client.get("/desk").status_code == 200
    assert pages.sign_out().status_code == 303
    with TestClient(create_app(pages.settings), follow_redirects=False) as other:
        other.cookies.set("shubbak_session", stolen)
        r = other.get("/desk")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/desk")


def test_a_sign_out_elsewhere_ends_this_browser_too(pages: Pages) -> None:
    name = pages.as_user("front_desk")
    with TestClient(create_app(pages.settings), follow_redirects=False) as phone:
        second = Pages(phone, pages.settings)
        assert second.sign_in(name).status_code == 303
        assert phone.get("/desk").status_code == 200
        assert second.post("/logout", {}, token_from="/desk").status_code == 303
    assert pages.client.get("/desk").status_code == 303


def test_changing_ones_password_on_the_page(pages: Pages) -> None:
    name = pages.as_user("front_desk")
    with TestClient(create_app(pages.settings), follow_redirects=False) as other_browser:
        assert Pages(other_browser, pages.settings).sign_in(name).status_code == 303
        page = pages.client.get("/account/password")
        assert page.status_code == 200 and 'autocomplete="new-password"' in page.text
        r = pages.post("/account/password", {"current_password": "not mine", "new_password": "a better secret"},
                       token_from="/account/password")
        assert r.status_code == 401 and "كلمة المرور الحالية غير صحيحة" in r.text
        r = pages.post("/account/password", {"current_password": PASSWORD, "new_password": "short"},
                       token_from="/account/password")
        assert r.status_code == 422 and "at least 10 characters" in r.text
        r = pages.post("/account/password", {"current_password": PASSWORD, "new_password": "a better secret"},
                       token_from="/account/password")
        assert r.status_code == 303
        assert pages.client.get("/desk").status_code == 200  # this browser was signed in afresh
        assert other_browser.get("/desk").status_code == 303  # every other sign-in ended
    pages.sign_out()
    assert pages.sign_in(name, PASSWORD).status_code == 401
    assert pages.sign_in(name, "a better secret").status_code == 303


def test_admins_list_deactivate_and_edit_users(pages: Pages) -> None:
    pages.user("front_desk", username="clerk_one")
    pages.as_user("admin")
    listing = pages.client.get("/admin/users", params={"role": "front_desk"})
    assert listing.status_code == 200 and 'data-user="clerk_one"' in listing.text
    assert 'href="/admin/users"' in listing.text  # in the admin's navigation
    with TestClient(create_app(pages.settings), follow_redirects=False) as clerk_browser:
        assert Pages(clerk_browser, pages.settings).sign_in("clerk_one").status_code == 303
        r = pages.post("/admin/users/clerk_one", {"active": "no"}, token_from="/admin/users")
        assert r.status_code == 303
        assert clerk_browser.get("/desk").status_code == 303  # out at the next click
    inactive = pages.client.get("/admin/users", params={"active": "no"})
    assert 'data-user="clerk_one"' in inactive.text
    assert 'data-user="clerk_one"' not in pages.client.get("/admin/users", params={"active": "yes"}).text
    r = pages.post("/admin/users/clerk_one", {"full_name": "Clerk One", "roles": "front_desk, reviewer", "center": "",
                                              "password": "weak"}, token_from="/admin/users/clerk_one")
    assert r.status_code == 422 and "password: at least 10 characters" in r.text
    r = pages.post("/admin/users/clerk_one", {"full_name": "Clerk One", "roles": "front_desk, reviewer", "center": "",
                                              "password": "a fresh start"}, token_from="/admin/users/clerk_one")
    assert r.status_code == 303
    page = pages.client.get("/admin/users/clerk_one")
    assert page.status_code == 200 and "password_reset" in page.text and "a fresh start" not in page.text
    assert 'value="front_desk, reviewer"' in page.text
    assert pages.client.get("/admin/users/nobody").status_code == 404


def test_only_admins_open_the_users_pages(pages: Pages) -> None:
    pages.user("front_desk", username="clerk_two")
    pages.as_user("supervisor")
    assert pages.client.get("/admin/users").status_code == 403
    assert pages.client.get("/admin/users/clerk_two").status_code == 403
    token = csrf_of(pages.client.get("/account/password").text)
    r = pages.client.post("/admin/users/clerk_two", data={"csrf_token": token, "active": "no"})
    assert r.status_code == 403
    pages.sign_out()
    r = pages.client.get("/admin/users")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_sign_in_page_says_how_long_to_wait(pages: Pages) -> None:
    name = pages.user("front_desk")
    for _ in range(pages.settings.login_free_failures + 1):
        assert pages.sign_in(name, "not the password").status_code == 401
    r = pages.sign_in(name, PASSWORD)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert "انتظر 2 ثانية" in r.text
    assert f'value="{name}"' in r.text  # the form is there again, with the username kept
