"""Receiving an upload: under the size limit (the Guard counts the body), under a safe name in
a project folder of its own, refused (and removed) when it is not a file seqarena reads."""

from __future__ import annotations

import gzip
import shutil
import zlib
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import Request

from flows.app.projects import APP, Refused, new_project, safe_filename, suffix_of

CHUNK = 1 << 20


async def receive(request: Request, root: Path, limit: int) -> Path:
    """The new project holding the uploaded file (field `file`)."""
    form = await request.form(max_files=1, max_fields=10)
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise Refused("no file was chosen: pick a CSV, CSV.gz or Parquet file to upload")
    suffix_of(file.filename)  # the type, before a folder is made
    project = new_project(root, file.filename)
    target = project / APP / "upload" / safe_filename(file.filename)
    try:
        size = 0
        with target.open("wb") as out:
            while chunk := await file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise Refused(f"refused: the upload is larger than {limit // 2**20} MB "
                                  "(--max-upload-mb)", 413)
                out.write(chunk)
        if size == 0:
            raise Refused(f"{file.filename}: the file is empty")
        sniff(target, file.filename)
    except BaseException:
        shutil.rmtree(project, ignore_errors=True)
        raise
    finally:
        await file.close()
    return project


def sniff(path: Path, shown: str) -> None:
    """Refuse a file whose bytes are not what its name says (the checks come later)."""
    suffix = suffix_of(path.name)
    with path.open("rb") as f:
        head = f.read(65536)
    if suffix == ".parquet":
        with path.open("rb") as f:
            f.seek(-4, 2)
            tail = f.read(4)
        if head[:4] != b"PAR1" or tail != b"PAR1":
            raise Refused(f"{shown}: unreadable: not a Parquet file (no PAR1 marks); export it "
                          "again as Parquet, or upload CSV", 422)
        return
    if suffix == ".csv.gz":
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(65536)
        except (OSError, EOFError, zlib.error):
            raise Refused(f"{shown}: unreadable: not gzip-compressed; upload it as .csv, or "
                          "compress it with gzip", 422) from None
    if b"\x00" in head:
        raise Refused(f"{shown}: unreadable: binary data, not CSV text; save it as CSV "
                      "(UTF-8) or Parquet", 422)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a character cut at the end of the sample
            raise Refused(f"{shown}: unreadable: not UTF-8 text (byte {exc.start + 1}); save "
                          "it as CSV in UTF-8", 422) from None
        text = head[: exc.start].decode("utf-8")
    if not text.strip():
        raise Refused(f"{shown}: the file holds no rows", 422)
