"""Readable accent colours: WCAG 2 contrast, and a shade of any colour that keeps it.

A workspace's accent is used as text on the page (links, counts, the current nav item)
and as the background of buttons with white text on them. Whatever an owner picks, both
must keep WCAG AA contrast (4.5:1, the bar for normal-size text): :func:`readable_accent`
keeps the hue and saturation and lowers the lightness just enough that the colour reads
on the lightest surface it sits on (the page background, ``#f6f7fb``, and cards, white),
which also makes white text on it readable (the ratio is symmetric). A colour that
already passes is used as it is.
"""

from __future__ import annotations

import colorsys

#: WCAG 2.x AA for normal text.
AA_CONTRAST = 4.5
#: The lightest surfaces accent-coloured text sits on (app.css: --card and --bg).
SURFACES = ("#ffffff", "#f6f7fb")


def _channels(colour: str) -> tuple[float, float, float]:
    value = colour.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"{colour!r} is not a #rrggbb colour")
    return (
        int(value[0:2], 16) / 255,
        int(value[2:4], 16) / 255,
        int(value[4:6], 16) / 255,
    )


def _hex(red: float, green: float, blue: float) -> str:
    return "#" + "".join(f"{round(min(max(c, 0.0), 1.0) * 255):02x}" for c in (red, green, blue))


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a ``#rrggbb`` colour (0 black … 1 white)."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in _channels(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two colours (1 … 21)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_accent(colour: str, surfaces: tuple[str, ...] = SURFACES) -> str:
    """``colour``, or the lightest shade of its hue with AA contrast on every surface."""
    colour = colour.lower()

    def passes(candidate: str) -> bool:
        return all(contrast_ratio(candidate, surface) >= AA_CONTRAST for surface in surfaces)

    if passes(colour):
        return colour
    hue, lightness, saturation = colorsys.rgb_to_hls(*_channels(colour))
    # Lightness from the colour's own down to black, in steps of 1/200: the first that
    # passes is the closest shade (black passes against any light surface).
    for step in range(int(lightness * 200), -1, -1):
        candidate = _hex(*colorsys.hls_to_rgb(hue, step / 200, saturation))
        if passes(candidate):
            return candidate
    return "#000000"
