"""Whatever accent an owner saves, text on it and it on the page keep WCAG AA contrast."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import Client

from tenants.web.colors import AA_CONTRAST, SURFACES, contrast_ratio, readable_accent
from tests.test_workspace_settings import get, owner, save

__all__ = ["owner"]

colours = st.integers(min_value=0, max_value=0xFFFFFF).map(lambda value: f"#{value:06x}")


def test_contrast_ratio_matches_wcag() -> None:
    assert round(contrast_ratio("#ffffff", "#000000"), 2) == 21.0
    assert round(contrast_ratio("#777777", "#ffffff"), 2) == 4.48  # WCAG's well-known miss
    assert contrast_ratio("#4f46e5", "#ffffff") == contrast_ratio("#ffffff", "#4f46e5")


@given(colours)
def test_every_colour_gets_a_readable_shade(colour: str) -> None:
    shade = readable_accent(colour)
    for surface in (*SURFACES, "#ffffff"):
        # The shade as text on the page, and white button text on the shade.
        assert contrast_ratio(shade, surface) >= AA_CONTRAST, (colour, shade, surface)
    if all(contrast_ratio(colour, surface) >= AA_CONTRAST for surface in SURFACES):
        assert shade == colour  # a colour that reads already is used as it is


def test_white_is_saved_and_shown_readable(owner: Client) -> None:
    saved = save(owner, "Acme", "#ffffff")
    assert saved.status_code == 302
    page = get(owner, "/settings/").get_data(as_text=True)
    style = re.search(r"--brand: (#[0-9a-f]{6}); --accent: (#[0-9a-f]{6});", page)
    assert style is not None, page
    brand, accent = style.groups()
    assert brand == "#ffffff"
    assert contrast_ratio(accent, "#ffffff") >= AA_CONTRAST
    assert "#ffffff is too light to read as text on white" in page  # the flash says why
    assert f"buttons and links use <code>{accent}</code>" in page  # and the form says it too
    # A dark colour stays as chosen, without a note.
    save(owner, "Acme", "#1d4ed8")
    page = get(owner, "/settings/").get_data(as_text=True)
    assert "--brand: #1d4ed8; --accent: #1d4ed8;" in page and "too light" not in page
