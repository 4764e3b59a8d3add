"""The browser test of Setup's number fields (issue 29, item 8): text that is not a number is refused in its
field, with a message next to it, and Launch stays disabled; nothing is silently turned into another number."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import wait_for_script_idle

pytestmark = pytest.mark.e2e


def type_into(page, label: str, text: str) -> None:
    """Select the field's text and type over it key by key, as a person does, then leave the field."""
    field = page.get_by_label(label, exact=True)
    field.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(text)
    page.keyboard.press("Tab")
    wait_for_script_idle(page)


def test_text_that_is_not_a_whole_number_is_refused_by_its_field(dashboard, page, shoot):
    page.goto(f"{dashboard.url}/setup")
    page.get_by_role("button", name="Launch").wait_for()
    type_into(page, "Budget per round (images)", "abc")
    type_into(page, "Rounds", "1e3")
    page.get_by_text("Budget per round must be a whole number, e.g. 90 (got 'abc')").wait_for(timeout=10_000)
    page.get_by_text("Rounds must be a whole number, e.g. 10 (got '1e3')").wait_for(timeout=10_000)
    shoot(page, "setup_number_fields")
    assert page.get_by_role("button", name="Launch").is_disabled()
