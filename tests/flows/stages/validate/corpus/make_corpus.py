"""Write the malformed-file corpus (deterministic):
`python tests/flows/stages/validate/corpus/make_corpus.py`.

Each file holds one defect on top of small valid data: two daily series of 14 rows
(forecasting, run with lookback 4 and horizon 2) or 12 sequences of 4 steps (classification).
`tests/flows/stages/validate/test_corpus.py` lists what each file must give.
"""

from __future__ import annotations

import gzip
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).parent
HEADER = "unique_id,ds,y,promo"


def forecast_rows(n: int = 14) -> list[str]:
    """Two series, s1 and s2: y varies, promo is 0/1."""
    rows = []
    for s, base in (("s1", 10.0), ("s2", 20.0)):
        for i in range(n):
            day = date(2024, 1, 1) + timedelta(days=i)
            rows.append(f"{s},{day},{base + (i * 7) % 5 + 0.5 * s.count('2')},{i % 2}")
    return rows


def classify_rows(per_class: int = 6) -> list[str]:
    """Sequences q00.. of 4 steps, labels up/down alternating."""
    rows = ["sequence_id,step,f1,label"]
    for q in range(2 * per_class):
        label = ["up", "down"][q % 2]
        rows += [f"q{q:02d},{t},{(q + 1) * (t + 1) % 7 - 3},{label}" for t in range(4)]
    return rows


def put(name: str, lines: list[str] | bytes) -> None:
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
    (HERE / name).write_bytes(data)


def edit(rows: list[str], i: int, column: int, value: str) -> list[str]:
    """Set one cell of data row i (0-based; file line i + 2)."""
    rows = list(rows)
    cells = rows[i].split(",")
    cells[column] = value
    rows[i] = ",".join(cells)
    return rows


def readers() -> None:
    rows = forecast_rows()
    put("valid.csv", [HEADER, *rows])
    (HERE / "valid.csv.gz").write_bytes(gzip.compress((HERE / "valid.csv").read_bytes(), mtime=0))
    put("empty.csv", b"")
    put("header_only.csv", [HEADER])
    put("bom.csv", b"\xef\xbb\xbf" + (HERE / "valid.csv").read_bytes())
    latin = [HEADER + ",note", *(r + "," for r in rows)]
    latin[3] = rows[2] + ",café"  # line 4, in Latin-1 rather than UTF-8
    put("latin1.csv", ("\n".join(latin) + "\n").encode("latin-1"))
    put("semicolon.csv", [HEADER.replace(",", ";"), *(r.replace(",", ";") for r in rows)])
    put("ragged_long.csv", [HEADER, *rows[:3], rows[3] + ",9", *rows[4:]])
    put("ragged_short.csv", [HEADER, *rows[:5], ",".join(rows[5].split(",")[:3]), *rows[6:]])
    put("unclosed_quote.csv", [HEADER, *rows[:2], rows[2].replace(",1", ',"1', 1), *rows[3:]])
    put("duplicate_header.csv", ["unique_id,ds,y,y", *rows])
    put("blank_lines.csv", [HEADER, *rows[:4], "", *rows[4:], ""])
    packed = gzip.compress((HERE / "valid.csv").read_bytes(), mtime=0)
    (HERE / "truncated.csv.gz").write_bytes(packed[:40])
    put("corrupt.parquet", b"PAR1" + bytes(range(64)) + b"PAR1")
    put("table.xlsx", b"PK\x03\x04 not a csv")


def forecast_defects() -> None:
    rows = forecast_rows()
    put("no_target.csv", ["unique_id,ds,sales,promo", *rows])
    put("not_numeric_late.csv", [HEADER, *edit(rows, 22, 2, "twelve")])
    put("thousands.csv", [HEADER, *edit(rows, 3, 2, '"1,000"')])
    put("missing.csv", [HEADER, *edit(edit(rows, 4, 2, ""), 9, 2, "NA")])
    put("nan.csv", [HEADER, *edit(rows, 6, 2, "NaN")])
    put("infinite.csv", [HEADER, *edit(edit(rows, 7, 2, "inf"), 20, 3, "-inf")])
    put("out_of_bounds.csv", [HEADER, *edit(rows, 8, 2, "-5")])
    put("mixed_date_formats.csv", [HEADER, *edit(rows, 5, 1, "01/06/2024")])
    put("unparseable_time.csv", [HEADER, *edit(rows, 5, 1, "yesterday")])
    tz = [r.replace(r.split(",")[1], r.split(",")[1] + "T00:00:00+01:00") for r in rows]
    put("mixed_timezones.csv", [HEADER, *edit(tz, 10, 1, "2024-01-11T00:00:00+02:00")])
    put("duplicate_rows.csv", [HEADER, *rows[:6], edit(rows, 5, 2, "99")[5], *rows[6:]])
    put("unsorted.csv", [HEADER, *rows[:3], rows[4], rows[3], *rows[5:]])
    hourly = [edit([r], 0, 1, r.split(",")[1] + "T00:00:00")[0] for r in rows]
    put("irregular.csv", [HEADER, *edit(hourly, 6, 1, "2024-01-07T12:00:00")])
    put("gaps.csv", [HEADER, *rows[:4], *rows[7:]])
    put("short_series.csv", [HEADER, *rows, *(r.replace("s1", "s3") for r in rows[:5])])
    constant = [",".join([*r.replace("s1", "s3").split(",")[:2], "7", "0"]) for r in rows[:14]]
    put("constant_series.csv", [HEADER, *rows, *constant])
    put("empty_feature.csv", [HEADER + ",extra", *(r + "," for r in rows)])
    split = [r + "," + ("train" if i % 14 < 8 else "val" if i % 14 < 11 else "test")
             for i, r in enumerate(rows)]
    put("bad_split.csv", [HEADER + ",split", *edit(split, 3, 4, "training")])
    put("formula_id.csv", [HEADER, *rows, "=HYPERLINK(\"http://x\"),2024-01-01,,1"])
    put("all_short.csv", [HEADER, *rows[:5]])
    import polars as pl

    frame = pl.read_csv(HERE / "valid.csv", try_parse_dates=True).with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(float("nan")).otherwise(pl.col("y")).alias("y"))
    frame.write_parquet(HERE / "nan.parquet")


