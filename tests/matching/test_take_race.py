"""Several banks take the same need at once: exactly one wins, every other is told who has it."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from kejin.access.rules import Principal
from kejin.db import transaction
from kejin.errors import ConflictError
from kejin.lending.tables import Institution
from kejin.matching import service
from kejin.matching.tables import NeedEvent

from .conftest import EXTRA_BANKS, F1, Market
from .test_lifecycle import GOOD

OFFICERS = ("bank", "bankb", *(f"officer_{b}" for b in EXTRA_BANKS))


def _race(
    m: Market, who: dict[str, Principal], need: int
) -> tuple[list[str], list[ConflictError], list[BaseException]]:
    """Every officer takes ``need`` in its own thread and transaction, released together."""
    start = threading.Barrier(len(who))
    won: list[str] = []
    lost: list[ConflictError] = []
    other: list[BaseException] = []

    def attempt(name: str) -> None:
        start.wait()
        try:
            with transaction(m.engine) as s:
                won.append(service.take(s, who[name], need).institution_id or "")
        except ConflictError as e:
            lost.append(e)
        except BaseException as e:
            other.append(e)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in who]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost, other


def test_concurrent_takes_have_exactly_one_winner(market: Market) -> None:
    m = market
    who = {name: m.who(name) for name in OFFICERS}
    for _ in range(3):
        with transaction(m.engine) as s:
            need = service.post(s, m.who("ent"), F1, GOOD).id
        won, lost, other = _race(m, who, need)
        assert not other, other
        assert len(won) == 1, won
        assert len(lost) == len(OFFICERS) - 1
        with transaction(m.engine) as s:
            holder = s.get(Institution, won[0]).name  # the refusal names the holder
        assert all(holder in e.reason_en and e.problems[0].value == won[0] for e in lost)
        with transaction(m.engine) as s:
            assert service.get(s, need).institution_id == won[0]
            takes = s.scalar(
                select(func.count())
                .select_from(NeedEvent)
                .where(NeedEvent.need_id == need, NeedEvent.to_state == "taken")
            )
            assert takes == 1
