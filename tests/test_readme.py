"""The README as a newcomer reads it first (issue 29, item 12): plain words before numbers, where the
X-rays come from and how they are laid out, what the first install costs; no internal history."""
from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_top_says_what_it_is_in_plain_words_before_any_interval():
    intro = README.split("\n## ", 1)[0]
    assert "NORMAL" in intro and "PNEUMONIA" in intro and "query strategy" in intro
    assert not re.search(r"±|\[[+-]?\d|AULC", intro)  # intervals and jargon come later, linked


def test_it_says_where_the_x_rays_come_from_and_what_the_first_install_costs():
    before_the_pages = README.split("\n## The dashboard", 1)[0]
    assert "Chest X-Ray Images (Pneumonia)" in " ".join(before_the_pages.split())
    assert "Kermany" in before_the_pages and "chest_xray/" in before_the_pages
    assert "train/NORMAL/*.jpeg" in before_the_pages
    assert "7 GB" in before_the_pages and "minutes" in before_the_pages


def test_no_internal_history():
    assert not re.search(r"Issue \d+'s|No GPU has been lent", README)
