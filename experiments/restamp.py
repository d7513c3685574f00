"""Re-hash results records after their source group was *redefined* (files added to a group), never
after a code change: ``scsc_theory.io.restamp`` refuses unless every file of the redefined group is
byte-identical between the record's commit and the working tree. The old record is kept.

    python experiments/restamp.py --reason "why the group changed" FILE.json [FILE.json ...]
"""
import argparse
import json

from scsc_theory.io import provenance_status, restamp, write_json

ap = argparse.ArgumentParser()
ap.add_argument("files", nargs="+")
ap.add_argument("--reason", required=True)
a = ap.parse_args()
for f in a.files:
    d = json.load(open(f))
    if not provenance_status(d.get("provenance"))[0]:
        print("current:", f)
        continue
    d["provenance"] = restamp(d["provenance"], a.reason)
    write_json(f, d)
    print("restamped:", f, provenance_status(d["provenance"])[1])
