"""Route description files (YAML) shipped with the bench; see docs/traces.md for the format."""
