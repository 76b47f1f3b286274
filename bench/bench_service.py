"""Load bench of the platform service: firm profiles under 200 concurrent clients.

PostgreSQL scratch database, a synthetic region of 100,000 firms (3 years of indicators each,
qualifications for a third), one bank whose officer's API token has consent to every firm, so
each request walks the whole path: token → rule table → consent → profile queries → audit
append. ``kejin serve --workers 2`` serves on loopback; ``wrk`` (C, so the client costs little
CPU on this 2-core machine) drives 200 connections for a bounded time with random firms.

Two readings of "200 concurrent clients", both printed:

* **200 users** (the target's reading): each of 200 clients requests a profile, reads it for a
  think time drawn uniformly from 0.5–1.5 s, and asks again — what 200 officers or bank
  systems at work produce (locust's user model). p99 is judged against the 100 ms target.
* **200 connections, no think time**: a saturation test. Every client re-sends the moment it is
  answered, so by Little's law mean latency = 200 / throughput: p99 < 100 ms would need more
  than 2,000 profiles/s, beyond even the bare HTTP stack (the peer below) on two cores.

The peer beside it is ``/api/health`` on the same server with the same 200 connections: the
ceiling of the HTTP stack itself on this machine, so the cost of the profile path can be read.
"""

from __future__ import annotations

import importlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from kejin.access.accounts import create_user
from kejin.access.audit import verify
from kejin.access.service import SYSTEM, issue_token, principal_of
from kejin.access.tables import AuditEvent, Consent
from kejin.api import AREA_ROUTERS
from kejin.db import make_engine, normalize_url, transaction
from kejin.frames import write_frame
from kejin.ids import uscc_check_char
from kejin.lending.tables import Institution
from kejin.migrate import upgrade
from kejin.registry.tables import AnnualIndicator, Enterprise, Qualification
from kejin.vocab import INDUSTRY_CHAINS, STAGES

from . import service_mixed as mixed
from . import service_peer

