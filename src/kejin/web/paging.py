"""A list shown a screen at a time: page numbers, total, previous and next, filters kept.

Every link keeps the list's query (its search filters, its language) and changes only ``page``,
so paging never drops what the reader asked for. Numbers shown: the first and last page and a
window around the current one, with gaps marked, as search engines and bank statements do.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Query, Request

from kejin.web.flash import with_query

#: The page parameter of every paged page: 1 … 10⁵ (beyond the last page shows the last page).
PAGE_Q = Query(1, ge=1, le=100_000, description="页码 / page number")


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int
    size: int
    #: (page number or None for a gap, its address or None for the current page)
    links: tuple[tuple[int | None, str | None], ...]
    prev: str | None
    next: str | None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first_row(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last_row(self) -> int:
        return min(self.offset + self.size, self.total)


def clamp(page: int, total: int, size: int) -> int:
    """The page to show: at most the last one (a stale link past the end shows the end)."""
    return min(page, max(1, -(-total // size)))


def pager(request: Request, page: int, total: int, size: int, window: int = 2) -> Pager:
    """The pager of a list of ``total`` rows, ``size`` a page, now on ``page``.

    >>> from starlette.requests import Request as R
    >>> r = R({"type": "http", "path": "/firms", "query_string": b"q=x&page=3", "headers": []})
    >>> p = pager(r, 3, 1000, 50)
    >>> p.pages, [n for n, _ in p.links], p.next
    (20, [1, 2, 3, 4, 5, None, 20], '/firms?q=x&page=4')
    """
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    here = f"{request.url.path}?{request.url.query}"

    def href(n: int) -> str:
        return with_query(here, page=n)

    shown = sorted({1, pages, *range(max(1, page - window), min(pages, page + window) + 1)})
    links: list[tuple[int | None, str | None]] = []
    for i, n in enumerate(shown):
        if i and n - shown[i - 1] > 1:
            links.append((None, None))
        links.append((n, None if n == page else href(n)))
    return Pager(
        page=page,
        pages=pages,
        total=total,
        size=size,
        links=tuple(links),
        prev=href(page - 1) if page > 1 else None,
        next=href(page + 1) if page < pages else None,
    )
