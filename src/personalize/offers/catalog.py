"""Load, validate and compile an offer catalog (YAML or JSON, file or API body).

Every error names the offer (id and position in the file) and the field; rule errors
also name the rule list, the rule's index and the character position inside it. A
catalog either loads completely or not at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
import yaml

from personalize.offers.model import ContactDefaults, ContactPolicy, Offer
from personalize.offers.rules import Rule, RuleError, compile_rule

RULE_LISTS: Final = ("eligibility", "applicability", "suitability")
_SCORE_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTEXT_KEY: Final = re.compile(r"^(page_type|channel|device|country|category|item_id):.+$")


class CatalogError(ValueError):
    """The catalog (or one offer) is invalid; ``problems`` lists every message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid offer catalog:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """An offer's contact policy with catalog defaults filled in (what the Lua script gets)."""

    max_per_day: int
    max_per_week: int
    suppress_after_dismissals: int
    suppress_days: float
    cooldown_after_redemption_days: float
    max_offers_per_day: int  # the global cap, all offers together
    budget_per_day: int | None
    budget_total: int | None


@dataclass(frozen=True, slots=True)
class NamedRule:
    kind: str  # eligibility | applicability | suitability
    index: int
    rule: Rule
    label: str = ""  # "<kind>: <source>", as logged in OfferCandidate.failed

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", f"{self.kind}: {self.rule.source}")


@dataclass(frozen=True, slots=True)
class CompiledOffer:
    offer: Offer
    rules: tuple[NamedRule, ...]
    valid_from: float | None
    valid_until: float | None
    policy: EffectivePolicy
    score_name: str | None  # propensity read from facts["scores"][score_name]
    propensity_expr: Rule | None  # or computed by an expression
    channel_set: frozenset[str] = frozenset()  # offer.channels, for a fast membership test
    needs_marketing_consent: bool = True

    @property
    def id(self) -> str:
        return self.offer.id

    def expires_at(self, now: float) -> float:
        """When the storefront should stop showing this offer if it is granted at ``now``:
        ``expires_in_hours`` later, but never after the offer's ``valid_until``."""
        expiry = now + self.offer.expires_in_hours * 3600.0
        return expiry if self.valid_until is None else min(expiry, self.valid_until)


@dataclass(frozen=True, slots=True)
class Catalog:
    offers: dict[str, CompiledOffer]
    contact_defaults: ContactDefaults = field(default_factory=ContactDefaults)
    no_offer_priority: float = 1.0
    version: str = ""
    # Arbitration's per-visitor-kind plans (see offers.arbitration._plan) and other data derived
    # from this immutable catalog (validity boundaries, facts read, the no-contact state), so
    # they live and die with it.
    plans: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.offers)

    def get(self, offer_id: str) -> CompiledOffer | None:
        return self.offers.get(offer_id)

    def with_offer(self, offer: Offer) -> Catalog:
        """A new catalog with ``offer`` added or replaced (admin PUT). Raises CatalogError."""
        compiled = compile_offer(offer, self.contact_defaults)
        offers = dict(self.offers)
        offers[offer.id] = compiled
        return _make_catalog(offers, self.contact_defaults, self.no_offer_priority)

    def without(self, offer_id: str) -> Catalog:
        offers = {k: v for k, v in self.offers.items() if k != offer_id}
        return _make_catalog(offers, self.contact_defaults, self.no_offer_priority)

    def to_document(self) -> dict[str, Any]:
        """The catalog as a plain document (JSON/YAML-ready); loads back to the same version."""
        return {
            "contact_defaults": msgspec.to_builtins(self.contact_defaults),
            "no_offer_priority": self.no_offer_priority,
            "offers": [msgspec.to_builtins(c.offer) for c in self.offers.values()],
        }


