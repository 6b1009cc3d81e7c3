"""Read a user's CSV, gzip CSV or Parquet file; every reader failure becomes a clear UsageError.

CSV cells are read as text: `flows.stages.validate.parse` decides types, so a stray word in
row 90,000 is reported at its line instead of turning the whole column into text or failing the
read.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from schemas.errors import UsageError

SUPPORTED = (".csv", ".csv.gz", ".parquet")
DELIMITERS = (",", ";", "\t", "|")
SHOW = 5
UTF8_FIX = "save it as UTF-8 (in Excel: 'CSV UTF-8'; or `iconv -f latin1 -t utf-8`)"


@dataclass(frozen=True)
class Table:
    """A data file as read, with what is needed to point back into it."""

    frame: pl.DataFrame
    kind: str  # "csv" or "parquet"
    delimiter: str | None = None
    lines: np.ndarray | None = None  # CSV: the file line where each data row starts
    blank_lines: tuple[int, ...] = ()  # CSV: blank lines skipped (not data rows)

    def where(self, rows: list[int]) -> list[str]:
        """'line N' (CSV, 1-based, header is line 1) or 'row N' (Parquet, 0-based) per row."""
        if self.lines is not None:
            return [f"line {int(self.lines[r])}" for r in rows]
        return [f"row {r}" for r in rows]

    def where_text(self, rows: list[int], show: int = SHOW) -> str:
        """'lines 6, 9 and 4 more' or 'rows 5, 8 (0-based)'."""
        if not rows:
            return ""
        lines = self.lines
        shown = [str(int(lines[r])) if lines is not None else str(r) for r in rows[:show]]
        more = f" and {len(rows) - show} more" if len(rows) > show else ""
        noun = "line" if self.lines is not None else "row"
        plural = "s" if len(rows) > 1 else ""
        zero = "" if self.lines is not None else " (0-based)"
        return f"{noun}{plural} {', '.join(shown)}{more}{zero}"


def _open_text(path: Path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8-sig", newline="")


def _fail(path: Path, what: str, fix: str) -> UsageError:
    return UsageError(f"{path}: {what}. {fix}.")


def _bad_byte_line(path: Path) -> tuple[int, str]:
    """The line of the first byte that is not UTF-8, and the bytes around it."""
    raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") \
        else path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return raw[: exc.start].count(b"\n") + 1, repr(raw[max(0, exc.start - 10): exc.start + 5])
    return 0, ""


def sniff_delimiter(header: str) -> str:
    """The candidate delimiter that occurs most often in the header line (comma if none)."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _scan_csv(path: Path, delimiter: str | None
              ) -> tuple[str, list[str], np.ndarray, list[int]]:
    """Check the CSV structure: header, field counts per row, UTF-8. Returns the delimiter,
    the header as the csv module reads it (quotes undone), the start line of each record,
    and the indexes of blank records."""
    try:
        with _open_text(path) as f:
            first = f.readline()
            if not first.strip():
                raise _fail(path, "the file is empty or its first line is blank",
                            "Put the header row (column names) on line 1")
            delim = delimiter or sniff_delimiter(first)
            f.seek(0)
            reader = csv.reader(f, delimiter=delim, strict=False)
            header = next(reader)
            starts, ragged, blank, end = [], [], [], reader.line_num
            for record in reader:
                starts.append(end + 1)
                if not record:
                    blank.append(len(starts) - 1)
                elif len(record) != len(header):
                    ragged.append((end + 1, len(record)))
                end = reader.line_num
    except UnicodeDecodeError:
        line, around = _bad_byte_line(path)
        raise _fail(path, f"line {line} has bytes that are not UTF-8 text ({around})",
                    f"Re-encode the file: {UTF8_FIX}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise _fail(path, f"cannot be decompressed or read ({exc})",
                    "Check that the download finished; re-create the .csv.gz with gzip") from None
    except csv.Error as exc:
        raise _fail(path, f"line {reader.line_num} is not valid CSV ({exc})",
                    "Check the quoting on that line") from None
    _check_header(path, header, delim)
    if ragged:
        shown = ", ".join(f"line {n} has {k}" for n, k in ragged[:SHOW])
        more = f" (and {len(ragged) - SHOW} more lines)" if len(ragged) > SHOW else ""
        raise _fail(path, f"rows with the wrong number of fields: the header has {len(header)}, "
                    f"but {shown}{more}", f"Make every row have {len(header)} fields separated "
                    f"by {delim!r} (quote fields that contain {delim!r}; look for an unclosed "
                    "quote), or set data.delimiter")
    return delim, header, np.asarray(starts, dtype=np.int64), blank


