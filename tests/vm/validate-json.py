#!/usr/bin/env python3
"""Validates the --json documents a VM scenario logged against packaging/schema/.

Usage: tests/vm/validate-json.py LOG...   (logs from `tests/vm/run.sh --keep-log DIR`)

Every `stdout: {"version"...` line of the logs must validate against the action or the status
schema. Needs python3-jsonschema. Exit status 0 when all do and there was at least one."""
import json
import pathlib
import re
import sys

import jsonschema

ROOT = pathlib.Path(__file__).resolve().parents[2] / "packaging" / "schema"
schemas = [json.loads((ROOT / n).read_text()) for n in
           ("kpartx-action.schema.json", "kpartx-status.schema.json")]
count = bad = 0
for log in sys.argv[1:]:
    for line in pathlib.Path(log).read_text(errors="replace").splitlines():
        m = re.search(r'stdout: (\{"version".*)$', line)
        if not m:
            continue
        count += 1
        doc = json.loads(m.group(1))
        errors = [list(jsonschema.Draft202012Validator(s).iter_errors(doc)) for s in schemas]
        if all(errors):
            bad += 1
            print(f"INVALID: {m.group(1)}")
            for e in errors[0][:3] + errors[1][:3]:
                print(f"  {e.message} at {list(e.absolute_path)}")
print(f"json: {count} documents, {bad} invalid")
sys.exit(0 if count and not bad else 1)