def parse_instant(value: float | str | None, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        parsed = datetime.fromisoformat(value.strip())  # 3.11 reads "Z" too
    except ValueError:
        raise CatalogError(
            [f"{where}: {value!r} is neither unix seconds nor an ISO-8601 date"]
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _effective_policy(offer: Offer, defaults: ContactDefaults) -> EffectivePolicy:
    cp: ContactPolicy = offer.contact_policy

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return EffectivePolicy(
        max_per_day=pick(cp.max_per_day, defaults.max_per_day),
        max_per_week=pick(cp.max_per_week, defaults.max_per_week),
        suppress_after_dismissals=pick(
            cp.suppress_after_dismissals, defaults.suppress_after_dismissals
        ),
        suppress_days=float(pick(cp.suppress_days, defaults.suppress_days)),
        cooldown_after_redemption_days=float(
            pick(cp.cooldown_after_redemption_days, defaults.cooldown_after_redemption_days)
        ),
        max_offers_per_day=defaults.max_offers_per_day,
        budget_per_day=offer.budget.max_per_day,
        budget_total=offer.budget.max_total,
    )


def compile_offer(offer: Offer, defaults: ContactDefaults | None = None) -> CompiledOffer:
    """Check what msgspec cannot, parse every rule. Raises CatalogError listing all problems."""
    defaults = defaults or ContactDefaults()
    where = f"offer {offer.id!r}"
    problems: list[str] = []
    rules: list[NamedRule] = []
    for kind in RULE_LISTS:
        for index, source in enumerate(getattr(offer, kind)):
            try:
                rules.append(NamedRule(kind, index, compile_rule(source)))
            except RuleError as exc:
                problems.append(
                    f"{where}: {kind}[{index}] {source!r}: {exc.reason} at position {exc.position}"
                )
    score_name: str | None = None
    propensity_expr: Rule | None = None
    key = offer.propensity_key
    if key is not None:
        if _SCORE_NAME.match(key):
            score_name = key
        else:
            try:
                propensity_expr = compile_rule(key)
            except RuleError as exc:
                problems.append(
                    f"{where}: propensity_key {key!r}: {exc.reason} at position {exc.position}"
                )
    if offer.kind == "percent_discount" and not 0 < offer.value <= 100:
        problems.append(
            f"{where}: value must be a percent in (0, 100] for a percent_discount, got {offer.value}"
        )
    if offer.kind in ("fixed_discount", "free_shipping", "loyalty_points") and offer.value <= 0:
        problems.append(f"{where}: value must be > 0 for a {offer.kind}")
    if not offer.channels:
        problems.append(f"{where}: channels must list at least one of web, email, sms, app")
    elif len(set(offer.channels)) != len(offer.channels):
        problems.append(f"{where}: channels lists a channel twice")
    for key in offer.context_weights:
        if not _CONTEXT_KEY.match(key):
            problems.append(
                f"{where}: context_weights key {key!r} must look like 'page_type:cart' "
                "(page_type, channel, device, country, category or item_id)"
            )
    valid_from = valid_until = None
    try:
        valid_from = parse_instant(offer.valid_from, f"{where}: valid_from")
    except CatalogError as exc:
        problems.extend(exc.problems)
    try:
        valid_until = parse_instant(offer.valid_until, f"{where}: valid_until")
    except CatalogError as exc:
        problems.extend(exc.problems)
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        problems.append(f"{where}: valid_until must be after valid_from")
    if problems:
        raise CatalogError(problems)
    return CompiledOffer(
        offer=offer,
        rules=tuple(rules),
        valid_from=valid_from,
        valid_until=valid_until,
        policy=_effective_policy(offer, defaults),
        score_name=score_name,
        propensity_expr=propensity_expr,
        channel_set=frozenset(offer.channels),
        needs_marketing_consent=offer.purpose == "marketing",
    )


def offer_from_builtins(raw: object, position: int | None = None) -> Offer:
    """Validate one offer given as a mapping (file entry or decoded API body)."""
    ident = raw.get("id") if isinstance(raw, Mapping) else None
    where = f"offer {ident!r}" if ident else "offer"
    if position is not None:
        where += f" (#{position + 1} in the file)"
    if not isinstance(raw, Mapping):
        raise CatalogError([f"{where}: must be a mapping of fields, got {type(raw).__name__}"])
    raw = dict(raw)
    for name in ("valid_from", "valid_until"):
        if isinstance(raw.get(name), (date, datetime)):  # YAML turns 2026-11-01 into a date
            raw[name] = raw[name].isoformat()
    try:
        return msgspec.convert(raw, Offer, strict=False)
    except msgspec.ValidationError as exc:
        raise CatalogError([f"{where}: {_field_message(str(exc))}"]) from None


def _field_message(msg: str) -> str:
    # msgspec says "Expected `str`, got `int` - at `$.channels[0]`": lead with the field name.
    match = re.match(r"^(.*) - at `\$\.?(.*)`$", msg)
    if match:
        return f"field {match.group(2)}: {match.group(1)}"
    return msg


def parse_offer(body: bytes | str, defaults: ContactDefaults | None = None) -> CompiledOffer:
    """Decode, validate and compile one offer from a JSON body (the admin API's PUT)."""
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise CatalogError([f"offer: body is not valid JSON: {exc}"]) from None
    return compile_offer(offer_from_builtins(raw), defaults)


def catalog_from_document(document: object) -> Catalog:
    """Build a catalog from a decoded YAML/JSON document (a list of offers, or a mapping)."""
    if isinstance(document, list):
        document = {"offers": document}
    if not isinstance(document, Mapping):
        raise CatalogError(
            ["catalog: the file must hold a list of offers or a mapping with 'offers'"]
        )
    unknown = set(document) - {"offers", "contact_defaults", "no_offer_priority", "version"}
    if unknown:
        raise CatalogError([f"catalog: unknown top-level field(s) {sorted(unknown)}"])
    problems: list[str] = []
    try:
        defaults = msgspec.convert(document.get("contact_defaults") or {}, ContactDefaults)
    except msgspec.ValidationError as exc:
        raise CatalogError([f"catalog: contact_defaults: {_field_message(str(exc))}"]) from None
    no_offer = document.get("no_offer_priority", 1.0)
    if not isinstance(no_offer, (int, float)) or isinstance(no_offer, bool) or no_offer < 0:
        problems.append(f"catalog: no_offer_priority must be a number >= 0, got {no_offer!r}")
    # A document without its offers is a mistake, not an empty catalog: loaded or PUT, it
    # would silently remove every offer. An empty catalog is asked for as "offers: []".
    if "offers" not in document:
        raise CatalogError(["catalog: 'offers' is missing (use 'offers: []' for an empty catalog)"])
    raw_offers = document["offers"]
    if not isinstance(raw_offers, list):
        raise CatalogError(["catalog: 'offers' must be a list"])
    compiled: dict[str, CompiledOffer] = {}
    for position, raw in enumerate(raw_offers):
        try:
            offer = offer_from_builtins(raw, position)
            if offer.id in compiled:
                problems.append(f"offer {offer.id!r} (#{position + 1} in the file): duplicate id")
                continue
            compiled[offer.id] = compile_offer(offer, defaults)
        except CatalogError as exc:
            problems.extend(exc.problems)
    if problems:
        raise CatalogError(problems)
    return _make_catalog(compiled, defaults, float(no_offer))


def replacement_catalog(document: object) -> Catalog:
    """The catalog that replaces the live one (PUT /v1/offers), from a decoded JSON body.

    Like ``catalog_from_document``, except that a bare empty list is refused: one stray
    ``[]`` would stop every offer, so clearing the catalog takes ``{"offers": []}``.
    """
    if isinstance(document, list) and not document:
        raise CatalogError(
            ['catalog: an empty list would remove every offer; send {"offers": []} to clear it']
        )
    return catalog_from_document(document)


def parse_catalog(text: str, fmt: str = "yaml") -> Catalog:
    """Parse catalog text; ``fmt`` is "yaml" or "json" (YAML also reads JSON)."""
    try:
        document = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CatalogError([f"catalog: not valid {fmt.upper()}: {exc}"]) from None
    return catalog_from_document(document)


def load_catalog(path: str | Path) -> Catalog:
    """Load a catalog file (.yaml/.yml/.json). Raises CatalogError or OSError."""
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    return parse_catalog(path.read_text(encoding="utf-8"), fmt)


def catalog_version(
    offers: Iterable[Offer], defaults: ContactDefaults, no_offer_priority: float
) -> str:
    """Content hash: two processes with the same catalog log the same policy version."""
    payload = msgspec.json.encode(
        {
            "offers": sorted((msgspec.to_builtins(o) for o in offers), key=lambda o: str(o["id"])),
            "defaults": msgspec.to_builtins(defaults),
            "no_offer": no_offer_priority,
        },
        order="sorted",
    )
    return "cat-" + hashlib.sha256(payload).hexdigest()[:12]


def _make_catalog(
    offers: dict[str, CompiledOffer], defaults: ContactDefaults, no_offer_priority: float
) -> Catalog:
    return Catalog(
        offers=offers,
        contact_defaults=defaults,
        no_offer_priority=no_offer_priority,
        version=catalog_version((c.offer for c in offers.values()), defaults, no_offer_priority),
    )


def offer_to_json(offer: Offer) -> bytes:
    """One offer as stored in the ``Keys.offers`` hash (field = offer id)."""
    return msgspec.json.encode(offer)


def catalog_from_offer_jsons(
    values: Iterable[bytes | str],
    *,
    contact_defaults: ContactDefaults | None = None,
    no_offer_priority: float = 1.0,
) -> Catalog:
    """Rebuild a catalog from the ``Keys.offers`` hash values (how workers share admin edits).

    Raises CatalogError listing every stored offer that no longer validates.
    """
    defaults = contact_defaults or ContactDefaults()
    compiled: dict[str, CompiledOffer] = {}
    problems: list[str] = []
    for raw in values:
        try:
            offer = offer_from_builtins(json.loads(raw))
            compiled[offer.id] = compile_offer(offer, defaults)
        except ValueError as exc:  # CatalogError and JSON errors
            problems.extend(exc.problems if isinstance(exc, CatalogError) else [f"offer: {exc}"])
    if problems:
        raise CatalogError(problems)
    ordered = dict(sorted(compiled.items()))  # hash order is arbitrary; keep logs stable
    return _make_catalog(ordered, defaults, no_offer_priority)