def _check_header(path: Path, header: list[str], delim: str) -> None:
    names = [h.strip() for h in header]
    empty = [i + 1 for i, h in enumerate(names) if not h]
    if empty:
        raise _fail(path, f"header column(s) {empty} have no name",
                    "Give every column a name on line 1")
    dupes = sorted({h for h in names if names.count(h) > 1})
    if dupes:
        raise _fail(path, f"the header repeats the column name(s) {dupes}",
                    "Give every column a unique name")
    if len(header) == 1 and any(d in header[0] for d in DELIMITERS if d != delim):
        raise _fail(path, f"only one column was found ({header[0]!r}) using delimiter {delim!r}",
                    "Set data.delimiter (e.g. --set 'data.delimiter=;') to the file's delimiter")


def _python_rows(path: Path, delim: str) -> pl.DataFrame:
    """Every record as text, read by Python's csv module: the fallback when polars reads the
    file differently from our scan (stray quotes inside fields, old Mac line endings)."""
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=delim, strict=False)
        header = next(reader)
        records = [r if r else [None] * len(header) for r in reader]  # type: ignore[list-item]
    return pl.DataFrame(records, schema={h: pl.String for h in header}, orient="row")


def _read_csv(path: Path, delimiter: str | None) -> Table:
    delim, header, starts, blank = _scan_csv(path, delimiter)
    try:
        frame = pl.read_csv(path, separator=delim, infer_schema=False, encoding="utf8",
                            truncate_ragged_lines=False)
        if frame.height != len(starts) or frame.width != len(header):
            raise ValueError("row or column count differs from the csv module's")
    except BaseException as exc:  # polars' PanicException is a BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        frame = _python_rows(path, delim)
    frame.columns = [h.strip() for h in header]  # polars keeps a header's doubled quotes
    blank_lines = tuple(int(starts[b]) for b in blank)
    if blank:
        keep = np.ones(frame.height, dtype=bool)
        keep[blank] = False
        frame, starts = frame.filter(pl.Series(keep)), starts[keep]
    return Table(frame, "csv", delim, starts, blank_lines)


def read_table(path: Path, delimiter: str | None = None) -> Table:
    """Read a CSV, gzip CSV or Parquet file; every reader failure becomes a UsageError."""
    kind = file_kind(path)
    if not path.exists():
        raise UsageError(f"{path}: file not found.{dvc_hint(path)}")
    try:
        table = _read_csv(path, delimiter) if kind == "csv" else Table(pl.read_parquet(path),
                                                                        "parquet")
    except UsageError:
        raise
    except BaseException as exc:  # polars raises PanicException (a BaseException) on some input
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fix = ("Check that it is a valid Parquet file (re-export it)" if kind == "parquet" else
               "Check that it is a delimited UTF-8 text file with one header row")
        raise _fail(path, f"could not be read as {kind.upper()} ({first})", fix) from None
    if table.frame.height == 0:
        raise _fail(path, "the file has a header but no data rows", "Add rows below the header")
    return table


def dvc_hint(path: Path) -> str:
    """Suggest `dvc pull` when a missing file lies in a folder that DVC tracks."""
    for folder in path.absolute().parents:
        if folder.name and folder.with_name(folder.name + ".dvc").exists():
            return f" It is tracked by DVC ({folder.name}.dvc): run `dvc pull` to fetch it."
    return " Check the path."


def run_name(path: Path) -> str:
    """The data file's name without its data extension: sales.v1.csv.gz -> sales.v1."""
    name = path.name
    for ext in SUPPORTED:
        if name.lower().endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)]
    return name


def file_kind(path: Path) -> str:
    """'csv' or 'parquet', from the file name; a UsageError for anything else."""
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise UsageError(
        f"{path}: unsupported file type. seqarena reads {', '.join(SUPPORTED)}; "
        "convert the file or rename it with the right extension."
    )
