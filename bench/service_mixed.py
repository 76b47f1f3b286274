"""The service bench's mixed workload: what a bank at work and its firms send, 90% reads, 10% writes.

The bank sees a random half of the region through a whitelist push (and each of those firms has
consented), so a profile read walks the visibility path the platform really serves. The writes
are the three that change something a bank or a firm cares about: a credit decision (bank token),
a fund claim on one of the bank's defaulted loans (bank token, idempotency key), and a consent
grant (an enterprise user's cookie session with its CSRF token). wrk sends all of them from one
Lua script; each wrk thread numbers its requests, so every claim has its own loan and key.
"""

from __future__ import annotations

import http.cookies
import json
import random
import secrets
import urllib.request
from datetime import date, datetime, timedelta
from decimal import Decimal

import polars as pl
from sqlalchemy import Engine, insert

from kejin.access.accounts import create_user
from kejin.access.service import SYSTEM
from kejin.db import transaction
from kejin.frames import write_frame
from kejin.fund import service as fund
from kejin.fund.ledger import Actor
from kejin.lending.tables import Loan, LoanStatus
from kejin.whitelist.rules import load_rules
from kejin.whitelist.tables import WhitelistEntry, WhitelistPush, WhitelistVersion

BANK = "BK01"
POOL = "BENCH"