SERVER_URL = os.environ.get(
    "KEJIN_BENCH_DATABASE_URL",
    os.environ.get("KEJIN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
CLIENTS = 200


def _region(n: int) -> dict[str, pl.DataFrame]:
    bodies = [f"91320700MA{i:07d}" for i in range(1, n + 1)]
    usccs = [b + uscc_check_char(b) for b in bodies]
    chains, stages = list(INDUSTRY_CHAINS), list(STAGES)
    idx = pl.Series("i", range(n))
    ent = pl.DataFrame(
        {
            "uscc": usccs,
            "name": [f"连云港样本科技{i:06d}有限公司" for i in range(n)],
            "region_code": ["320703"] * n,
            "industry_code": ["3985"] * n,
            "industry_chain": [chains[i % len(chains)] for i in range(n)],
            "founded_on": [date(2005 + i % 19, 1 + i % 12, 1 + i % 28) for i in range(n)],
            "stage": [stages[i % len(stages)] for i in range(n)],
            "staff": (idx % 400 + 5).to_list(),
            "listing_board": ["none"] * n,
            "dishonest": [False] * n,
            "deregistered": [False] * n,
            "abnormal_operation": [False] * n,
        }
    )
    years = []
    for y in (2022, 2023, 2024):
        years.append(
            pl.DataFrame(
                {
                    "uscc": usccs,
                    "year": [y] * n,
                    "revenue": ((idx * 7919 % 50_000_000) + 100_000).to_list(),
                    "rd_expense": ((idx * 104729 % 3_000_000) + 10_000).to_list(),
                    "rd_staff": (idx % 60).to_list(),
                    "invention_patents": (idx % 13).to_list(),
                }
            )
        )
    ind = pl.concat(years).with_columns(
        pl.col("revenue").cast(pl.Decimal(18, 2)), pl.col("rd_expense").cast(pl.Decimal(18, 2))
    )
    q = ent.filter(pl.Series(range(n)) % 3 == 0).select("uscc")
    qual = q.with_columns(
        pl.lit("hnte").alias("kind"),
        pl.format("GR{}", pl.col("uscc").str.slice(10, 7)).alias("certificate_no"),
        pl.lit(date(2024, 1, 1)).alias("valid_from"),
        pl.lit(date(2026, 12, 31)).alias("valid_to"),
        pl.lit("most").alias("source"),
    )
    return {"enterprises": ent, "annual_indicators": ind, "qualifications": qual}


def _prepare(url: str, n: int, loans: int) -> tuple[str, list[str], dict[str, object]]:
    """Fill the scratch database; return the bank token, the USCCs and the mixed workload's
    pushed firms, claimable loans and enterprise users."""
    eng = make_engine(url)
    upgrade(eng)
    frames = _region(n)
    t0 = time.perf_counter()
    with eng.begin() as conn:
        write_frame(conn, Enterprise.__table__, frames["enterprises"])
        write_frame(conn, AnnualIndicator.__table__, frames["annual_indicators"])
        write_frame(conn, Qualification.__table__, frames["qualifications"])
    with transaction(eng) as s:
        s.add(
            Institution(
                id="BK01",
                name="基准银行",
                kind="bank",
                region_code="320700",
                partner_bank=True,
                tech_branch=True,
            )
        )
        s.flush()
        for mod in AREA_ROUTERS:  # every area's rules, so the token carries every bank scope
            importlib.import_module(mod)
        u = create_user(
            s,
            SYSTEM,
            username="bench_bank",
            role="bank_officer",
            password=secrets.token_urlsafe(16),
            institution_id="BK01",
            exemption="demo",  # a synthetic bench account: no first-login change
        )
        token = issue_token(s, principal_of(u), name="bench", days=2).secret
        uid = u.id
    now = datetime.now().replace(microsecond=0)
    usccs = frames["enterprises"]["uscc"].to_list()
    consents = pl.DataFrame(
        {
            "uscc": usccs,
            "institution_id": ["BK01"] * n,
            "purpose": ["credit_assessment"] * n,
            "scope": ["full"] * n,
            "granted_by": [uid] * n,
            "granted_at": [now] * n,
            "expires_at": [now + timedelta(days=365)] * n,
        }
    )
    with eng.begin() as conn:
        write_frame(conn, Consent.__table__, consents)
    pushed = mixed.push_half(eng, frames["enterprises"])
    work = {
        "pushed": pushed,
        "loans": mixed.defaulted_loans(eng, pushed, loans),
        "ents": dict(
            zip(pushed[-40:], mixed.enterprise_users(eng, pushed[-40:]).items(), strict=True)
        ),
    }
    # A server is not measured seconds after a bulk load: without this, autovacuum's first pass
    # over the 500,000 new rows and the checkpoint of their pages ran during the first load run.
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
        conn.execute(text("CHECKPOINT"))
    print(
        f"region: {n:,} firms, {3 * n:,} indicator rows, {n:,} consents loaded in {time.perf_counter() - t0:.1f} s"
    )
    eng.dispose()
    return token, usccs, work


LUA = """
local usccs = {}
for line in io.lines("%s") do usccs[#usccs + 1] = line end
math.randomseed(20241)
request = function()
  return wrk.format("GET", "/api/firms/" .. usccs[math.random(#usccs)], {["Authorization"] = "Bearer %s"})
end
"""
#: 200 users: each connection opens with a health check, then thinks 0.5–1.5 s between profile
#: requests. wrk sends every connection's first request at once, with no delay; opening with a
#: cheap request spreads the profile requests out as a crowd of users at work would, instead of
#: measuring a burst of 200 simultaneous first requests. (The 200 health checks are in the
#: latency sample: about 2% of it, all fast, so p99 reads as the profiles' p98.9 or so.)
LUA_USERS = """
local usccs = {}
for line in io.lines("%s") do usccs[#usccs + 1] = line end
math.randomseed(20241)
local sent = 0
request = function()
  sent = sent + 1
  if sent <= %d then
    return wrk.format("GET", "/api/health", {["Authorization"] = "Bearer %s"})
  end
  return wrk.format("GET", "/api/firms/" .. usccs[math.random(#usccs)], {["Authorization"] = "Bearer %s"})
end
delay = function()
  return math.random(500, 1500)
end
"""
LUA_HEALTH = """
request = function()
  return wrk.format("GET", "/api/health", {["Authorization"] = "Bearer %s"})
end
"""


def _ms(v: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    assert m, v
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]


def _wrk(port: int, script: Path, seconds: int, clients: int = CLIENTS) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, clients)}",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    reqs = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if reqs == 0:
        raise RuntimeError("wrk completed no request:\n" + out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(x) for x in sock.groups()) if sock else 0
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {
        "rps": rps,
        "p50": pct["50"],
        "p90": pct["90"],
        "p99": pct["99"],
        "requests": reqs,
        "errors": errors,
    }


