"""Reading and writing trace files: Parquet (canonical) and CSV (for hand-written cases).

Parquet: the table as columns, the metadata as JSON under the schema metadata key
`skybench.trace`; the content hash is checked on read.
CSV: optional `# key: value` comment lines (YAML) at the top carry the metadata, or a sidecar
`NAME.meta.yaml` next to `NAME.csv`; the hash is recomputed (hand-edited files are expected).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from bench.errors import BenchError
from bench.traces.schema import Trace, build_trace, content_hash, parse_meta, validate_table

META_KEY = b"skybench.trace"


def read_trace(path: str | Path) -> Trace:
    """Read and validate a trace; any problem is one BenchError naming file, row and column."""
    path = Path(path)
    if not path.is_file():
        raise BenchError("trace file not found", where=str(path), fix="check the path")
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path)
    raise BenchError(f"unknown trace file type {path.suffix!r}", where=str(path),
                     fix="use .parquet (canonical) or .csv; convert other formats with `skybench trace import`")


def write_trace(trace: Trace, path: str | Path) -> Path:
    """Write a trace atomically as Parquet or CSV, chosen by the file suffix."""
    path = Path(path)
    canon = validate_table(trace.table, where=str(path))
    meta = trace.meta.model_copy(update={"content_sha256": content_hash(canon)})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if path.suffix.lower() == ".csv":
            header = yaml.safe_dump(json.loads(meta.model_dump_json()), sort_keys=False, allow_unicode=True)
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                for line in header.splitlines():
                    fh.write(f"# {line}\n")
                canon.to_csv(fh, index=False, lineterminator="\n", na_rep="")
        elif path.suffix.lower() in (".parquet", ".pq"):
            table = pa.Table.from_pandas(canon, preserve_index=False)
            schema_meta = dict(table.schema.metadata or {})
            schema_meta[META_KEY] = meta.model_dump_json().encode("utf-8")
            pq.write_table(table.replace_schema_metadata(schema_meta), tmp, compression="zstd")
        else:
            raise BenchError(f"unknown trace file type {path.suffix!r}", where=str(path),
                             fix="name the output .parquet (canonical) or .csv")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --- Parquet ---------------------------------------------------------------------------------

def _read_parquet(path: Path) -> Trace:
    where = str(path)
    if path.stat().st_size == 0:
        raise BenchError("the file is empty", where=where, fix="re-export or re-import the trace")
    try:
        table = pq.read_table(path)
        raw_meta = (table.schema.metadata or {}).get(META_KEY)
        frame = table.to_pandas()
        # decode text columns now: damaged UTF-8 in a string column only fails when it is read
        for column in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
                frame[column] = [None if v is None or v is pd.NA else v for v in frame[column].astype(object)]
    except Exception as exc:  # pyarrow raises many types for corrupt bytes; all mean the same here
        raise BenchError(f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})", where=where,
                         fix="the file is truncated or corrupt: copy it again or re-import the source") from None
    if raw_meta is None:
        raise BenchError("Parquet file without skybench trace metadata: it is not a skybench trace", where=where,
                         fix="if it is a recording (e.g. a Starlink dish dump), convert it with "
                             "`skybench trace import KIND FILE -o OUT.parquet`")
    try:
        meta_dict = json.loads(raw_meta.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"trace metadata is not valid JSON ({exc})", where=f"{where} metadata",
                         fix="re-import the source; the metadata was damaged") from None
    meta = parse_meta(meta_dict, where=where)
    recorded_hash = meta.content_sha256
    trace = build_trace(frame, meta, where=where)
    if recorded_hash is not None and recorded_hash != trace.meta.content_sha256:
        raise BenchError("the table does not match the content_sha256 recorded in its metadata",
                         where=f"{where} metadata content_sha256",
                         fix="the file was changed outside skybench: re-import the source, or read and "
                             "write it again with skybench to record the new hash")
    return trace


# --- CSV -------------------------------------------------------------------------------------

def _read_csv(path: Path) -> Trace:
    where = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BenchError(f"not UTF-8 text (byte {exc.start})", where=where,
                         fix="save the CSV as UTF-8 text") from None
    lines = text.splitlines()
    comment_lines: list[str] = []
    first = 0
    while first < len(lines) and (lines[first].startswith("#") or not lines[first].strip()):
        if lines[first].startswith("#"):
            comment_lines.append(lines[first][1:].removeprefix(" "))
        first += 1
    if first >= len(lines):
        raise BenchError("the file has no header row and no data", where=where,
                         fix="a trace CSV needs a header line (t_s,link,direction,...) and rows")
    meta_raw = _csv_meta(path, comment_lines)
    header, rows, line_numbers = _csv_rows(lines, first, where)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header)
    trace = build_trace(frame, meta_raw, where=where,
                        row_where=lambda i: f"{where}:{line_numbers[i]}")
    return trace


class _MetaLoader(yaml.SafeLoader):
    """SafeLoader that leaves times as text: the metadata model parses them, so an impossible date
    ('2025-0-30') is reported against its field with the fix, not as a constructor crash."""


_MetaLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _csv_meta(path: Path, comment_lines: list[str]) -> dict:
    sidecar = path.with_suffix(".meta.yaml")
    if comment_lines and sidecar.exists():
        raise BenchError("metadata given twice: in # header lines and in a sidecar file", where=str(sidecar),
                         fix="keep one of them")
    if comment_lines:
        source, where = "\n".join(comment_lines), f"{path} header"
    elif sidecar.exists():
        source, where = sidecar.read_text(encoding="utf-8", errors="replace"), str(sidecar)
    else:
        raise BenchError("no trace metadata: no '# key: value' header lines and no sidecar", where=str(path),
                         fix=f"add lines such as '# source: recorded', '# start_time: 2025-01-30T18:02:49+01:00', "
                             f"'# licence: own measurement' at the top, or write them to {sidecar.name}")
    try:
        raw = yaml.load(source, Loader=_MetaLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise BenchError(f"metadata is not valid YAML{line}: {getattr(exc, 'problem', exc)}", where=where,
                         fix="write one 'key: value' per line") from None
    if not isinstance(raw, dict):
        raise BenchError("metadata is not a list of 'key: value' lines", where=where,
                         fix="write one 'key: value' per line, e.g. '# source: recorded'")
    return raw


def _csv_rows(lines: list[str], first: int, where: str) -> tuple[list[str], list[list[str]], list[int]]:
    numbered = [(i + 1, line) for i, line in enumerate(lines) if i >= first and line.strip()]
    try:
        parsed = [(n, next(csv.reader(io.StringIO(line)))) for n, line in numbered]
    except csv.Error as exc:
        raise BenchError(f"not a CSV line ({exc})", where=where, fix="check quoting in the file") from None
    header_line, header = parsed[0]
    header = [h.strip() for h in header]
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    for n, fields in parsed[1:]:
        if len(fields) != len(header):
            raise BenchError(f"{len(fields)} fields where the header (line {header_line}) has {len(header)}",
                             where=f"{where}:{n}", fix="give every row one value per column (empty for none)")
        rows.append(fields)
        line_numbers.append(n)
    return header, rows, line_numbers
