"""import-items / import-profiles: CSV files into a running API (same validation as the storefront)."""

from __future__ import annotations

import csv
import hashlib
import re
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

console = Console()

TRUE = {"1", "true", "yes", "y", "granted", "opt-in", "optin"}
FALSE = {"0", "false", "no", "n", "withdrawn", "opt-out", "optout"}
ITEM_COLUMNS = {"id", "item_id", "product_id", "sku", "title", "name", "category", "price", "in_stock", "stock"}
ID_COLUMNS = ("user_id", "customer_id", "id", "contact_id", "email")
CONSENT_PREFIX = "consent_"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


def _first(row: dict[str, str], *names: str) -> str:
    for n in names:
        if row.get(n):
            return row[n]
    return ""


def item_from_row(row: dict[str, str]) -> dict[str, Any]:
    """Map a catalog export row (common column names) to the API's item shape."""
    item: dict[str, Any] = {"id": _first(row, "id", "item_id", "product_id", "sku")}
    title = _first(row, "title", "name")
    if title:
        item["title"] = title
    if row.get("category"):
        item["category"] = row["category"]
    price = row.get("price", "")
    if price:
        try:
            item["price"] = float(price)
        except ValueError:
            item["price"] = price  # the API rejects it with the field named
    stock = _first(row, "in_stock", "stock").lower()
    if stock:
        item["in_stock"] = stock in TRUE or (stock.isdigit() and int(stock) > 0)
    attrs = {k: v for k, v in row.items() if k not in ITEM_COLUMNS and v and k}
    if attrs:
        item["attributes"] = dict(list(attrs.items())[:100])
    return item


def trait_name(column: str) -> str:
    """A CRM column header as a trait name (the API's rule: letters, digits, _ . -):
    "First Name" -> "first_name"."""
    name = re.sub(r"[^a-z0-9_.-]+", "_", column.strip().lower()).strip("_")
    return name[:64]


def profile_events(row: dict[str, str], row_no: int, file_tag: str, now: float) -> list[dict[str, Any]]:
    """A lead/contact row -> a lead_form event with its traits (+ a consent event if given).

    Event ids derive from the file content and row number, so re-importing the same file
    is idempotent (duplicates are ignored by the API).
    """
    user = _first(row, *ID_COLUMNS)
    if "@" in user:  # an email as id: hash it so the id carries no personal data
        user = "e-" + hashlib.sha256(user.lower().encode()).hexdigest()[:24]
    base = {"user_id": user, "timestamp": now}
    traits: dict[str, Any] = {}
    granted, withdrawn = [], []
    for k, v in row.items():
        if not v or k in ID_COLUMNS[:4]:
            continue
        if k.startswith(CONSENT_PREFIX):
            purpose = k[len(CONSENT_PREFIX):]
            if v.lower() in TRUE:
                granted.append(purpose)
            elif v.lower() in FALSE:
                withdrawn.append(purpose)
            continue
        name = trait_name(k)
        if name:
            traits[name] = v
    events = [{"type": "lead_form", "event_id": f"import-{file_tag}-{row_no}", **base, "form_id": "import", "traits": dict(list(traits.items())[:50])}]
    if granted or withdrawn:
        events.append({"type": "consent", "event_id": f"import-{file_tag}-{row_no}-consent", **base, "granted": granted, "withdrawn": withdrawn})
    return events


def _summary(title: str, ok: int, rejected: list[tuple[int, str, str]], duplicates: int = 0) -> None:
    console.print(f"[bold]{title}[/bold]: {ok:,} imported, {duplicates:,} already present, {len(rejected):,} rejected rows")
    if rejected:
        table = Table(title="rejected rows (first 20)")
        table.add_column("row")
        table.add_column("field")
        table.add_column("reason")
        for row_no, field, reason in rejected[:20]:
            table.add_row(str(row_no), field, reason)
        console.print(table)