def _drain(port: int) -> None:
    """Wait until the server has answered the requests wrk left queued (they would skew the next run)."""
    for _ in range(60):
        t0 = time.perf_counter()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=30).read()
        if time.perf_counter() - t0 < 0.05:
            return
        time.sleep(0.5)


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KEJIN_DATABASE_URL": url, "KEJIN_SESSION_KEY": secrets.token_urlsafe(32)}
    kejin = Path(sys.executable).with_name("kejin")
    proc = subprocess.Popen(
        [str(kejin), "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).read()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(
                    "server did not start: "
                    + (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]
                ) from None
            time.sleep(0.3)


def main(quick: bool) -> None:
    if shutil.which("wrk") is None:
        print("wrk not installed (apt-get install -y wrk); skipping the service load bench")
        return
    n = 10_000 if quick else 100_000
    seconds = 8 if quick else 30
    server = make_url(normalize_url(SERVER_URL))
    name = f"kejin_bench_service_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    proc = None
    try:
        token, usccs, work = _prepare(url, n, loans=150 if quick else 800)
        tmp = Path(tempfile.mkdtemp(prefix="kejin_bench_"))
        (tmp / "usccs.txt").write_text("\n".join(usccs) + "\n")
        (tmp / "pushed.txt").write_text("\n".join(work["pushed"]) + "\n")  # type: ignore[arg-type]
        (tmp / "profile.lua").write_text(LUA % (tmp / "usccs.txt", token))
        (tmp / "visible.lua").write_text(LUA % (tmp / "pushed.txt", token))
        (tmp / "health.lua").write_text(LUA_HEALTH % token)
        per_thread = CLIENTS // 2  # wrk -t2: each thread opens half the connections
        (tmp / "users.lua").write_text(LUA_USERS % (tmp / "usccs.txt", per_thread, token, token))
        port = 18000 + os.getpid() % 1000
        proc = _serve(url, port)
        _wrk(port, tmp / "profile.lua", 3)  # warm-up: pools, caches
        _drain(port)  # the warm-up leaves about half a second of queued requests behind
        users = _wrk(port, tmp / "users.lua", seconds)
        load = os.getloadavg()[0]
        _drain(port)
        sessions = mixed.log_in(port, {u: pw for u, pw in work["ents"].values()})  # type: ignore[union-attr]
        ents = [(c, t, f) for (c, t), f in zip(sessions, work["ents"], strict=True)]  # type: ignore[arg-type]
        (tmp / "mixed.lua").write_text(
            mixed.lua_mixed(str(tmp / "pushed.txt"), token, work["loans"], ents, per_thread)  # type: ignore[arg-type]
        )
        mixed_seconds = 10 if quick else 60
        mix = _wrk(port, tmp / "mixed.lua", mixed_seconds)
        mix_load = os.getloadavg()[0]
        _drain(port)
        ours = _wrk(port, tmp / "profile.lua", seconds)
        _drain(port)
        visible = _wrk(port, tmp / "visible.lua", seconds)
        _drain(port)
        single = _wrk(port, tmp / "profile.lua", 10, clients=1)
        _drain(port)
        peer = _wrk(port, tmp / "health.lua", max(5, seconds // 3))
        # Issue 20 item 5: the real peer, a plain FastAPI + SQLAlchemy profile endpoint on the same
        # database, same workers, same requests (bench/service_peer.py) — with kejin's server
        # stopped first, so that the peer has the machine and the database's connections to
        # itself, as kejin had.
        proc.terminate()
        proc.wait(15)
        proc = None
        plain = service_peer.measure(url, port + 1, lambda p: _wrk(p, tmp / "profile.lua", seconds))
        eng = make_engine(url)
        with eng.connect() as c:
            reads = c.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "firm.read")
            )
        chain = verify(eng)
        eng.dispose()
        print(
            f"{CLIENTS} clients, {seconds} s, uvicorn workers=2, PostgreSQL, {n:,} firms (wrk -t2 -c{CLIENTS})"
        )
        for label, r in (
            ("firm profile, 200 users (ours)", users),
            (f"mixed 90/10, 200 users, {mixed_seconds} s", mix),
            ("firm profile, 200 conns (ours)", ours),
            ("pushed firms, 200 conns (ours)", visible),
            ("firm profile, 1 client (ours)", single),
            ("/api/health, 200 conns (peer)", peer),
            ("plain FastAPI profile (peer)", plain),
        ):
            print(
                f"  {label:34s} {r['rps']:8.0f} req/s  p50 {r['p50']:7.1f} ms  p90 {r['p90']:7.1f} ms  "
                f"p99 {r['p99']:7.1f} ms  errors {int(r['errors'])} / {int(r['requests'])}"
            )
        print(
            f"  200 users (think 0.5–1.5 s): p99 {users['p99']:.1f} ms, errors {int(users['errors'])}; "
            f"target p99 < 100 ms and no error: "
            f"{'met' if users['p99'] < 100 and users['errors'] == 0 else 'NOT met'}"
        )
        print(
            f"  mixed (60% profiles, 30% lists, 4% decisions, 3% consents, 3% claims), 200 users: "
            f"p99 {mix['p99']:.1f} ms, errors {int(mix['errors'])}; target p99 < 100 ms and no "
            f"error: {'met' if mix['p99'] < 100 and mix['errors'] == 0 else 'NOT met'} "
            f"(load average {mix_load:.1f})"
        )
        for label, r in (("profile, consented", ours), ("profile, pushed", visible)):
            print(
                f"  saturation, {label}: {r['rps']:.0f} req/s, p99 {r['p99']:.0f} ms = "
                f"{r['rps'] / peer['rps']:.2f} × the bare stack ({peer['rps']:.0f} req/s)"
            )
        print(
            f"  machine: {os.cpu_count()} cores shared with other work; load average {load:.1f} during the 200-client run"
        )
        print(
            f"  audit: {reads:,} firm.read events appended, chain {'intact' if chain.ok else 'BROKEN'} ({chain.events:,} events)"
        )
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
