/* SPDX-License-Identifier: MIT */
/* ui_panels — the drawing half of `vhm top` (htop's Meters and Panels):
 * draws the model (ui_model.h) on the ncurses screen, and nothing else.
 * Layout, resizing and small terminals are handled here alone: the instance
 * list always comes first and shrinks to what fits (columns are dropped by
 * priority, rows scroll); the selected instance's panels follow, each drawn
 * only when its data exists and its minimum height fits.
 *
 * Panels, top to bottom (docs/top.md says what each figure means):
 *   rates       traffic and dirty rate over time (sparklines); per source
 *               when "dirty" events exist, else the guest writer's writes/s
 *   migration   phase, pass, remaining, bandwidth, predicted vs actual
 *               downtime, timeline, passes, final report
 *   working set, heat map, verify    ("dirty" events only)
 *   bpf, libvirt job                 (events of those names only)
 *   libvirt dirty rate               the watcher's "dirty-rate" event: libvirt's
 *                                    figure beside each backend's (eBPF) */
#ifndef VHM_UI_PANELS_H
#define VHM_UI_PANELS_H

#include <stdbool.h>

#include "ui_model.h"

enum ui_sort {
	UI_SORT_NAME,
	UI_SORT_STATE,
	UI_SORT_TX,
	UI_SORT_DIRTY,
	UI_SORT_COUNT
};
const char *ui_sort_name(enum ui_sort s);

/* What the user chose to look at; the loop (ui_top.c) owns it. */
struct ui_view {
	char sel_name[UI_NAME_MAX];     /* the selected instance ("" = first) */
	enum ui_sort sort;
	bool reverse;
	char filter[64];                /* substring of names to show ("" = all) */
	bool help;                      /* help overlay shown */
	bool color, utf8;               /* chosen at start */
	double delay_s;
	const char *run_dir;
	int iteration;
	char prompt_label[24];          /* non-empty: a prompt is being typed */
	char prompt[64];
	char msg[96];                   /* a one-line message for the footer */
};

/* Indexes into insts[0..n) to list, filtered and sorted as v says
 * (ties by name). Returns how many were written (at most max). */
int ui_view_order(const struct ui_view *v, const struct ui_inst *const insts[], int n,
		  int idx[], int max);

/* After initscr(): colour pairs when v->color and the terminal has colours
 * (v->color is cleared when it has none). */
void ui_panels_init(struct ui_view *v);

/* Draw everything: list = the instances in display order (n of them), sel
 * = the index in list of the selected one (-1: none). Ends with refresh(). */
void ui_panels_draw(const struct ui_view *v, const struct ui_inst *const list[], int n,
		    int sel);

/* A number of a bpf / libvirt job panel, in at most UI_KV_VALW columns. */
#define UI_KV_VALW 12
void ui_kv_value(char *out, size_t len, double v);

#endif
