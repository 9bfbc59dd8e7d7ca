"""Property: any corruption of a trace file gives a BenchError (or a valid trace), never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.errors import BenchError
from bench.traces import Trace, read_trace, write_trace
from tests.traces.conftest import CSV_HEADER, CSV_META, CSV_ROWS, small_trace

with tempfile.TemporaryDirectory(prefix="skybench-corrupt-") as _work:
    VALID_PARQUET = write_trace(small_trace(), Path(_work) / "valid.parquet").read_bytes()
VALID_CSV = (CSV_META + CSV_HEADER + CSV_ROWS).encode()


@st.composite
def byte_corruption(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "splice"]))
    pos = draw(st.integers(0, len(data)))
    if kind == "truncate":
        return data[:pos]
    if kind == "flip":
        n = draw(st.integers(1, 8))
        out = bytearray(data)
        for _ in range(n):
            i = draw(st.integers(0, len(out) - 1))
            out[i] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "insert":
        return data[:pos] + draw(st.binary(min_size=1, max_size=40)) + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + draw(st.integers(1, 64)):]
    return data[:pos] + draw(st.binary(max_size=200))


_CELL = st.one_of(st.text(max_size=12), st.sampled_from(["", "nan", "-1", "1e400", "inf", "2", "true", "x", '"']),
                  st.floats(allow_nan=True, allow_infinity=True).map(str))


@st.composite
def csv_text_corruption(draw: st.DrawFn) -> bytes:
    lines = (CSV_META + CSV_HEADER + CSV_ROWS).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["cell", "drop", "dup", "swap", "garbage"]))
        if kind == "cell":
            cells = lines[i].split(",")
            cells[draw(st.integers(0, len(cells) - 1))] = draw(_CELL)
            lines[i] = ",".join(cells)
        elif kind == "drop":
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = draw(st.text(max_size=60))
        if not lines:
            break
    return "\n".join(lines).encode("utf-8", errors="surrogatepass")


def _only_bench_errors(tmp: Path, data: bytes, suffix: str) -> None:
    path = tmp / f"t{suffix}"
    path.write_bytes(data)
    try:
        trace = read_trace(path)
    except BenchError as err:
        assert str(err).strip()
        assert str(path) in str(err)
    else:
        assert isinstance(trace, Trace) and len(trace.table) > 0


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(data=byte_corruption(VALID_PARQUET))
def test_corrupt_parquet_gives_bench_error(tmp_path: Path, data: bytes) -> None:
    _only_bench_errors(tmp_path, data, ".parquet")


@SETTINGS
@given(data=byte_corruption(VALID_CSV))
def test_corrupt_csv_bytes_give_bench_error(tmp_path: Path, data: bytes) -> None:
    _only_bench_errors(tmp_path, data, ".csv")


@SETTINGS
@given(data=csv_text_corruption())
def test_corrupt_csv_content_gives_bench_error(tmp_path: Path, data: bytes) -> None:
    _only_bench_errors(tmp_path, data, ".csv")
