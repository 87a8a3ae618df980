#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""top-png — a terminal screen, as `tmux capture-pane -e -p` prints it (text
with ANSI SGR colour codes), drawn into a PNG by gnuplot's pngcairo terminal
(gnuplot is in scripts/deps.sh; nothing else is needed).

    scripts/top-png.py SCREEN.ansi OUT.png [--cols 120] [--rows 40]

Every cell is drawn on its own (a label at the cell's centre, a rectangle
behind it when its background is not the default), so the grid stays a grid
whatever the font's advance.  Understood: SGR 0 (reset), 1 (bold), 2 (dim),
7 (reverse), 22, 27, 30-37/90-97 and 40-47/100-107 (the 16 colours),
38;5;N / 48;5;N (256 colours), 39 and 49 (defaults).  Other escapes are
dropped.  Used for docs/libvirt-top.png (docs/libvirt.md: the capture comes
from `VHM_TOP_CAPTURE=FILE` in the libvirt_pair test).
"""
import argparse
import re
import subprocess
import sys

BG, FG = (0x1E, 0x1E, 0x1E), (0xD0, 0xD0, 0xD0)
BASE16 = [(0x00, 0x00, 0x00), (0xCD, 0x31, 0x31), (0x0D, 0xBC, 0x79), (0xE5, 0xE5, 0x10),
          (0x24, 0x72, 0xC8), (0xBC, 0x3F, 0xBC), (0x11, 0xA8, 0xCD), (0xE5, 0xE5, 0xE5),
          (0x66, 0x66, 0x66), (0xF1, 0x4C, 0x4C), (0x23, 0xD1, 0x8B), (0xF5, 0xF5, 0x43),
          (0x3B, 0x8E, 0xEA), (0xD6, 0x70, 0xD6), (0x29, 0xB8, 0xDB), (0xFF, 0xFF, 0xFF)]
CELL_W, CELL_H, FONT_PT = 9, 18, 11
SGR = re.compile(r"\x1b\[([0-9;]*)m")
OTHER_ESC = re.compile(r"\x1b(\[[0-9;?]*[A-Za-ln-z]|\][^\x07]*\x07|[()][0-9A-Za-z])")


def color256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + 10 * (n - 232)
    return (v, v, v)


class Attr:
    def __init__(self):
        self.fg = self.bg = None  # None: the default
        self.bold = self.dim = self.rev = False

    def copy(self):
        a = Attr()
        a.__dict__.update(self.__dict__)
        return a

    def apply(self, params):
        p = [int(x) if x else 0 for x in params.split(";")] if params else [0]
        i = 0
        while i < len(p):
            c = p[i]
            if c == 0:
                self.__init__()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 7:
                self.rev = True
            elif c == 27:
                self.rev = False
            elif 30 <= c <= 37:
                self.fg = BASE16[c - 30]
            elif 90 <= c <= 97:
                self.fg = BASE16[c - 90 + 8]
            elif 40 <= c <= 47:
                self.bg = BASE16[c - 40]
            elif 100 <= c <= 107:
                self.bg = BASE16[c - 100 + 8]
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 2 < len(p) and p[i + 1] == 5:
                if c == 38:
                    self.fg = color256(p[i + 2])
                else:
                    self.bg = color256(p[i + 2])
                i += 2
            i += 1

    def colours(self):
        """(foreground, background or None for the default) as drawn."""
        fg, bg = self.fg or FG, self.bg
        if self.rev:
            fg, bg = bg or BG, fg
        if self.dim:
            fg = tuple((a + b) // 2 for a, b in zip(fg, bg or BG))
        return fg, bg


def parse(text, cols, rows):
    """Rows of cells (char, Attr); attributes carry across lines, as tmux's
    capture does not repeat them."""
    attr, grid = Attr(), []
    for line in text.split("\n")[:rows]:
        line = OTHER_ESC.sub("", line)
        row, pos = [], 0
        for m in SGR.finditer(line):
            row += [(ch, attr.copy()) for ch in line[pos:m.start()]]
            attr.apply(m.group(1))
            pos = m.end()
        row += [(ch, attr.copy()) for ch in line[pos:]]
        grid.append(row[:cols])
    return grid


def hexc(c):
    return "#%02x%02x%02x" % c


def gnuplot_script(grid, cols, rows, out):
    w, h = cols * CELL_W, rows * CELL_H
    s = [f"set terminal pngcairo noenhanced size {w},{h} background '{hexc(BG)}' "
         f"font 'DejaVu Sans Mono,{FONT_PT}'",
         f"set output '{out}'", "set encoding utf8", "unset border", "unset tics",
         "unset key", "set margins 0,0,0,0", f"set xrange [0:{cols}]",
         f"set yrange [{rows}:0]"]
    n = 0
    for y, row in enumerate(grid):
        x = 0
        while x < len(row):  # backgrounds, one rectangle per run
            fg, bg = row[x][1].colours()
            end = x
            while end < len(row) and row[end][1].colours()[1] == bg:
                end += 1
            if bg is not None:
                n += 1
                s.append(f"set object {n} rect from {x},{y} to {end},{y + 1} "
                         f"fc rgb '{hexc(bg)}' fs solid 1.0 noborder behind")
            x = end
    lab = 0
    for y, row in enumerate(grid):
        for x, (ch, a) in enumerate(row):
            if ch == " ":
                continue
            fg, _ = a.colours()
            font = "DejaVu Sans Mono:Bold" if a.bold else "DejaVu Sans Mono"
            lab += 1
            text = ch.replace("\\", "\\\\").replace('"', '\\"')
            s.append(f"set label {lab} \"{text}\" at {x + 0.5},{y + 0.55} center "
                     f"font '{font},{FONT_PT}' tc rgb '{hexc(fg)}' front")
    s.append("plot -1 notitle")
    return "\n".join(s) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("screen", help="output of tmux capture-pane -e -p")
    ap.add_argument("png")
    ap.add_argument("--cols", type=int, default=120)
    ap.add_argument("--rows", type=int, default=40)
    a = ap.parse_args()
    if a.cols < 1 or a.rows < 1 or a.cols > 1000 or a.rows > 1000:
        sys.exit("top-png: --cols and --rows must be 1..1000")
    if "'" in a.png:
        sys.exit("top-png: the output path must not contain a quote")
    try:
        with open(a.screen, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        sys.exit(f"top-png: {a.screen}: {e.strerror}")
    script = gnuplot_script(parse(text, a.cols, a.rows), a.cols, a.rows, a.png)
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode:
        sys.exit(f"top-png: gnuplot failed: {r.stderr.strip()}")


if __name__ == "__main__":
    main()
