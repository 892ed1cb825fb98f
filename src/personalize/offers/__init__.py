"""Next-best offer: catalog, rules, contact policy (pure half) and arbitration.

Pure Python: nothing here imports litestar or redis. The Redis half of the contact policy
is ``personalize.store.contact_policy``.
"""

from personalize.offers.arbitration import (
    ConsentFlags,
    ExplorationPolicy,
    OfferDecision,
    arbitrate,
    in_holdout,
)
from personalize.offers.catalog import (
    Catalog,
    CatalogError,
    CompiledOffer,
    load_catalog,
    parse_catalog,
    parse_offer,
)
from personalize.offers.model import Offer
from personalize.offers.rules import Rule, RuleError, compile_rule

__all__ = [
    "Catalog",
    "CatalogError",
    "CompiledOffer",
    "ConsentFlags",
    "ExplorationPolicy",
    "Offer",
    "OfferDecision",
    "Rule",
    "RuleError",
    "arbitrate",
    "compile_rule",
    "in_holdout",
    "load_catalog",
    "parse_catalog",
    "parse_offer",
]
