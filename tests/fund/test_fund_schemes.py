"""The scheme library loads, and a bad scheme is refused naming file, key and reason."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from kejin.errors import ValidationError
from kejin.fund.scheme import SCHEMES_DIR, library, load_scheme, parse_scheme


def test_library_has_the_four_cited_schemes() -> None:
    ids = {s.id for s in library()}
    assert ids == {"anhui", "zhengzhou", "pingshan", "jiangsu_suke"}
    for s in library():
        assert s.references and all(r.document for r in s.references)
        for c in s.categories:
            assert sum(c.shares.values()) == 1
    anhui = load_scheme("anhui")
    direct = next(c for c in anhui.categories if c.id == "direct")
    assert direct.shares["pool"] == Decimal("0.30")
    assert anhui.caps.max_share_of_liability == Decimal("0.80")


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = (SCHEMES_DIR / "zhengzhou.yaml").read_text(encoding="utf-8")
    assert old in text
    p = tmp_path / "bad.yaml"
    p.write_text(text.replace(old, new), encoding="utf-8")
    return p


def test_shares_that_do_not_add_up_are_refused_with_file_and_key(tmp_path: Path) -> None:
    p = _broken(
        tmp_path, 'shares: {pool: "0.60", bank: "0.40"}', 'shares: {pool: "0.60", bank: "0.30"}'
    )
    with pytest.raises(ValidationError) as ei:
        load_scheme(str(p))
    prob = ei.value.problems[0]
    assert prob.file == str(p)
    assert prob.field == "categories[1](mortgage).shares"
    assert "0.90" in prob.reason_en and "合计" in prob.reason_zh


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            "guarantee_kinds: [mortgage]",
            "guarantee_kinds: [gold]",
            "categories[1](mortgage).when.guarantee_kinds",
        ),
        ("trigger: {days_past_due: 90}", "trigger: {}", "trigger"),
        (
            "approval_working_days: 25",
            "approval_working_days: 0",
            "deadlines.approval_working_days",
        ),
        (
            'guarantor: "0.40", bank: "0.20"',
            'reinsurer: "0.40", bank: "0.20"',
            "categories[2](guaranteed).shares.reinsurer",
        ),
    ],
)
def test_other_bad_schemes_name_the_key(tmp_path: Path, old: str, new: str, field: str) -> None:
    with pytest.raises(ValidationError) as ei:
        load_scheme(str(_broken(tmp_path, old, new)))
    assert field in [p.field for p in ei.value.problems]


def test_parse_rejects_non_mapping() -> None:
    with pytest.raises(ValidationError):
        parse_scheme("- a\n- b\n", "x.yaml")


def test_cli_runs_a_claim_and_the_audit(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole lifecycle through ``kejin fund`` with --json, then audit and report; each step
    acts as a platform user (--who), maker-checker holding between them as on the web."""
    from fundkit import bad_status, seed_loans
    from tests.people import add_people

    from kejin.cli import _mount_areas, app

    # Mount first: mounting imports every area's commands module, and a module imported while
    # ``console.get_engine`` was patched would keep this test's engine for the rest of the run.
    _mount_areas()
    from kejin.fund import commands

    monkeypatch.setattr(commands, "get_engine", lambda: engine)
    seed_loans(engine, n=1)
    add_people(
        engine,
        ("gov", "gov_admin", None, None),
        ("li", "gov_admin", None, None),
        ("wang", "gov_reviewer", None, None),
        ("bank", "bank_officer", "B1", None),
    )
    r = CliRunner()

    def run(*args: str) -> dict:  # type: ignore[type-arg]
        res = r.invoke(app, ["fund", *args, "--json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    gov = ("--who", "gov")
    run("create", "P", "--scheme", "anhui", "--on", "2026-01-02", *gov)
    first = run("deposit", "P", "--amount", "500000", "--on", "2026-01-02", *gov)
    assert first["balance"] == "500000.00"
    # A key names a request, not its content: the same deposit again is a second deposit ...
    assert run("deposit", "P", "--amount", "500000", "--on", "2026-01-02", *gov)["balance"] == (
        "1000000.00"
    )
    # ... and a retry passing the printed key back replays the first, posting nothing.
    again = run(
        "deposit", "P", "--amount", "500000", "--on", "2026-01-02", "--key", first["command"], *gov
    )
    assert again["replayed"] is True and again["balance"] == "500000.00"
    run("enrol", "P", "L00000", "--on", "2026-01-10", "-u", "bank")
    bad_status(engine, "L00000", __import__("datetime").date(2026, 5, 1), Decimal("500000.00"))
    cid = run("claim", "P", "L00000", "--on", "2026-05-04", "-u", "bank")["claim"]
    run("review", str(cid), "--on", "2026-05-05", "-u", "li")
    res = r.invoke(app, ["fund", "approve", str(cid), "--on", "2026-05-06", "-u", "li"])
    assert res.exit_code != 0
    run("approve", str(cid), "--on", "2026-05-06", "-u", "wang")
    assert run("pay", "P", str(cid), "--on", "2026-05-07", "-u", "gov")["paid"] == "175000.00"
    # Two genuine recoveries of the same size on the same day both post.
    for total in ("50000.00", "100000.00"):
        rec = run("recover", str(cid), "--amount", "50000", "--on", "2026-06-01", "-u", "bank")
        assert (rec["replayed"], rec["recovered_total"]) == (False, total)
    assert run("audit", "P")["ok"] is True
    files = run("report", "P", "--out", str(tmp_path), "--on", "2026-05-07")
    assert Path(files["xlsx"]).stat().st_size > 0
    assert Path(files["png"]).read_bytes()[:4] == b"\x89PNG"
    assert run("show", "P", "--on", "2026-06-01")["balance"] == "860000.00"
