"""One message, as the job carries it (JSON), with a plain-text and an HTML part.

Every message of the platform has the same shape: a heading, a few paragraphs, at most
one button (a link built from settings by the caller, never from a request's Host),
and a footer saying why the reader got it. :func:`compose` writes both parts from that,
in the sender's name and accent colour, so no caller writes HTML by hand and no caller
can forget the text part (mail clients that show only text, and spam filters, want it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from markupsafe import Markup, escape

#: The accent used when the caller has none (or an invalid one): the platform's indigo.
DEFAULT_ACCENT = "#4f46e5"
_ACCENT = re.compile(r"#[0-9a-fA-F]{6}\Z")


@dataclass(frozen=True)
class Envelope:
    """A message ready to deliver: JSON-able, so a job can carry it."""

    to: str
    subject: str
    text: str
    html: str
    #: The display name of the sender ("Acme"): the address is the platform's MAIL_FROM.
    from_name: str = ""

    def as_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Envelope:
        fields = ("to", "subject", "text", "html", "from_name")
        if not isinstance(data, Mapping) or not all(
            isinstance(data.get(key, ""), str) for key in fields
        ):
            raise ValueError("A mail message is a mapping of to, subject, text, html, from_name.")
        return cls(**{key: data.get(key, "") for key in fields})


def _luminance(accent: str) -> float:
    channels = [int(accent[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def button_colours(accent: str | None) -> tuple[str, str]:
    """The button's background and the text colour on it with the better contrast."""
    colour = accent if isinstance(accent, str) and _ACCENT.match(accent) else DEFAULT_ACCENT
    # White text keeps 4.5:1 on colours darker than about this luminance; else dark text.
    return colour, "#ffffff" if _luminance(colour) < 0.18 else "#111827"


def compose(
    *,
    to: str,
    subject: str,
    brand: str,
    paragraphs: Sequence[str],
    action: tuple[str, str] | None = None,
    footer: str = "",
    accent: str | None = None,
) -> Envelope:
    """The message ``subject`` to ``to``, from ``brand``: text and HTML parts alike.

    ``action`` is ``(label, absolute URL)``: a button in HTML, the bare URL on its own
    line in text (so it is clickable in any client and copyable from none).
    """
    text_lines = [*paragraphs]
    if action is not None:
        text_lines.append(f"{action[0]}:\n{action[1]}")
    if footer:
        text_lines.append(f"-- \n{footer}")
    text = "\n\n".join(text_lines) + "\n"

    background, foreground = button_colours(accent)
    body = [
        Markup(
            '<p style="margin:0 0 16px;font-size:15px;line-height:1.5;color:#111827">{}</p>'
        ).format(paragraph)
        for paragraph in paragraphs
    ]
    if action is not None:
        body.append(
            Markup(
                '<p style="margin:24px 0"><a href="{url}" style="display:inline-block;'
                "padding:10px 18px;border-radius:6px;font-weight:600;text-decoration:none;"
                'background:{bg};color:{fg}">{label}</a></p>'
                '<p style="margin:0 0 16px;font-size:13px;color:#4b5563">'
                'Or open this link: <a href="{url}" style="color:#1f2937">{url}</a></p>'
            ).format(url=action[1], label=action[0], bg=background, fg=foreground)
        )
    html = Markup(
        '<!doctype html><html><head><meta charset="utf-8"><title>{subject}</title></head>'
        '<body style="margin:0;padding:24px;background:#f3f4f6;font-family:system-ui,sans-serif">'
        '<div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;'
        'border-top:6px solid {accent};padding:24px">'
        '<p style="margin:0 0 20px;font-weight:700;font-size:17px;color:#111827">{brand}</p>'
        "{body}"
        '<p style="margin:24px 0 0;font-size:12px;color:#6b7280">{footer}</p>'
        "</div></body></html>"
    ).format(
        subject=subject,
        accent=background,
        brand=brand,
        body=Markup("").join(body),
        footer=footer,
    )
    return Envelope(to=to, subject=subject, text=text, html=str(html), from_name=brand)


__all__ = ["DEFAULT_ACCENT", "Envelope", "button_colours", "compose", "escape"]