def classify_defects() -> None:
    rows = classify_rows()
    put("classify_valid.csv", rows)
    put("classify_no_features.csv", [",".join(c for i, c in enumerate(r.split(",")) if i != 2)
                                     for r in rows])
    put("missing_label.csv", [rows[0], *edit(rows[1:], 5, 3, "")])
    put("varying_label.csv", [rows[0], *edit(rows[1:], 6, 3, "up")])
    split = [rows[0] + ",split"] + [r + "," + ("test" if int(r[1:3]) < 2 else "val"
                                                if int(r[1:3]) < 4 else "train")
                                    for r in rows[1:]]
    put("mixed_split.csv", [split[0], *edit(split[1:], 1, 4, "train")])
    put("short_sequence.csv", [*rows, "q99,0,1,up"])
    put("rare_class.csv", [*rows, "q98,0,1,left", "q98,1,2,left"])


def regressions() -> None:
    """Inputs that once broke validation (times, offsets, types, stray quotes)."""
    import polars as pl

    def one_series(times: list[str], name: str = "a") -> list[str]:
        return [f"{name},{t},{(i * 7) % 5}" for i, t in enumerate(times)]

    head = "unique_id,ds,y"
    hours = [f"2024-01-01T{h:02d}:00:00" for h in range(20)]
    put("offset_0530.csv", [head, *one_series([h + "+05:30" for h in hours])])
    month_ends = [str(d) for d in pl.date_range(date(2023, 4, 1), date(2024, 11, 1), "1mo",
                                                eager=True).dt.month_end()]
    put("month_ends_from_april.csv", [head, *one_series(month_ends)])
    put("off_grid_first.csv", [head, *one_series(["2023-12-31T23:30:00", *hours])])
    put("epoch_ns.csv", [head, *one_series([str(1704067200000000000 + k * 3600000000000)
                                            for k in range(40)])])
    days30 = [str(date(2024, 1, 1) + timedelta(days=30 * k)) for k in range(21) if k != 10]
    put("every_30_days_gap.csv", [head, *one_series(days30)])
    put("typo_step.csv", [head, *one_series([*map(str, range(20)), "10000000"])])
    put("compact_dates.csv", [head, *one_series([(date(2024, 1, 1) + timedelta(days=k))
                                                 .strftime("%Y%m%d") for k in range(40)])])
    padded = one_series([str(date(2024, 1, 1) + timedelta(days=k)) for k in range(20)])
    put("padded_ids.csv", [head, *(r.replace("a,", "a ,", 1) if i % 2 else r
                                   for i, r in enumerate(padded))])
    put("huge.csv", [head, *edit(padded, 3, 2, "1e308")])
    put("stray_quote.csv", [head, *edit(padded, 3, 2, '5"x')])
    (HERE / "cr_only.csv").write_bytes(("\r".join([head, *padded]) + "\r").encode())
    put("reserved_column.csv", [head + ",__row", *(r + ",1" for r in padded)])
    put("label_na.csv", [classify_rows()[0], *edit(classify_rows()[1:], 2, 3, "NA")])
    frame = pl.read_csv(HERE / "valid.csv", try_parse_dates=True)
    frame.with_columns((pl.col("promo") > 0).alias("flag")).write_parquet(
        HERE / "bool_feature.parquet")
    frame.with_columns(pl.concat_list("y", "promo").alias("pair"),
                       pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("y"))
                       .alias("y")).write_parquet(HERE / "list_column.parquet")
    berlin = pl.datetime_range(date(2024, 3, 20), date(2024, 4, 10), "1d",
                               time_zone="Europe/Berlin", eager=True)
    pl.DataFrame({"ds": berlin, "y": [float(i % 5) for i in range(len(berlin))]}).write_parquet(
        HERE / "berlin_daily.parquet")
    pl.DataFrame({"ds": [timedelta(hours=k) for k in range(20)],
                  "y": [float(i % 5) for i in range(20)]}).write_parquet(
        HERE / "duration_time.parquet")


if __name__ == "__main__":
    readers()
    forecast_defects()
    classify_defects()
    regressions()
    print(f"wrote {len(list(HERE.glob('*.*'))) - 1} files to {HERE}")
