"""Certification: the equipment profile, the fixed plan (requirements and traces by hash), the
signed record and its verification. The suite itself is scenarios/certification/; the command is
`skybench certify` (bench/cli/certify.py)."""