def import_items(
    file: Path = typer.Argument(..., exists=True, readable=True, help="CSV with id,title,category,price,in_stock[,more attributes]"),
    api: str = typer.Option("http://127.0.0.1:8000", help="Base URL of the running API."),
    batch: int = typer.Option(500, min=1, max=1000, help="Items per request."),
) -> None:
    """Upsert catalog items from a CSV export (columns id/sku/product_id, title/name, category, price, in_stock)."""
    rows = _read_csv(file)
    ok = 0
    rejected: list[tuple[int, str, str]] = []
    with httpx.Client(base_url=api, timeout=30) as client, Progress(console=console) as progress:
        task = progress.add_task("items", total=len(rows))
        for start in range(0, len(rows), batch):
            chunk = [(start + i + 2, item_from_row(r)) for i, r in enumerate(rows[start:start + batch])]
            good = chunk
            r = client.put("/v1/items", json={"items": [it for _, it in good]})
            if r.status_code == 200:
                ok += len(good)
            else:
                # One bad row fails the request: retry row by row to name the culprits.
                for row_no, item in good:
                    single = client.put("/v1/items", json={"items": [item]})
                    if single.status_code == 200:
                        ok += 1
                    else:
                        body = single.json()
                        rejected.append((row_no, str(body.get("field") or ""), str(body.get("detail"))[:200]))
            progress.advance(task, len(chunk))
    _summary(f"items from {file.name}", ok, rejected)
    if rejected and not ok:
        raise typer.Exit(1)


def import_profiles(
    file: Path = typer.Argument(..., exists=True, readable=True, help="CSV of leads/contacts: user_id (or email), traits, consent_<purpose> columns"),
    api: str = typer.Option("http://127.0.0.1:8000", help="Base URL of the running API."),
    batch: int = typer.Option(250, min=1, max=250, help="Rows per request (2 events per row at most)."),
) -> None:
    """Import leads/contacts (form tool or CRM export) as profiles with traits and consent."""
    rows = _read_csv(file)
    tag = hashlib.sha256(file.read_bytes()).hexdigest()[:10]
    # The file's own time stamps the events, so a re-import is byte-identical (a duplicate).
    now = min(file.stat().st_mtime, time.time())
    ok = dup = 0
    rejected: list[tuple[int, str, str]] = []
    with httpx.Client(base_url=api, timeout=30) as client, Progress(console=console) as progress:
        task = progress.add_task("profiles", total=len(rows))
        for start in range(0, len(rows), batch):
            events: list[dict[str, Any]] = []
            owner: list[int] = []
            for i, row in enumerate(rows[start:start + batch]):
                row_no = start + i + 2  # header is line 1
                for e in profile_events(row, row_no, tag, now):
                    events.append(e)
                    owner.append(row_no)
            r = client.post("/v1/events", json={"events": events})
            body = r.json()
            if r.status_code not in (202, 422):
                raise typer.BadParameter(f"API answered {r.status_code}: {body}")
            bad_rows: dict[int, tuple[str, str]] = {}
            row_status: dict[int, str] = {}
            for res in body["results"]:
                row_no = owner[res["index"]]
                if res["status"] == "rejected":
                    bad_rows.setdefault(row_no, (res.get("field", ""), res.get("reason", "")))
                elif events[res["index"]]["type"] == "lead_form":
                    row_status[row_no] = res["status"]
            ok += sum(1 for r_no, s in row_status.items() if s == "accepted" and r_no not in bad_rows)
            dup += sum(1 for r_no, s in row_status.items() if s == "duplicate" and r_no not in bad_rows)
            rejected += [(r_no, f, reason) for r_no, (f, reason) in sorted(bad_rows.items())]
            progress.advance(task, min(batch, len(rows) - start))
    _summary(f"profiles from {file.name}", ok, rejected, dup)
    if rejected and not ok and not dup:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("import-items")(import_items)
    app.command("import-profiles")(import_profiles)
