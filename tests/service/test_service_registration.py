"""A firm registers itself: applies by USCC with the authorisation letter, its legal
representative confirms with the one-time code, a government user approves (the account must
change its first password) or declines with a reason; bad input is refused field by field in
both languages; who may see and decide is the rule table's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from kejin.access import registration
from kejin.access.audit import utcnow
from kejin.access.rules import Forbidden
from kejin.access.service import principal_of
from kejin.access.tables import AuditEvent, RegistrationRequest, User
from kejin.db import transaction
from kejin.errors import ConflictError, KejinError, ValidationError
from kejin.ids import uscc_check_char

from .conftest import login
from .world import F1, F2, F4, NAMES

PDF = b"%PDF-1.7\n% authorisation letter\n"


def _app(**over: object) -> registration.Application:
    base = dict(
        uscc=F4, firm_name=NAMES[F4], legal_rep="王建国", applicant="李小梅",
        applicant_phone="13812345678", username="donghai_li", letter_name="授权委托书.pdf",
        letter=PDF,
    )  # fmt: skip
    return registration.Application(**{**base, **over})  # type: ignore[arg-type]


def _who(s, username: str):  # type: ignore[no-untyped-def]
    return principal_of(s.scalar(select(User).where(User.username == username)))


def _anon(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, raise_server_exceptions=False)


def _csrf(c: TestClient) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
    assert m is not None
    return m.group(1)


def _fields(e: KejinError) -> dict[str, tuple[str, str]]:
    return {pr.field or "": (pr.reason_zh, pr.reason_en) for pr in e.problems}


def test_the_whole_path_in_the_browser_forms(app, engine: Engine, world) -> None:
    c = _anon(app)
    token = _csrf(c)
    assert 'href="/register"' in c.get("/login").text  # the way in is on the login page
    form = {"csrf_token": token, "uscc": F4.lower(), "firm_name": NAMES[F4], "legal_rep": "王建国",
            "applicant": "李小梅", "applicant_phone": "0518-85551234", "username": "donghai_li"}  # fmt: skip
    r = c.post("/register", data=form, files={"letter": ("委托书.pdf", PDF, "application/pdf")},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = c.get(r.headers["location"]).text
    number = re.search(r'id="reg-number">(\d+)<', page).group(1)  # type: ignore[union-attr]
    code = re.search(r'id="reg-code"[^>]*>(\d{8})<', page).group(1)  # type: ignore[union-attr]
    again = c.get(r.headers["location"]).text
    assert code not in again and "不再显示" in again  # shown once, not kept
    with transaction(engine) as s:
        req = s.get(RegistrationRequest, int(number))
        assert req.code_sha256 != code and code not in str(req.__dict__)
        assert req.status == "awaiting_confirmation"

    gov = login(app, "gov")
    queue = gov.get("/registrations?lang=zh").text
    assert f'data-request="{number}"' in queue and "待法定代表人确认" in queue
    assert 'value="approve"' not in queue  # not offered before the confirmation

    bad = c.post("/register/confirm", data={"csrf_token": token, "request_id": number,
                 "code": code, "name": "李小梅", "agree": "yes"}, follow_redirects=False)  # fmt: skip
    assert "须由法定代表人本人确认" in c.get(bad.headers["location"]).text
    ok = c.post("/register/confirm", data={"csrf_token": token, "request_id": number,
                "code": code, "name": "王建国", "agree": "yes"}, follow_redirects=False)  # fmt: skip
    assert 'id="reg-confirmed"' in c.get(ok.headers["location"]).text

    letter = gov.get(f"/registrations/{number}/letter")
    assert letter.status_code == 200 and letter.content == PDF
    rev = login(app, "rev")
    r = rev.post(f"/registrations/{number}/decide", data={"csrf_token": rev.headers["X-CSRF-Token"],
                 "decision": "approve", "reason": ""}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    shown = rev.get(r.headers["location"]).text
    password = re.search(r'id="reg-password">([^<]+)<', shown).group(1)  # type: ignore[union-attr]
    assert password not in rev.get(r.headers["location"]).text  # once

    firm = _anon(app)
    got = firm.post("/api/auth/login", json={"username": "donghai_li", "password": password})
    assert got.status_code == 200 and got.json()["must_change_password"] is True
    assert firm.get("/enterprise", follow_redirects=False).headers["location"] == "/password"
    with transaction(engine) as s:
        u = s.scalar(select(User).where(User.username == "donghai_li"))
        assert (u.role, u.uscc, u.must_change_password) == ("enterprise_user", F4, True)
        actions = s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("registration.%"))
            .order_by(AuditEvent.seq)
        ).all()
        assert actions == ["registration.submit", "registration.confirm", "registration.letter",
                           "registration.approve"]  # fmt: skip
        created = select(AuditEvent.actor).where(
            AuditEvent.action == "user.create", AuditEvent.entity_id == "donghai_li"
        )
        assert s.scalar(created) == "rev"
    status = c.post("/register/status", data={"csrf_token": token, "request_id": number,
                    "code": code}, follow_redirects=False)  # fmt: skip
    assert "已批准" in c.get(status.headers["location"]).text


@pytest.mark.parametrize(
    ("over", "field", "zh", "en"),
    [
        ({"uscc": "91320700MA0000004"}, "uscc", "长度应为18位", "must be 18 characters"),
        ({"uscc": F4[:-1] + ("0" if F4[-1] != "0" else "1")}, "uscc", "校验", "check"),
        ({"uscc": (b := "91320700MA9999999") + uscc_check_char(b)}, "uscc", "登记库中没有",
         "no firm with this USCC"),
        ({"firm_name": "东海新能源有限公司"}, "firm_name", "与登记名称不一致", "differs from the registered"),
        ({"legal_rep": " "}, "legal_rep", "法定代表人", "legal representative"),
        ({"applicant_phone": "12345"}, "applicant_phone", "手机号", "mobile"),
        ({"letter": b""}, "letter", "授权委托书", "authorisation letter"),
        ({"letter": b"MZ\x90\x00"}, "letter", "PDF、PNG 或 JPG", "PDF, PNG or JPG"),
        ({"username": "王 五"}, "username", "用户名", "username"),
    ],
)  # fmt: skip
def test_bad_input_is_named_in_both_languages(
    engine: Engine, world, over: dict, field: str, zh: str, en: str
) -> None:
    with transaction(engine) as s, pytest.raises(ValidationError) as e:
        registration.submit(s, _app(**over))
    got = _fields(e.value)
    assert field in got and zh in got[field][0] and en in got[field][1], got
    with transaction(engine) as s:  # nothing written, nothing recorded
        assert s.scalar(select(RegistrationRequest.id)) is None


def test_one_open_request_per_firm_and_none_for_a_firm_with_an_account(
    engine: Engine, world
) -> None:
    with transaction(engine) as s:
        registration.submit(s, _app())
    with transaction(engine) as s, pytest.raises(ConflictError) as e:
        registration.submit(s, _app(username="other_name"))
    assert "待处理的注册申请" in e.value.reason_zh and "being processed" in e.value.reason_en
    with transaction(engine) as s, pytest.raises(ConflictError) as e:
        registration.submit(s, _app(uscc=F1, firm_name=NAMES[F1], username="x_new"))
    assert "已有平台账户" in e.value.reason_zh
    with transaction(engine) as s, pytest.raises(ConflictError) as e:
        registration.submit(s, _app(uscc=F2, firm_name=NAMES[F2], username="ent"))
    assert "用户名" in e.value.reason_zh and "username" in e.value.reason_en
    with transaction(engine) as s:  # once declined, the firm may apply again
        req = s.scalar(select(RegistrationRequest))
        registration.decide(s, _who(s, "gov"), req.id, False, "委托书未盖章")
        registration.submit(s, _app(username="donghai_2"))


def test_the_confirmation_code_refuses_what_it_should(engine: Engine, world) -> None:
    with transaction(engine) as s:
        out = registration.submit(s, _app())
        rid, code = out.request.id, out.code
    wrong = "0" * 8 if code != "0" * 8 else "1" * 8
    for args in ((rid, wrong, "王建国"), (rid + 99, code, "王建国")):
        with transaction(engine) as s, pytest.raises(ValidationError) as e:
            registration.confirm(s, *args)
        assert e.value.reason_en == "the request number or the confirmation code is wrong"
    with transaction(engine) as s, pytest.raises(ValidationError):
        registration.confirm(s, rid, code, "王建国", now=utcnow() + timedelta(days=8))
    with transaction(engine) as s:
        registration.confirm(s, rid, code, " 王建国 ")
    with transaction(engine) as s, pytest.raises(ConflictError):
        registration.confirm(s, rid, code, "王建国")


@pytest.mark.parametrize(
    ("who", "see", "decide"),
    [("gov", True, True), ("rev", True, True), ("aud", True, False), ("bank", False, False),
     ("ent", False, False)],
)  # fmt: skip
def test_who_may_see_and_decide(
    app, engine: Engine, world, who: str, see: bool, decide: bool
) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        out = registration.submit(s, _app())
        registration.confirm(s, out.request.id, out.code, "王建国")
        rid = out.request.id
    c = login(app, who)
    assert c.get("/registrations").status_code == (200 if see else 403)
    assert c.get(f"/registrations/{rid}/letter").status_code == (200 if see else 403)
    with transaction(engine) as s:
        if decide:
            registration.decide(s, _who(s, who), rid, False, "名称与执照不符")
        else:
            with pytest.raises(Forbidden):
                registration.decide(s, _who(s, who), rid, False, "x")
    if see:  # decided (by whoever may) or not theirs to decide: no decision is offered
        assert 'name="decision"' not in c.get("/registrations?lang=zh").text


def test_decisions_keep_their_rules(engine: Engine, world) -> None:
    with transaction(engine) as s:
        out = registration.submit(s, _app())
        gov = _who(s, "gov")
        with pytest.raises(ConflictError) as e:  # not before the legal representative
            registration.decide(s, gov, out.request.id, True, "")
        assert "法定代表人尚未确认" in e.value.reason_zh
        with pytest.raises(ValidationError) as v:  # a decline says why
            registration.decide(s, gov, out.request.id, False, "  ")
        assert _fields(v.value)["reason"][1] == "give the reason"
        registration.confirm(s, out.request.id, out.code, "王建国")
        registration.decide(s, gov, out.request.id, True, "")
        with pytest.raises(ConflictError):  # decided once
            registration.decide(s, gov, out.request.id, False, "改变主意")


def test_the_queue_page_in_english_uses_labels(app, engine: Engine, world) -> None:
    with transaction(engine) as s:
        out = registration.submit(s, _app())
        registration.confirm(s, out.request.id, out.code, "王建国")
    page = login(app, "rev").get("/registrations?lang=en").text
    assert "awaiting government review" in page and "awaiting_review<" not in page
    assert 'value="approve"' in page
