"""User-given text (file names, labels, columns, ids, model names, errors) made safe for the
Markdown reports: one line, no HTML, no Markdown syntax, no hidden control characters."""

from __future__ import annotations

import re
import unicodedata

LIMIT = 80  # characters of a user's value (name, label, id) shown in a report; longer: cut
LONG = 500  # characters of a path, an error message or a note
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                 "\u2066\u2067\u2068\u2069")
JOINERS = frozenset("\u200c\u200d")  # parts of scripts and emoji, not controls to show
LINE_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
CODE_UNSAFE = frozenset("`<>&|\\")


def _visible(char: str) -> str:
    """A control or bidi character as its code point, e.g. <U+202E>; others unchanged."""
    hidden = char in BIDI or (unicodedata.category(char) in ("Cc", "Cf", "Cs")
                              and char not in JOINERS)
    return f"<U+{ord(char):04X}>" if hidden else char


def one_line(value: object, limit: int = LIMIT) -> str:
    """`value` as text on one line, controls shown as <U+XXXX>, cut to `limit` characters
    with an ellipsis and the full length."""
    raw = str(value)
    text = "".join(_visible(c) for c in LINE_BREAKS.sub(" ", raw))
    if len(text) > limit:
        text = f"{text[:limit].rstrip()}… ({len(raw)} characters)"
    return text


def md_text(value: object, limit: int = LIMIT) -> str:
    """A user's value as Markdown text, safe in a table cell and in running text."""
    text = MD_SPECIAL.sub(r"\\\1", one_line(value, limit))
    return re.sub("[&<>]", lambda m: HTML[m.group()], text)


def md_code(value: object, limit: int = LIMIT) -> str:
    """A user's value as inline code when that is safe (no backtick, HTML or pipe),
    else as escaped text: code spans show entities and backslashes literally."""
    text = one_line(value, limit)
    return md_text(value, limit) if CODE_UNSAFE & set(text) else f"`{text}`"
