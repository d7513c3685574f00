"""Re-hash results records after their source group was *redefined* (files added to a group), never
after a code change: ``scsc_theory.io.restamp`` refuses unless every file of the redefined group is
byte-identical between the record's commit and the working tree. The old record is kept.

    python experiments/restamp.py --reason "why the group changed" [--ran-from COMMIT] FILE.json [...]

``--ran-from`` names the commit whose files the run imported when that differs from the commit in
its record (a long run records the commit at its end): the check is then made against it, and the
record names it.
"""
import argparse
import json

from scsc_theory.io import provenance_status, restamp, write_json

ap = argparse.ArgumentParser()
ap.add_argument("files", nargs="+")
ap.add_argument("--reason", required=True)
ap.add_argument("--ran-from", default=None, help="the commit the run imported its code from")
a = ap.parse_args()
for f in a.files:
    d = json.load(open(f))
    if not provenance_status(d.get("provenance"))[0]:
        print("current:", f)
        continue
    rec = d["provenance"] if a.ran_from is None else dict(d["provenance"], git_commit=a.ran_from)
    new = restamp(rec, a.reason)
    new["restamped"]["previous"] = d["provenance"]
    d["provenance"] = new
    write_json(f, d)
    print("restamped:", f, provenance_status(d["provenance"])[1])
