"""Commands of access and the service: ``kejin audit verify``, ``kejin users``, ``kejin serve``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kejin.console import err_console, get_engine, print_json
from kejin.db import transaction

audit_app = typer.Typer(help="审计日志 / audit log", no_args_is_help=True)
users_app = typer.Typer(help="用户 / user accounts", no_args_is_help=True)


def _checkpoints(directory: Path | None) -> tuple[list[Any], list[Any]]:
    from kejin.access import checkpoints

    return checkpoints.read(directory) if directory is not None else ([], [])


def _print_report(rep: Any) -> None:
    for p in rep.problems + rep.unsealed:
        err_console.print(p.render(), markup=False, highlight=False)
    for zh, en in rep.notes:
        err_console.print(f"注意 / note: {zh} / {en}", markup=False, highlight=False)
    state = "完好 / intact" if rep.ok else "被篡改 / BROKEN"
    keyed = "已用密钥校验 / keyed" if rep.keyed else "未设密钥 / UNKEYED"
    err_console.print(
        f"审计链 {state} ({keyed}): {rep.events} events, head {rep.head_seq} {rep.head}, "
        f"{rep.checkpoints} checkpoints",
        markup=False,
        highlight=False,
    )


@audit_app.command("verify")
def audit_verify(
    expect_head: str | None = typer.Option(
        None, help="先前记录的链头哈希 / head hash recorded earlier (detects removed tail)"
    ),
    checkpoints: Path | None = typer.Option(
        None,
        "--checkpoints",
        help="检查点目录（库外）/ directory of checkpoints kept outside the database",
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 / print JSON"),
) -> None:
    """校验审计链 / Prove the audit chain intact; exit 1 on any break.

    With KEJIN_AUDIT_KEY (or KEJIN_AUDIT_KEY_FILE) every event's MAC is checked too; without a
    key the output says that only edits by someone who cannot rewrite the table are detected.
    """
    from kejin.access.audit import verify

    cps, unreadable = _checkpoints(checkpoints)
    rep = verify(get_engine(), expect_head, cps)
    rep.problems[:0] = unreadable
    if as_json:
        print_json(rep.to_dict())
    else:
        _print_report(rep)
    raise typer.Exit(0 if rep.ok else 1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Path = typer.Option(
        ..., "--out", help="检查点目录（库外）/ directory outside the database to write to"
    ),
    seal_unkeyed: bool = typer.Option(
        False,
        "--seal-unkeyed",
        help="为设密钥之前写入的无MAC记录担保 / vouch for events written before the key was set",
    ),
) -> None:
    """记录链头检查点 / Verify the chain, then write its signed head to OUT.

    Refused when the chain is broken: a checkpoint must never vouch for a tampered chain.
    """
    from kejin.access import auditkey, checkpoints
    from kejin.access.audit import utcnow, verify
    from kejin.errors import ValidationError

    keys = auditkey.current()
    cps, unreadable = checkpoints.read(out) if out.is_dir() else ([], [])
    rep = verify(get_engine(), checkpoints=cps, keys=keys)
    rep.problems[:0] = unreadable
    if rep.problems or (rep.unsealed and not seal_unkeyed):
        _print_report(rep)
        hint = (
            ("", "")
            if rep.problems
            else (
                "；如这些记录写于设密钥之前，可加 --seal-unkeyed",
                "; if they were written before the key was set, add --seal-unkeyed",
            )
        )
        raise ValidationError(
            "审计链未通过校验，不写检查点" + hint[0],
            "the audit chain does not verify: no checkpoint written" + hint[1],
            exit_code=1,
        )
    if rep.head_seq == 0:
        raise ValidationError("审计链为空，无可记录", "the audit chain is empty: nothing to record")
    path = checkpoints.write(out, rep.head_seq, rep.head, utcnow(), keys)
    for zh, en in rep.notes:
        err_console.print(f"注意 / note: {zh} / {en}", markup=False, highlight=False)
    print_json(
        {"checkpoint": str(path), "seq": rep.head_seq, "hash": rep.head, "keyed": keys.keyed}
    )


@audit_app.command("keygen")
def audit_keygen(
    file: Path | None = typer.Option(
        None,
        "--file",
        help="密钥文件（默认 KEJIN_AUDIT_KEY_FILE）/ key file (default: KEJIN_AUDIT_KEY_FILE)",
    ),
    rotate: bool = typer.Option(
        False, "--rotate", help="新增签名密钥，旧密钥保留用于校验 / new signing key, old ones kept"
    ),
) -> None:
    """生成审计密钥文件 / Create the audit key file (kept if it exists, unless --rotate).

    The file must live outside the repository and the database's backups; mode 0600.
    """
    from kejin.access import auditkey
    from kejin.access.settings import get_service_settings
    from kejin.errors import Problem, ValidationError

    path = file or get_service_settings().audit_key_file
    if path is None:
        raise ValidationError(
            "未指定密钥文件",
            "no key file named",
            [
                Problem(
                    "请用 --file 或 KEJIN_AUDIT_KEY_FILE",
                    "use --file or KEJIN_AUDIT_KEY_FILE",
                    field="file",
                )
            ],
        )
    kid, written = auditkey.generate(path, rotate)
    verb = ("已生成", "written") if written else ("已存在，保留", "exists, kept")
    err_console.print(
        f"审计密钥{verb[0]} / audit key {verb[1]}: {path} (key id {kid})",
        markup=False,
        highlight=False,
    )


@users_app.command("create")
def users_create(
    username: str = typer.Argument(..., help="用户名 / username"),
    role: str = typer.Option(
        ..., help="gov_admin|gov_reviewer|bank_officer|enterprise_user|auditor|investor"
    ),
    institution: str | None = typer.Option(
        None, help="银行用户的机构 / bank officer's institution"
    ),
    uscc: str | None = typer.Option(None, help="企业用户的信用代码 / enterprise user's USCC"),
    display_name: str | None = typer.Option(None, help="姓名 / display name"),
    bootstrap: bool = typer.Option(
        False,
        "--bootstrap",
        help="首批管理员：免除第二人批准（审计留痕）/ first administrators: no second person (audited)",
    ),
) -> None:
    """创建用户 / Create a user.

    A privileged role (gov_admin, gov_reviewer, auditor) stays pending until another government
    user approves it (``kejin users approve``), unless ``--bootstrap``. Otherwise a random first
    password is printed once; it must be changed at first login.
    """
    from kejin.access.accounts import create_user
    from kejin.access.service import SYSTEM
    from kejin.access.tables import PRIVILEGED_ROLES

    pending = role in PRIVILEGED_ROLES and not bootstrap
    password = None if pending else secrets.token_urlsafe(12)
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
            exemption="bootstrap" if bootstrap else None,
        )
    print_json({"username": username, "role": role, "password": password, "pending": pending})


@users_app.command("approve")
def users_approve(
    username: str = typer.Argument(..., help="待批准的用户名 / pending account"),
    who: str = typer.Option(..., "--who", help="批准人（政府用户，非创建人）/ approver"),
) -> None:
    """批准特权账户，初始密码只显示一次 / Approve a pending account; its first password is printed once."""
    from kejin.access.accounts import approve_user
    from kejin.access.acting import person
    from kejin.access.tables import User
    from kejin.errors import NotFoundError, Problem

    with transaction(get_engine()) as s:
        approver = person(s, who)
        pending = s.scalar(select(User).where(User.username == username))
        if pending is None:
            raise NotFoundError(
                "用户不存在",
                "no such user",
                [Problem("用户不存在", "no such user", field="username", value=username)],
            )
        issued = approve_user(s, approver, pending.id)
        out = {"username": username, "approved_by": who, "password": issued.password}
    print_json(out)


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


def demo_borrower_consents(s: Session, bank: str, firms: list[str]) -> list[str]:
    """Each firm opens its full data to the demo bank for credit assessment, granted by the
    firm's own user through the audited service — so the demo bank has several firms, with
    different outcomes, to decide on. A firm without an account gets a demo enterprise account
    (``demo_firm_<code tail>``, created by the operator under the audited ``demo`` exemption,
    its random password not shown: nobody logs in as it). Returns the firms newly consenting."""
    from datetime import timedelta

    from kejin.access.accounts import create_user
    from kejin.access.audit import utcnow
    from kejin.access.rules import live_consent
    from kejin.access.service import SYSTEM, grant_consent, principal_of
    from kejin.access.tables import User

    now, granted = utcnow(), []
    for firm in firms:
        if live_consent(s, bank, firm, "credit_decision", now) is not None:
            continue
        user = s.scalar(
            select(User).where(User.uscc == firm, User.role == "enterprise_user", User.active)
        )
        if user is None:
            user = create_user(
                s,
                SYSTEM,
                username=f"demo_firm_{firm[-8:].lower()}",
                role="enterprise_user",
                password=secrets.token_urlsafe(16),
                display_name=f"演示·企业用户 {firm}",
                uscc=firm,
                exemption="demo",
            )
        grant_consent(
            s,
            principal_of(user),
            uscc=firm,
            institution_id=bank,
            purpose="credit_assessment",
            scope="full",
            expires_at=now + timedelta(days=365),
        )
        granted.append(firm)
    return granted


def demo_accounts(
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 / print JSON"),
) -> None:
    """为每个角色创建演示账户（随机密码仅显示一次）/ One demo account per role, random passwords printed once.

    Re-running resets the demo accounts' passwords, so ``make demo`` can be repeated.
    """
    from rich.table import Table

    from kejin.access.accounts import create_user, reset_password
    from kejin.access.service import SYSTEM, log
    from kejin.access.tables import ROLES, User
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
        # The investor's account belongs to the region's first venture fund (when it has one).
        fund = s.scalar(
            select(Institution.id).where(Institution.kind == "vc_fund").order_by(Institution.id)
        )
        if fund is not None:
            specs.append(("investor", "demo_investor", "演示·投资机构", fund, None))
        rows = []
        for role, name, display, inst, code in specs:
            password = secrets.token_urlsafe(12)
            u = s.scalar(select(User).where(User.username == name))
            if u is None:
                # The demo exemption (audited on each account): no second person, and the printed
                # passwords work as they are (docs/service.md, "Accounts").
                create_user(
                    s,
                    SYSTEM,
                    username=name,
                    role=role,
                    password=password,
                    display_name=display,
                    institution_id=inst,
                    uscc=code,
                    exemption="demo",
                )
            else:
                reset_password(s, SYSTEM, u, password, must_change=False)
                u.active = True
                # A re-run after a new region points the accounts at its bank and firm.
                if (u.institution_id, u.uscc) != (inst, code):
                    u.institution_id, u.uscc = inst, code
                    log(s, SYSTEM, "user.tenant", "user", name, after={"tenant": inst or code})
            # what a person reads for the tenant: the bank's or the firm's name, not its code
            holder = (
                s.get(Institution, inst) if inst else (s.get(Enterprise, code) if code else None)
            )
            rows.append(
                {
                    "role": role,
                    "username": name,
                    "password": password,
                    "tenant": inst or code or "",
                    "tenant_name": holder.name if holder else "",
                }
            )
        demo_consent(s, firm, bank)
    if as_json:
        print_json(rows)
        return
    t = Table(title="演示账户 / demo accounts (密码仅显示一次 / passwords shown once)")
    for col in ("角色 / role", "用户名 / username", "密码 / password", "所属 / belongs to"):
        t.add_column(col)
    for r in rows:
        label = ROLES[r["role"]]
        t.add_row(f"{label.zh} / {label.en}", r["username"], r["password"], r["tenant_name"])
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
    from kejin.access import auditkey
    from kejin.access.audit import UNKEYED_NOTE

    # A bad key setting fails here, once, not in every audited request of every worker.
    if not auditkey.current().keyed:
        err_console.print(f"注意 / note: {' / '.join(UNKEYED_NOTE)}", markup=False, highlight=False)
    err_console.print(f"科金平台 / kejin platform: http://{host}:{port}/")
    uvicorn.run(
        "kejin.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        # Forwarded headers are believed only from KEJIN_TRUSTED_PROXIES, by the application
        # itself (kejin.api); uvicorn would otherwise believe any from 127.0.0.1.
        proxy_headers=False,
        timeout_graceful_shutdown=graceful_timeout,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.add_typer(users_app, name="users")
    app.command("demo-accounts")(demo_accounts)
    app.command("serve")(serve)
