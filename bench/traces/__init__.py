"""Link traces: one format (schema), importers for real recordings, info and plots."""

from bench.traces.schema import LinkInfo, Trace, TraceMeta, build_trace
from bench.traces.tracefile import read_trace, write_trace

__all__ = ["LinkInfo", "Trace", "TraceMeta", "build_trace", "read_trace", "write_trace"]
