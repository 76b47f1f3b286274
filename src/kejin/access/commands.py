"""Commands of access and the service: ``kejin audit verify``, ``kejin users``, ``kejin serve``."""

from __future__ import annotations

import os
import secrets

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kejin.console import err_console, get_engine, print_json
from kejin.db import transaction

audit_app = typer.Typer(help="审计日志 / audit log", no_args_is_help=True)
users_app = typer.Typer(help="用户 / user accounts", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    expect_head: str | None = typer.Option(
        None, help="先前记录的链头哈希 / head hash recorded earlier (detects removed tail)"
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 / print JSON"),
) -> None:
    """校验审计链 / Prove the audit chain intact; exit 1 on any break."""
    from kejin.access.audit import verify

    rep = verify(get_engine(), expect_head)
    if as_json:
        print_json(rep.to_dict())
    else:
        for p in rep.problems:
            err_console.print(p.render(), markup=False, highlight=False)
        state = "完好 / intact" if rep.ok else "被篡改 / BROKEN"
        err_console.print(f"审计链 {state}: {rep.events} events, head {rep.head}")
    raise typer.Exit(0 if rep.ok else 1)


@users_app.command("create")
def users_create(
    username: str = typer.Argument(..., help="用户名 / username"),
    role: str = typer.Option(
        ..., help="gov_admin|gov_reviewer|bank_officer|enterprise_user|auditor"
    ),
    institution: str | None = typer.Option(
        None, help="银行用户的机构 / bank officer's institution"
    ),
    uscc: str | None = typer.Option(None, help="企业用户的信用代码 / enterprise user's USCC"),
    display_name: str | None = typer.Option(None, help="姓名 / display name"),
) -> None:
    """创建用户，随机密码只显示一次 / Create a user; its random password is printed once."""
    from kejin.access.service import SYSTEM, create_user

    password = secrets.token_urlsafe(12)
    with transaction(get_engine()) as s:
        create_user(
            s,
            SYSTEM,
            username=username,
            role=role,
            password=password,
            display_name=display_name,
            institution_id=institution,
            uscc=uscc,
        )
    print_json({"username": username, "role": role, "password": password})


def demo_consent(s: Session, firm: str, bank: str) -> None:
    """The demo firm opens its full data to the demo bank for a year, as a firm would before
    applying for credit, so the bank's pages show a consented profile beside whitelist-only
    ones. Granted through the service as the firm's user (audited); kept if already live."""
    from datetime import timedelta

    from kejin.access.audit import utcnow
    from kejin.access.service import grant_consent, principal_of
    from kejin.access.tables import Consent, User

    now = utcnow()
    live = s.scalar(
        select(Consent.id).where(
            Consent.uscc == firm,
            Consent.institution_id == bank,
            Consent.revoked_at.is_(None),
            Consent.expires_at > now,
        )
    )
    if live is None:
        user = s.scalar(select(User).where(User.username == "demo_firm"))
        assert user is not None
        grant_consent(
            s,
            principal_of(user),
            uscc=firm,
            institution_id=bank,
            purpose="credit_assessment",
            scope="full",
            expires_at=now + timedelta(days=365),
        )


def demo_accounts(
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 / print JSON"),
) -> None:
    """为每个角色创建演示账户（随机密码仅显示一次）/ One demo account per role, random passwords printed once.

    Re-running resets the demo accounts' passwords, so ``make demo`` can be repeated.
    """
    from rich.table import Table

    from kejin.access.service import SYSTEM, create_user, hasher, log
    from kejin.access.tables import User
    from kejin.console import console
    from kejin.errors import NotFoundError
    from kejin.lending.tables import Institution, Loan
    from kejin.registry.tables import Enterprise, Qualification

    with transaction(get_engine()) as s:
        bank = s.execute(
            select(Institution.id)
            .outerjoin(Loan, Loan.institution_id == Institution.id)
            .where(Institution.kind == "bank")
            .group_by(Institution.id)
            .order_by(func.count(Loan.contract_no).desc(), Institution.id)
            .limit(1)
        ).scalar()
        # A firm the demo can show at its best: a borrower of the demo bank, in good standing,
        # holding the most qualifications (the first borrower by code was a dishonest firm).
        firm = s.execute(
            select(Enterprise.uscc)
            .join(Loan, Loan.uscc == Enterprise.uscc)
            .outerjoin(Qualification, Qualification.uscc == Enterprise.uscc)
            .where(Loan.institution_id == bank, Enterprise.in_good_standing())
            .group_by(Enterprise.uscc)
            .order_by(func.count(func.distinct(Qualification.kind)).desc(), Enterprise.uscc)
            .limit(1)
        ).scalar() or s.scalar(select(Enterprise.uscc).order_by(Enterprise.uscc).limit(1))
        if bank is None or firm is None:
            raise NotFoundError(
                "尚无银行或企业数据，请先运行 kejin synth",
                "no bank or firm yet: run kejin synth first",
            )
        specs = [
            ("gov_admin", "demo_gov", "演示·政府管理员", None, None),
            ("gov_reviewer", "demo_reviewer", "演示·政府复核员", None, None),
            ("bank_officer", "demo_bank", "演示·银行客户经理", bank, None),
            ("enterprise_user", "demo_firm", "演示·企业用户", None, firm),
            ("auditor", "demo_auditor", "演示·审计员", None, None),
        ]
        rows = []
        for role, name, display, inst, code in specs:
            password = secrets.token_urlsafe(12)
            u = s.scalar(select(User).where(User.username == name))
            if u is None:
                create_user(
                    s,
                    SYSTEM,
                    username=name,
                    role=role,
                    password=password,
                    display_name=display,
                    institution_id=inst,
                    uscc=code,
                )
            else:
                u.password_hash = hasher().hash(password)
                u.failed_logins, u.locked_until, u.active = 0, None, True
                # A re-run after a new region points the accounts at its bank and firm.
                u.institution_id, u.uscc = inst, code
                log(s, SYSTEM, "user.reset_password", "user", name, after={"tenant": inst or code})
            rows.append(
                {"role": role, "username": name, "password": password, "tenant": inst or code or ""}
            )
        demo_consent(s, firm, bank)
    if as_json:
        print_json(rows)
        return
    t = Table(title="演示账户 / demo accounts (密码仅显示一次 / passwords shown once)")
    for col in ("role", "username", "password", "tenant"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["role"], r["username"], r["password"], r["tenant"])
    console.print(t)


def serve(
    host: str = typer.Option("127.0.0.1", help="监听地址 / bind address"),
    port: int = typer.Option(8000, help="端口 / port"),
    workers: int = typer.Option(1, help="工作进程数 / worker processes"),
    graceful_timeout: int = typer.Option(
        10,
        "--graceful-timeout",
        min=1,
        help="收到 SIGTERM 后等待进行中请求的秒数 / seconds in-flight requests get after SIGTERM",
    ),
) -> None:
    """启动平台服务 / Serve the API and web pages (uvicorn).

    On SIGTERM each worker stops accepting, gives the requests in flight ``--graceful-timeout``
    seconds, then cancels what is left and exits (uvicorn waits forever by default).
    """
    import uvicorn

    if not os.environ.get("KEJIN_SESSION_KEY"):
        # Demo convenience: a fresh random key per start (sessions end on restart). Set
        # KEJIN_SESSION_KEY in production. The environment carries it to every worker.
        os.environ["KEJIN_SESSION_KEY"] = secrets.token_urlsafe(32)
        err_console.print(
            "KEJIN_SESSION_KEY 未设置，已生成临时密钥 / not set: generated a random key for this run"
        )
    err_console.print(f"科金平台 / kejin platform: http://{host}:{port}/")
    uvicorn.run(
        "kejin.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=graceful_timeout,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.add_typer(users_app, name="users")
    app.command("demo-accounts")(demo_accounts)
    app.command("serve")(serve)
