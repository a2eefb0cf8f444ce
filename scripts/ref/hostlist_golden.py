#!/usr/bin/env python3
"""Writes tests/golden/hostlists.json: Slurm hostlists expanded by python-hostlist (NSC's
implementation of Slurm's syntax), the reference for tests/dist/hostlist_test.cpp.

Run: ~/.cache/grpo/venv/bin/python scripts/ref/hostlist_golden.py
"""
import json
import pathlib

import hostlist  # pip: python-hostlist

CASES = [
    "node[01-04,07],gpu5",
    "rack[1-2]-n[1-3]",
    "a[8-10]",
    "n[001-003]x",
    "single",
    "x[0]",
    "c[1-3,5]d[01-02]",
    "gpu-node[9-11].cluster",
    "h1,h2,h3",
    "nid[00098-00102,00200]",
    "p[7],q[10-12],r",
    "login.example.org",
    "n[1-1]",
    "dgx[2-3]-[1-2]",
]

out = pathlib.Path(__file__).resolve().parents[2] / "tests" / "golden" / "hostlists.json"
golden = {case: hostlist.expand_hostlist(case) for case in CASES}
out.write_text(json.dumps(golden, indent=1) + "\n")
print(f"wrote {out} ({len(golden)} hostlists, python-hostlist {hostlist.__version__})")
