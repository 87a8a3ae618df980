#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# faults-table — the fault matrix of tests/integration/test_faults.c (its
# cells[] table) as the markdown grid docs/security.md shows: one line per
# phase and side, one column per fault, each cell its outcome and how the
# fault is injected, or n/a with a numbered reason.
#   scripts/faults-table.py [tests/integration/test_faults.c]
import re
import sys

FAULTS = ["close", "kill", "hang", "error", "malformed"]
PHASES = ["setup", "dst-prepare", "log-start", "pass-0", "pass-2", "stop", "final-copy", "dst-start", "announce"]


def cells(text):
    start = text.index("static struct fx_cell cells[] = {")
    body = text[start:text.index("};", start)]
    no_req = re.search(r'#define NO_REQ "([^"]*)"', text).group(1)
    rows = {}
    for m in re.finditer(r'\{ "([^"]+)", "([^"]+)", "([^"]+)", "([^"]*)", "([^"]*)", "([^"]*)" \}',
                         body):
        ph, sd, fl, inj, out, says = m.groups()
        rows[(ph, sd, fl)] = (inj, out, says)
    for m in re.finditer(r'NA5\("([^"]+)", "([^"]+)", ((?:"[^"]*"\s*)+)\)', body):
        why = "".join(re.findall(r'"([^"]*)"', m.group(3)))
        for fl in FAULTS:
            rows[(m.group(1), m.group(2), fl)] = ("", "", why)
    for m in re.finditer(r'NA\("([^"]+)", "([^"]+)", "([^"]+)", (NO_REQ|"[^"]*")\)', body):
        why = no_req if m.group(4) == "NO_REQ" else m.group(4).strip('"')
        rows[(m.group(1), m.group(2), m.group(3))] = ("", "", why)
    return rows


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/integration/test_faults.c"
    rows = cells(open(path).read())
    reasons = []
    print("| phase | side | " + " | ".join(FAULTS) + " |")
    print("| --- | --- |" + " --- |" * len(FAULTS))
    for ph in PHASES:
        for sd in ("src", "dst"):
            out = []
            for fl in FAULTS:
                inj, outcome, says = rows[(ph, sd, fl)]
                if outcome:
                    where = " (%s)" % says if says else ""
                    how = inj.replace("sig:", "signal at ").replace("@1", "")
                    out.append("**%s**%s `%s`" % (outcome, where, how))
                    continue
                if says not in reasons:
                    reasons.append(says)
                out.append("n/a %d" % (reasons.index(says) + 1))
            print("| %s | %s | %s |" % (ph, sd, " | ".join(out)))
    print()
    for i, r in enumerate(reasons):
        print("%d. n/a: %s." % (i + 1, r))
    run = sum(1 for v in rows.values() if v[1])
    print()
    print("%d cells run, %d n/a, %d in all." % (run, len(rows) - run, len(rows)))


if __name__ == "__main__":
    main()
