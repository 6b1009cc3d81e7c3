"""User-given text (file names, labels, columns, ids, model names, errors) made safe for the
Markdown reports: one line, no HTML, no Markdown syntax, no hidden control characters."""

from __future__ import annotations

import re
import unicodedata

import polars as pl

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


def formula_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe;
    plain numbers such as -5 are left alone. Other values (lists, durations...) become text."""
    risky = r"^[=+\-@\t\r]"
    nested = [c for c, t in frame.schema.items() if not (
        t.is_numeric() or t in (pl.String, pl.Boolean, pl.Date) or isinstance(t, pl.Datetime))]
    frame = frame.with_columns(pl.Series(c, [str(v) for v in frame[c].to_list()], pl.String)
                               for c in nested)
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(risky) & pl.col(c).str.strip_chars()
                .cast(pl.Float64, strict=False).is_null())
        .then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, t in frame.schema.items() if t == pl.String)
