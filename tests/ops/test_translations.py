"""Every user-visible string has its Simplified Chinese translation."""

import re
from pathlib import Path

CATALOGUE = Path(__file__).resolve().parents[2] / "locale/zh_Hans/LC_MESSAGES"


def test_no_string_is_left_untranslated() -> None:
    entries = CATALOGUE.joinpath("django.po").read_text().split("\n\n")[1:]  # skip the header
    untranslated = [
        entry
        for entry in entries
        if "#, fuzzy" in entry or re.search(r'^msgstr(\[0\])? ""(\n(?!")|\Z)', entry, re.M)
    ]
    assert untranslated == []
