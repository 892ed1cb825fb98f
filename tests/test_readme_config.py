"""The README's configuration table is the settings module's documentation, row for row."""

from __future__ import annotations

from pathlib import Path

from personalize.settings import SETTINGS_DOC

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_has_its_row_in_the_readme() -> None:
    text = README.read_text()
    missing = [var for var, default, meaning in SETTINGS_DOC if f"| `{var}` | `{default}` | {meaning} |" not in text]
    assert missing == []