def push_half(engine: Engine, ent: pl.DataFrame, seed: int = 20241) -> list[str]:
    """A whitelist version whose members are a random half of the firms, pushed to the bank."""
    rng = random.Random(seed)
    usccs = ent["uscc"].to_list()
    members = sorted(rng.sample(usccs, len(usccs) // 2))
    _, sha = load_rules("default")
    now = datetime.now().replace(microsecond=0)
    with engine.begin() as conn:
        vid = conn.execute(
            insert(WhitelistVersion).returning(WhitelistVersion.id),
            {"as_of": date.today(), "rules_id": "default", "rules_version": "bench",
             "rules_sha256": sha, "members": len(members), "entries_sha256": "0" * 64,
             "created_at": now, "created_by": "bench"},
        ).scalar_one()  # fmt: skip
        rows = ent.filter(pl.col("uscc").is_in(members)).select(
            pl.lit(vid).alias("version_id"), "uscc", "name", "stage", "industry_chain",
            "region_code", pl.lit("member").alias("status"), pl.lit("A").alias("tier"),
            pl.lit("bench").alias("tier_rule"), pl.lit("[]").alias("entry_rules"),
            pl.lit("[]").alias("exclusion_rules"),
        )  # fmt: skip
        write_frame(conn, WhitelistEntry.__table__, rows)
        conn.execute(
            insert(WhitelistPush),
            {"version_id": vid, "institution_id": BANK, "format": "csv", "file_name": "bench.csv",
             "sha256": "0" * 64, "rows": len(members), "fields": "uscc,name", "pushed_at": now,
             "pushed_by": "bench"},
        )  # fmt: skip
    rng.shuffle(members)
    return members


def defaulted_loans(engine: Engine, usccs: list[str], n: int) -> list[str]:
    """``n`` of the bank's loans enrolled in a funded pool and 120 days past due: each can be
    claimed once."""
    today = date.today()
    contracts = [f"BENCH-{i:05d}" for i in range(n)]
    amount = Decimal("200000.00")
    with engine.begin() as conn:
        conn.execute(
            insert(Loan),
            [
                {"contract_no": c, "uscc": u, "institution_id": BANK, "amount": amount,
                 "credit_line": amount, "rate": Decimal("0.04"),
                 "disbursed_on": today - timedelta(days=200),
                 "maturity_on": today + timedelta(days=500), "guarantee_type": "credit",
                 "first_time_borrower": False}
                for c, u in zip(contracts, usccs, strict=False)
            ],
        )  # fmt: skip
    boss = Actor("bench_gov", today, "基准测试")
    fund.create_pool(engine, POOL, "基准测试资金池", "anhui", boss, "bench:pool")
    fund.deposit(engine, POOL, "pool", Decimal(n) * amount, boss, "bench:capital")
    for c in contracts:
        fund.enrol(engine, POOL, c, Actor("bench_bank", today, "备案"), f"bench:enrol:{c}")
    with engine.begin() as conn:
        conn.execute(
            insert(LoanStatus),
            [
                {"contract_no": c, "month": today.replace(day=1), "balance": Decimal("180000.00"),
                 "days_past_due": 120, "classification": "substandard"}
                for c in contracts
            ],
        )  # fmt: skip
    return contracts


def enterprise_users(engine: Engine, usccs: list[str]) -> dict[str, str]:
    """One enterprise user per firm (username → password), to grant consents."""
    out = {}
    with transaction(engine) as s:
        for i, u in enumerate(usccs):
            name, pw = f"bench_ent{i}", secrets.token_urlsafe(16)
            create_user(
                s, SYSTEM, username=name, role="enterprise_user", password=pw, uscc=u,
                exemption="demo",  # synthetic bench accounts: no first-login change
            )  # fmt: skip
            out[name] = pw
    return out


def log_in(port: int, users: dict[str, str]) -> list[tuple[str, str]]:
    """Each user's session cookie and CSRF token, logged in through the API."""
    out = []
    for name, pw in users.items():
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/auth/login",
            data=json.dumps({"username": name, "password": pw}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            csrf = json.loads(r.read())["csrf_token"]
            jar = http.cookies.SimpleCookie(r.headers["Set-Cookie"])
        out.append((f"kejin_session={jar['kejin_session'].value}", csrf))
    return out


def lua_mixed(
    pushed: str, token: str, loans: list[str], ents: list[tuple[str, str, str]], opener: int
) -> str:
    """The mixed script: per thread, ``opener`` health checks (spreading the users' first
    requests), then 60% profiles, 30% firm lists, 4% credit decisions, 3% consent grants, 3%
    fund claims (each on a loan no other request claims), with the bench's think time."""
    expires = (datetime.now() + timedelta(days=200)).replace(microsecond=0).isoformat()
    ent_rows = ",\n".join(f'  {{"{c}", "{t}", "{u}"}}' for c, t, u in ents)
    loan_rows = ", ".join(f'"{c}"' for c in loans)
    return LUA_MIXED % {
        "pushed": pushed, "token": token, "loans": loan_rows, "ents": ent_rows,
        "opener": opener, "expires": expires, "bank": BANK, "pool": POOL,
    }  # fmt: skip


LUA_MIXED = """
local usccs = {}
for line in io.lines("%(pushed)s") do usccs[#usccs + 1] = line end
local loans = {%(loans)s}
local ents = {
%(ents)s
}
local auth = {["Authorization"] = "Bearer %(token)s"}
local json_auth = {["Authorization"] = "Bearer %(token)s", ["Content-Type"] = "application/json"}
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local sent, claims = 0, 0
function init(args)
  math.randomseed(20241 + tid)
end
request = function()
  sent = sent + 1
  if sent <= %(opener)d then
    return wrk.format("GET", "/api/health", auth)
  end
  local r = math.random(100)
  local firm = usccs[math.random(#usccs)]
  if r <= 60 then
    return wrk.format("GET", "/api/firms/" .. firm, auth)
  elseif r <= 90 then
    return wrk.format("GET", "/api/firms?limit=20&offset=" .. math.random(0, 2000), auth)
  elseif r <= 94 then
    return wrk.format("POST", "/api/firms/" .. firm .. "/credit-decisions", auth)
  elseif r <= 97 then
    local e = ents[math.random(#ents)]
    return wrk.format("POST", "/api/firms/" .. e[3] .. "/consents",
      {["Cookie"] = e[1], ["X-CSRF-Token"] = e[2], ["Content-Type"] = "application/json"},
      '{"institution_id": "%(bank)s", "purpose": "credit_assessment", "scope": "profile", ' ..
      '"expires_at": "%(expires)s"}')
  end
  local i = claims * 2 + tid + 1
  claims = claims + 1
  if i > #loans then
    return wrk.format("GET", "/api/firms/" .. firm, auth)
  end
  return wrk.format("POST", "/api/fund/claims", json_auth,
    '{"pool": "%(pool)s", "contract_no": "' .. loans[i] .. '", "reason": "bench", "key": "b' ..
    tid .. '-' .. sent .. '"}')
end
delay = function()
  return math.random(500, 1500)
end
"""
