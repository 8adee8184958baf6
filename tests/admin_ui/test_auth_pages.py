"""Signing in and out, the session cookie, CSRF, the pages of one's roles, and the language switch."""

from __future__ import annotations

import base64
import json
import re
import time

from harness.pages import Pages, csrf_of


def test_pages_are_arabic_and_right_to_left_by_default(pages: Pages) -> None:
    r = pages.client.get("/login")
    assert r.status_code == 200
    assert '<html lang="ar" dir="rtl">' in r.text
    assert "تسجيل الدخول" in r.text and '<label for="username">اسم المستخدم</label>' in r.text


def test_sign_in_sets_a_signed_httponly_lax_cookie_and_opens_the_pages_of_the_role(pages: Pages) -> None:
    name = pages.user("front_desk", full_name="منى الشباك")
    r = pages.sign_in(name)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("shubbak_session=") and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # only in production, where the site is served over HTTPS
    home = pages.client.get("/")
    assert home.headers["location"] == "/desk"
    desk = pages.client.get("/desk")
    assert desk.status_code == 200 and "منى الشباك" in desk.text
    assert 'href="/desk"' in desk.text and 'href="/inbox"' in desk.text  # the front desk has an inbox too


def test_a_tampered_cookie_is_not_a_session(pages: Pages) -> None:
    name = pages.user("front_desk")
    pages.sign_in(name)
    value = pages.client.cookies["shubbak_session"]
    _payload, rest = value.split(".", 1)  # the signature and its time stay; the content is new
    forged = base64.b64encode(json.dumps({"user": name, "at": int(time.time()), "csrf": "x" * 43}).encode())
    pages.client.cookies.clear()
    pages.client.cookies.set("shubbak_session", forged.decode() + "." + rest)
    r = pages.client.get("/desk")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/desk")


def test_wrong_credentials_say_so_and_keep_the_username(pages: Pages) -> None:
    name = pages.user("front_desk")
    r = pages.sign_in(name, "not the password")
    assert r.status_code == 401
    assert "اسم المستخدم أو كلمة المرور غير صحيحة" in r.text
    assert f'value="{name}"' in r.text
    assert pages.client.get("/desk").status_code == 303  # still signed out
    unknown = pages.sign_in("nobody-here", "whatever1")
    assert unknown.status_code == 401 and "اسم المستخدم أو كلمة المرور غير صحيحة" in unknown.text


def test_sign_out_ends_the_session(pages: Pages) -> None:
    pages.as_user("front_desk")
    assert pages.client.get("/desk").status_code == 200
    r = pages.sign_out()
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "تم تسجيل الخروج" in pages.client.get("/login").text
    assert pages.client.get("/desk").status_code == 303


def test_signed_out_readers_are_sent_to_sign_in_and_back(pages: Pages) -> None:
    r = pages.client.get("/inbox?status=mine")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/inbox?status=mine"
    name = pages.user("engineering")
    r = pages.post("/login", {"username": name, "password": "correct horse", "next": "/inbox?status=mine"})
    assert r.headers["location"] == "/inbox?status=mine"


def test_sign_in_never_sends_the_reader_to_another_site(pages: Pages) -> None:
    name = pages.user("engineering")
    r = pages.post("/login", {"username": name, "password": "correct horse", "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_every_form_needs_the_sessions_csrf_token(pages: Pages) -> None:
    name = pages.user("front_desk")
    r = pages.client.post("/login", data={"username": name, "password": "correct horse"})
    assert r.status_code == 403 and "انتهت صلاحية النموذج" in r.text
    r = pages.client.post("/login", data={"username": name, "password": "correct horse", "csrf_token": "x" * 43})
    assert r.status_code == 403
    pages.sign_in(name)
    for path in ("/logout", "/preferences", "/desk/test_permit", "/track"):
        refused = pages.client.post(path, data={"language": "en"})
        assert refused.status_code == 403, path
        assert "انتهت صلاحية النموذج" in refused.text
    # The access policy answers before the form is read (engine/people/policy.py): there is no task "nope".
    assert pages.client.post("/tasks/nope/claim", data={"language": "en"}).status_code == 404
    assert pages.client.get("/desk").status_code == 200  # nothing above signed the clerk out


def test_signing_in_gives_a_new_csrf_token(pages: Pages) -> None:
    before = pages.token()
    pages.sign_in(pages.user("front_desk"))
    assert csrf_of(pages.client.get("/desk").text) != before


def test_a_user_sees_only_the_pages_of_their_roles(pages: Pages) -> None:
    pages.as_user("engineering")
    assert pages.client.get("/").headers["location"] == "/inbox"
    desk = pages.client.get("/desk")
    assert desk.status_code == 403 and "الشباك مخصص لمن يتولون تسجيل الطلبات" in desk.text
    inbox = pages.client.get("/inbox")
    assert 'href="/desk"' not in inbox.text and 'href="/inbox"' in inbox.text
    assert pages.client.get("/desk/building_permit").status_code == 403
    pages.as_user("auditor")
    assert pages.client.get("/").headers["location"] == "/cases"
    cases = pages.client.get("/cases")
    assert cases.status_code == 200 and 'href="/inbox"' not in cases.text and 'href="/desk"' not in cases.text


def test_language_switch_is_remembered_on_the_user(pages: Pages) -> None:
    name = pages.as_user("front_desk")
    r = pages.post("/preferences", {"language": "en", "next": "/desk"}, token_from="/desk")
    assert r.status_code == 303 and r.headers["location"] == "/desk"
    page = pages.client.get("/desk").text
    assert '<html lang="en" dir="ltr">' in page and "Front desk" in page
    pages.sign_out()
    pages.client.cookies.clear()  # another browser, another day
    pages.sign_in(name)
    assert '<html lang="en" dir="ltr">' in pages.client.get("/desk").text
    pages.post("/preferences", {"language": "ar", "next": "/desk"}, token_from="/desk")
    assert '<html lang="ar" dir="rtl">' in pages.client.get("/desk").text


def test_language_switch_before_signing_in_lasts_the_session(pages: Pages) -> None:
    pages.post("/preferences", {"language": "en", "next": "/login"})
    page = pages.client.get("/login").text
    assert '<html lang="en" dir="ltr">' in page and '<label for="username">Username</label>' in page


def test_hijri_calendar_is_a_choice(pages: Pages) -> None:
    pages.as_user("front_desk")
    pages.post("/preferences", {"calendar": "islamic", "next": "/desk"}, token_from="/desk")
    page = pages.client.get("/desk").text
    assert "التاريخ الميلادي" in page  # the switch now offers the way back
    refused = pages.post("/preferences", {"calendar": "mayan"}, token_from="/desk")
    assert refused.status_code == 422


def test_pages_forbid_framing_by_others_and_inline_scripts(pages: Pages) -> None:
    r = pages.client.get("/login")
    policy = r.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy and "script-src" not in policy and "default-src 'self'" in policy
    assert not re.search(r"<script>(?!</script>)", r.text)
