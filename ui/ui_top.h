/* SPDX-License-Identifier: MIT */
/* ui_top — `vhm top`: the dashboard's loop (htop's ScreenManager): wait
 * for a key, an event or the refresh timeout; sample (ui_sample.h); draw
 * (ui_panels.h). Batch mode (-b) prints ui_lines.h lines instead of drawing. */
#ifndef VHM_UI_TOP_H
#define VHM_UI_TOP_H

#define TOP_USAGE \
	"usage: vhm top [NAME ...] [-d DUR] [-n ITERATIONS] [-b] [--csv FILE]\n" \
	"               [--run-dir DIR] [--no-color] [--track]\n" \
	"\n" \
	"A live dashboard of running instances (every socket in the run dir, or\n" \
	"the NAMEs given): traffic, dirty rates by source, working set, heat map,\n" \
	"migration progress. Keys: q quit, t track, h help. See docs/top.md.\n" \
	"\n" \
	"  -d, --delay DUR       refresh every DUR (default 1s, e.g. 500ms; 100ms..1h)\n" \
	"  -n, --iterations N    stop after N refreshes (default: run until q)\n" \
	"  -b, --batch           no screen: print one key=value line per instance\n" \
	"                        per refresh to stdout\n" \
	"      --csv FILE        also write one CSV row per instance per refresh\n" \
	"      --run-dir DIR     where instances' sockets are (default\n" \
	"                        $VHM_RUN_DIR, else /run/vhm)\n" \
	"      --no-color        draw without colours (as do NO_COLOR=1 and TERM=dumb)\n" \
	"      --track           start dirty tracking on every instance shown (the\n" \
	"                        backend logs its writes meanwhile); stopped on exit\n" \
	"\n" \
	"Exit status: 0 ok, 1 the terminal could not be used, 2 bad arguments.\n"

int cmd_top(int argc, char **argv);

#endif
