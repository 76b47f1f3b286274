"""The relending ledger's rows of the permission rule table (registered on import).

The central-bank branch user is a ``gov_reviewer`` account: it approves or rejects batches (the
second person of each batch, the bank officer being the first); the government administrator sets
quotas. A bank submits and repays only on its own quotas and sees only its own batches (``scoped``:
the service restricts the query to the officer's institution).
"""

from __future__ import annotations

from kejin.access.rules import READERS, Rule, add_rules

add_rules(
    [
        Rule("relend.quota", "gov_admin", "region"),
        Rule("relend.submit", "bank_officer", "own_institution"),
        # A bank's system submitting through the API (a token may carry it): the service
        # checks the quota is the officer's own institution's.
        Rule("relend.batches", "bank_officer", "scoped"),
        Rule("relend.approve", "gov_reviewer", "region"),
        Rule("relend.repay", "bank_officer", "own_institution"),
        *(Rule("relend.read", r, "region") for r in READERS),
        Rule("relend.read", "bank_officer", "scoped"),
    ]
)
