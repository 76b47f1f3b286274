"""The marketplace's rows of the permission rule table (registered on import).

The service modules import this, so the CLI (which never imports the routes) and the API apply
the same rules. ``scoped`` means the gate lets the role through and the service checks the
object: a bank officer acts on its own institution's products and on needs it holds, a firm on
its own needs (``kejin.matching.service`` / ``products`` / ``query``).
"""

from __future__ import annotations

from kejin.access.rules import READERS, Rule, add_rules

add_rules(
    [
        Rule("match.product.edit", "bank_officer", "scoped"),
        Rule("match.product.edit", "gov_admin", "region"),
        # A second person of the bank, or the government (maker-checker in the service).
        Rule("match.product.approve", "bank_officer", "scoped"),
        Rule("match.product.approve", "gov_admin", "region"),
        Rule("match.product.approve", "gov_reviewer", "region"),
        Rule("match.need.post", "enterprise_user", "own_firm"),
        Rule("match.need.edit", "enterprise_user", "scoped"),
        Rule("match.need.import", "gov_admin", "region"),
        *(Rule("match.need.list", r, "region") for r in READERS),
        Rule("match.need.list", "enterprise_user", "own_firm"),
        *(Rule("match.need.read", r, "region") for r in READERS),
        Rule("match.need.read", "enterprise_user", "scoped"),
        Rule("match.need.read", "bank_officer", "scoped"),
        *(Rule("match.for_need", r, "region") for r in READERS),
        Rule("match.for_need", "enterprise_user", "scoped"),
        Rule("match.for_need", "bank_officer", "scoped"),
        *(Rule("match.for_product", r, "region") for r in READERS),
        Rule("match.for_product", "bank_officer", "scoped"),
        Rule("match.take", "bank_officer", "scoped"),
        # 首贷培育: an officer pushes a prospect for its own bank (checked in the service)
        Rule("match.prospect.push", "bank_officer", "scoped"),
        Rule("match.decide", "bank_officer", "scoped"),
        Rule("match.redispatch", "gov_admin", "region"),
        Rule("match.assign", "gov_admin", "region"),
        Rule("match.need.rate", "enterprise_user", "own_firm"),
        *(Rule("match.funnel", r, "region") for r in READERS),
        # Matchmaking events (银企对接会 / 路演): the government holds them; a bank signs its own
        # institution up and records intents for firms invited; a firm sees and answers its own
        # invitations (``kejin.matching.events`` checks the object).
        Rule("match.event.create", "gov_admin", "region"),
        Rule("match.event.invite", "gov_admin", "region"),
        *(Rule("match.event.list", r, "region") for r in READERS),
        Rule("match.event.list", "bank_officer", "scoped"),
        Rule("match.event.list", "enterprise_user", "scoped"),
        *(Rule("match.event.read", r, "region") for r in READERS),
        Rule("match.event.read", "bank_officer", "scoped"),
        Rule("match.event.signup", "gov_admin", "region"),
        Rule("match.event.signup", "bank_officer", "scoped"),
        Rule("match.event.reply", "enterprise_user", "scoped"),
        Rule("match.event.intent", "gov_admin", "region"),
        Rule("match.event.intent", "bank_officer", "scoped"),
        Rule("match.event.outcome", "gov_admin", "region"),
        Rule("match.event.outcome", "bank_officer", "scoped"),
        # Investors (users of a vc_fund institution): events like a bank, for their own
        # institution; intents outside events for firms that consented to them (the service
        # checks the consent); their own intents' list. Readers see every investor's intents.
        Rule("match.event.list", "investor", "scoped"),
        Rule("match.event.read", "investor", "scoped"),
        Rule("match.event.signup", "investor", "scoped"),
        Rule("match.event.intent", "investor", "scoped"),
        Rule("match.event.outcome", "investor", "scoped"),
        Rule("match.intent.direct", "investor", "scoped"),
        Rule("match.intent.list", "investor", "scoped"),
        *(Rule("match.intent.list", r, "region") for r in READERS),
    ]
)
