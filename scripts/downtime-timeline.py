#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Draw switchovers as timelines, from migration reports.

    scripts/downtime-timeline.py OUT.png NAME=REPORT.json [NAME=REPORT.json ...]

Each REPORT.json is the last line of `vhm migrate --json` (the report). One
row per report, in milliseconds from the stop (the first GET_VRING_BASE):
stopping the source, the last sync and copy, the check inside the window
(ring pages, or the digests with --verify=sync), starting the destination
(its rings, enables, DRIVER_OK), then after the resume the wait for the
first frame back through the destination. The after-resume check runs
outside the downtime and far longer than it: its duration is in the row's
label, not drawn. Rendered by gnuplot (pngcairo; Debian gnuplot-nox, a test
dependency already); every figure comes from the reports."""
import json
import subprocess
import sys

COLOURS = {
    "stop source": "#c0392b",
    "last sync + copy": "#e67e22",
    "check in the window": "#8e44ad",
    "start destination": "#2980b9",
    "resume to first frame": "#27ae60",
}


def segments(rep):
    """(name, start_ms, end_ms) of one report, from the stop."""
    dt = rep["downtime"]
    t, out = 0.0, []
    for name, ms in (("stop source", dt["stop_ms"]), ("last sync + copy", dt["copy_ms"]),
                     ("check in the window", dt["verify_ms"]),
                     ("start destination", dt["control_ms"] - dt["stop_ms"])):
        out.append((name, t, t + ms))
        t += ms
    if rep.get("first_frame_ms", -1) >= 0:
        out.append(("resume to first frame", dt["ms"], dt["ms"] + rep["first_frame_ms"]))
    return out


def label(name, rep):
    """The row's label: its name, the downtime, the check and where it ran."""
    if rep.get("verify") == "after-resume":
        how = "verify after resume: %.0f ms" % rep.get("verify_after", {}).get("ms", 0)
    else:
        how = "verify sync: in the window"
    return '"%s\\ndowntime %.1f ms\\n%s"' % (name, rep["downtime"]["ms"], how)


def gnuplot_script(out, rows):
    """One panel per report, each on its own scale (a sync digest can be a
    hundred times an after-resume downtime)."""
    keys = ", \\\n".join('NaN with boxes lc rgb "%s" title "%s"' % (c, n)
                           for n, c in COLOURS.items())
    lines = ['set terminal pngcairo size 1000,%d font "sans,10"' % (90 + 150 * len(rows)),
             'set output "%s"' % out, "set termoption noenhanced",
             'set multiplot layout %d,1 title "Where the downtime goes: ms from the first '
             'GET_VRING_BASE"' % len(rows),
             "set lmargin 32", "set grid xtics", "set yrange [-0.6:0.6]",
             "set style fill solid 1.0 noborder", "set key outside bottom center horizontal"]
    for i, (name, rep) in enumerate(rows):
        segs = segments(rep)
        xmax = max(b for _, _, b in segs)
        lines += ["set xrange [0:%f]" % (xmax * 1.05), "set ytics (%s 0)" % label(name, rep),
                  'set xlabel "ms"' if i == len(rows) - 1 else "unset xlabel"]
        if i < len(rows) - 1:
            lines.append("unset key")
        else:
            lines.append("set key")
        lines.append('plot "-" using 1:2:3:4:5 with boxxyerror lc rgb variable notitle%s'
                     % (", \\\n" + keys if i == len(rows) - 1 else ""))
        lines += ["%f 0 %f 0.3 0x%s" % ((a + b) / 2, (b - a) / 2, COLOURS[seg][1:])
                  for seg, a, b in segs]
        lines.append("e")
    lines += ["unset multiplot", ""]
    return "\n".join(lines)


def main(argv):
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        sys.stderr.write(__doc__)
        return 2
    rows = []
    for arg in argv[2:]:
        name, path = arg.split("=", 1)
        with open(path) as f:
            rows.append((name, json.load(f)))
    subprocess.run(["gnuplot"], input=gnuplot_script(argv[1], rows).encode(), check=True)
    print("downtime-timeline: %s" % argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
