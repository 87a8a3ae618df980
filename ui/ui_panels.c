/* SPDX-License-Identifier: MIT */
/* The dashboard's panels, drawn from the model with ncurses. Every function draws inside a box of rows
 * [y, y + h) and columns [0, w) of stdscr and never past it, so a small
 * terminal clips content instead of wrapping it. */
#include "ui_panels.h"

#include <curses.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

enum {
	PAIR_HEADER = 1,
	PAIR_TITLE,
	PAIR_GUEST,
	PAIR_BACKEND,
	PAIR_USED,
	PAIR_TOTAL,
	PAIR_GOOD,
	PAIR_BAD,
	PAIR_GONE,
};

static bool use_color;
static bool use_utf8;

static attr_t pair(int p)
{
	return use_color ? COLOR_PAIR(p) : 0;
}

void ui_panels_init(struct ui_view *v)
{
	if (v->color && has_colors() && start_color() == OK) {
		use_default_colors();
		init_pair(PAIR_HEADER, COLOR_BLACK, COLOR_CYAN);
		init_pair(PAIR_TITLE, COLOR_CYAN, -1);
		init_pair(PAIR_GUEST, COLOR_GREEN, -1);
		init_pair(PAIR_BACKEND, COLOR_YELLOW, -1);
		init_pair(PAIR_USED, COLOR_MAGENTA, -1);
		init_pair(PAIR_TOTAL, COLOR_CYAN, -1);
		init_pair(PAIR_GOOD, COLOR_GREEN, -1);
		init_pair(PAIR_BAD, COLOR_RED, -1);
		init_pair(PAIR_GONE, COLOR_BLUE, -1);
	} else {
		v->color = false;
	}
	use_color = v->color;
	use_utf8 = v->utf8;
}

static const char *const sort_names[UI_SORT_COUNT] = {
	[UI_SORT_NAME] = "name", [UI_SORT_STATE] = "state", [UI_SORT_TX] = "tx",
	[UI_SORT_DIRTY] = "dirty",
};

const char *ui_sort_name(enum ui_sort s)
{
	return s < UI_SORT_COUNT ? sort_names[s] : "?";
}

/* ---- ordering ------------------------------------------------------------ */

static const struct ui_view *cmp_view;
static const struct ui_inst *const *cmp_insts;

static int cmp_idx(const void *a, const void *b)
{
	const struct ui_inst *x = cmp_insts[*(const int *)a], *y = cmp_insts[*(const int *)b];
	double dx = 0, dy = 0;
	int c = 0;

	switch (cmp_view->sort) {
	case UI_SORT_STATE: c = strcmp(x->state, y->state); break;
	case UI_SORT_TX: dx = x->tx_pps, dy = y->tx_pps; break;
	case UI_SORT_DIRTY:
		dx = ui_inst_dirty_rate(x, NULL), dy = ui_inst_dirty_rate(y, NULL);
		break;
	default: break;
	}
	/* numbers: biggest first, as top does */
	if (!c && dx != dy)
		c = dx > dy ? -1 : 1;
	if (cmp_view->reverse)
		c = -c;
	return c ? c : strcmp(x->name, y->name);
}

int ui_view_order(const struct ui_view *v, const struct ui_inst *const insts[], int n,
		  int idx[], int max)
{
	int k = 0;

	for (int i = 0; i < n && k < max; i++)
		if (!v->filter[0] || strstr(insts[i]->name, v->filter))
			idx[k++] = i;
	cmp_view = v;
	cmp_insts = insts;
	qsort(idx, (size_t)k, sizeof(idx[0]), cmp_idx);
	return k;
}

/* ---- primitives -------------------------------------------------------------- */

/* Text at (y, x), cut at column w (ASCII only: names, numbers). */
static void put(int y, int x, int w, const char *s)
{
	if (x >= w || y < 0 || y >= LINES)
		return;
	mvaddnstr(y, x, s, w - x);
}

static void putf(int y, int x, int w, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void putf(int y, int x, int w, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	put(y, x, w, buf);
}

/* "12345", "1.23M", "-" for unknown; fits 7 columns. */
static void fmt_rate(char *out, size_t len, double v)
{
	if (v < 0 || !isfinite(v))
		snprintf(out, len, "-");
	else if (v < 1e6)
		snprintf(out, len, "%.0f", v);
	else if (v < 1e9)
		snprintf(out, len, "%.2fM", v / 1e6);
	else
		snprintf(out, len, "%.2fG", v / 1e9);
}

/* A title line "── text ──────". */
static void title(int y, int w, const char *text)
{
	attron(pair(PAIR_TITLE) | A_BOLD);
	for (int x = 0; x < w; x++)
		mvaddstr(y, x, use_utf8 ? "\u2500" : "-");
	putf(y, 1, w, " %s ", text);
	attroff(pair(PAIR_TITLE) | A_BOLD);
}

/* Level 0..8 of v in [0, max] as one cell. */
static const char *level_glyph(double v, double max)
{
	static const char *const blocks[] = { " ", "\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char *const ascii[] = { " ", ".", ",", ":", "-", "=", "+", "*", "#" };
	int l = max > 0 ? (int)ceil(v / max * 8.0) : 0;

	if (l < 0)
		l = 0;
	if (l > 8)
		l = 8;
	if (v > 0 && l == 0)
		l = 1;
	return use_utf8 ? blocks[l] : ascii[l];
}

/* The newest w samples of s at (y, x), oldest left; scaled to max (<= 0:
 * to the largest sample shown). */
static void spark(int y, int x, int w, const struct ui_series *s, double max)
{
	int n = s->n < w ? s->n : w;

	if (max <= 0)
		for (int i = 0; i < n; i++)
			max = fmax(max, ui_series_get(s, i));
	for (int i = 0; i < w; i++) {
		int age = w - 1 - i;

		mvaddstr(y, x + i, age < n ? level_glyph(ui_series_get(s, age), max) : " ");
	}
}

/* A horizontal bar of frac (0..1) of w cells. */
static void bar(int y, int x, int w, double frac)
{
	int full = (int)(frac * w + 0.5);

	for (int i = 0; i < w; i++)
		mvaddstr(y, x + i, i < full ? (use_utf8 ? "\u2588" : "#") : " ");
}

/* ---- the instance list ----------------------------------------------------------- */

enum col_id { C_NAME, C_STATE, C_TRK, C_Q, C_TX, C_RX, C_WRITES, C_DIRTY, C_MIG, C_BACKEND,
	      C_N };

static const struct {
	const char *head;
	int width;              /* 0: what is left */
	int drop;               /* dropped first: highest */
	bool right;
} cols[C_N] = {
	[C_NAME] = { "NAME", 12, 0, false },
	[C_STATE] = { "STATE", 12, 0, false },
	[C_TRK] = { "TRK", 3, 2, false },
	[C_Q] = { "Q", 2, 6, true },
	[C_TX] = { "TX/s", 8, 4, true },
	[C_RX] = { "RX/s", 8, 5, true },
	[C_WRITES] = { "WRITES/s", 9, 1, true },
	[C_DIRTY] = { "DIRTY/s", 9, 3, true },
	[C_MIG] = { "MIG", 11, 7, false },
	[C_BACKEND] = { "BACKEND", 0, 8, false },
};

/* Which columns fit w; DIRTY/s only when some instance has logtrack data. */
static void choose_cols(int w, bool dirty, bool on[C_N])
{
	int used = 0;

	for (int c = 0; c < C_N; c++) {
		on[c] = c != C_DIRTY || dirty;
		if (on[c])
			used += (cols[c].width ? cols[c].width : 8) + 1;
	}
	for (int drop = 8; drop > 0 && used > w; drop--)
		for (int c = 0; c < C_N; c++)
			if (on[c] && cols[c].drop == drop) {
				on[c] = false;
				used -= (cols[c].width ? cols[c].width : 8) + 1;
			}
}

static void cell(const struct ui_inst *i, enum col_id c, char *out, size_t len)
{
	switch (c) {
	case C_NAME: snprintf(out, len, "%s", i->name); break;
	case C_STATE:
		snprintf(out, len, "%s", i->conn == UI_CONN_GONE ? "gone" :
			 i->conn == UI_CONN_NEW ? "connecting" : i->state);
		break;
	case C_TRK:             /* ours is marked apart: it costs the backend */
		snprintf(out, len, "%s", i->track_busy ? "..." : i->track_mine ? "top" :
			 i->tracking ? "on" : "-");
		break;
	case C_Q:
		if (i->have_status)
			snprintf(out, len, "%d", i->queues);
		else
			snprintf(out, len, "-");
		break;
	case C_TX: fmt_rate(out, len, i->have_stats ? i->tx_pps : -1); break;
	case C_RX: fmt_rate(out, len, i->have_stats ? i->rx_pps : -1); break;
	case C_WRITES: fmt_rate(out, len, i->have_stats ? i->writes_ps : -1); break;
	case C_DIRTY: fmt_rate(out, len, i->dirty.have ? i->dirty.total : -1); break;
	case C_MIG:
		if (i->mig.active)
			snprintf(out, len, "%s", i->mig.phase);
		else if (i->mig.have_report)
			snprintf(out, len, "%s", i->mig.ok ? "migrated" : "mig-failed");
		else
			snprintf(out, len, "-");
		break;
	case C_BACKEND:
		snprintf(out, len, "%s", i->conn == UI_CONN_GONE && i->why[0] ? i->why :
			 i->backend[0] ? i->backend : "-");
		break;
	default: out[0] = '\0';
	}
}

/* One row (or the header when i is NULL) at y. */
static void list_row(int y, int w, const bool on[C_N], const struct ui_inst *i)
{
	int x = 0;

	for (int c = 0; c < C_N && x < w; c++) {
		char v[160];
		int cw;

		if (!on[c])
			continue;
		cw = cols[c].width ? cols[c].width : w - x;
		if (i)
			cell(i, (enum col_id)c, v, sizeof(v));
		else
			snprintf(v, sizeof(v), "%s", cols[c].head);
		if (cols[c].right)
			putf(y, x, w, "%*.*s", cw, cw, v);
		else
			putf(y, x, w, "%-*.*s", cw, cw, v);
		x += cw + 1;
	}
}

/* The list in rows [y, y + h): header + as many rows as fit, scrolled so
 * that sel is visible. Returns rows used. */
static int draw_list(int y, int h, int w, const struct ui_inst *const list[], int n, int sel)
{
	bool on[C_N], dirty = false;
	int rows = h - 1, first = 0;

	if (h < 1)
		return 0;
	for (int i = 0; i < n; i++)
		dirty |= list[i]->dirty.have;
	choose_cols(w, dirty, on);
	attron(A_BOLD | A_UNDERLINE);
	move(y, 0);
	clrtoeol();
	list_row(y, w, on, NULL);
	attroff(A_BOLD | A_UNDERLINE);
	if (n == 0 && rows > 0) {
		put(y + 1, 1, w, "no instances (vhm run --name NAME ... --run-dir DIR)");
		return 2;
	}
	if (sel >= rows)
		first = sel - rows + 1;
	for (int r = 0; r < rows && first + r < n; r++) {
		const struct ui_inst *i = list[first + r];
		attr_t a = 0;

		if (i->conn != UI_CONN_LIVE)
			a |= A_DIM | pair(PAIR_GONE);
		else if (i->track_mine)
			a |= A_BOLD;
		if (first + r == sel)
			a |= A_REVERSE;
		attron(a);
		if (first + r == sel) {
			move(y + 1 + r, 0);
			for (int x = 0; x < w; x++)
				addch(' ');
		}
		list_row(y + 1 + r, w, on, i);
		attroff(a);
	}
	return 1 + (n - first < rows ? n - first : rows);
}

/* ---- panels of the selected instance ------------------------------------------------ */

struct panel {
	const char *name;
	int (*rows)(const struct ui_inst *i);   /* wanted, 0 = not drawn */
	int min;                                 /* rows below which it is skipped */
	void (*draw)(const struct ui_inst *i, int y, int h, int w);
	/* NULL: fixed; else the most rows it can use at width w: it gets rows
	 * left over at the bottom (it grows with the terminal; see layout()) */
	int (*most)(const struct ui_inst *i, int w);
};

static const attr_t src_pair[UI_SRC_COUNT] = {
	[UI_SRC_GUEST] = PAIR_GUEST, [UI_SRC_BACKEND] = PAIR_BACKEND, [UI_SRC_USED] = PAIR_USED,
};

/* Timeline step s as drawn (ms since the start, under the "timeline (ms)"
 * heading): " > " before all but the first. */
static void step_text(const struct ui_migration *m, int s, char *out, size_t len)
{
	snprintf(out, len, "%s%s %.0f", s ? " > " : "", m->steps[s].phase, m->steps[s].at_ms);
}

/* The first step to draw in `room` columns: all when they fit, else the
 * latest ones after "..." -- the end of a migration (done, failed) is what
 * must show. */
static int timeline_first(const struct ui_migration *m, int room)
{
	int used = 0, s;
	char step[48];

	for (s = 0; s < m->nsteps; s++) {
		step_text(m, s, step, sizeof(step));
		used += (int)strlen(step);
	}
	if (used < room)
		return 0;
	used = 3;                  /* "..." */
	for (s = m->nsteps - 1; s > 0; s--) {
		step_text(m, s, step, sizeof(step));
		if (used + (int)strlen(step) >= room)
			break;
		used += (int)strlen(step);
	}
	return s + 1 < m->nsteps ? s + 1 : m->nsteps - 1;
}

/* One sparkline row: label, line, latest value with unit. */
static void rate_row(int y, int w, const char *label, attr_t a, const struct ui_series *s,
		     double now, const char *unit)
{
	char v[32];
	int sw = w - 14 - 22;

	fmt_rate(v, sizeof(v), now);
	putf(y, 1, w, "%-12s", label);
	if (sw > 4) {
		attron(a);
		spark(y, 14, sw, s, 0);
		attroff(a);
		putf(y, 15 + sw, w, "%9s %s", v, unit);
	} else {
		putf(y, 14, w, "%9s %s", v, unit);
	}
}

static int rates_rows(const struct ui_inst *i)
{
	int n = 1 + 2;                  /* title, tx, rx */

	if (i->dirty.have) {
		for (int s = 0; s < UI_SRC_COUNT; s++)
			n += i->dirty.has_src[s];
		n++;                    /* total */
	} else {
		n++;                    /* writer */
	}
	return n;
}

static void rates_draw(const struct ui_inst *i, int y, int h, int w)
{
	int r = y + 1, end = y + h;
	char t[160];

	snprintf(t, sizeof(t), "%s: rates over time (one column per sample, %s)", i->name,
		 i->dirty.have ? "dirty pages by source from logtrack"
			       : "dirty = guest writer page writes from \"stats\"");
	title(y, w, t);
	if (i->dirty.have) {
		for (int s = 0; s < UI_SRC_COUNT && r < end; s++)
			if (i->dirty.has_src[s])
				rate_row(r++, w, ui_src_name((enum ui_src)s), pair(src_pair[s]),
					 &i->dirty.src[s], i->dirty.rate[s], "pages/s");
		if (r < end)
			rate_row(r++, w, "dirty total", pair(PAIR_TOTAL) | A_BOLD, &i->dirty.tot,
				 i->dirty.total, "pages/s");
	} else if (r < end) {
		rate_row(r++, w, "writes", pair(PAIR_GUEST), &i->writes,
			 i->have_stats ? i->writes_ps : -1, "pages/s");
	}
	if (r < end)
		rate_row(r++, w, "tx", pair(PAIR_TOTAL), &i->tx, i->have_stats ? i->tx_pps : -1,
			 "frames/s");
	if (r < end)
		rate_row(r++, w, "rx", pair(PAIR_TOTAL), &i->rx, i->have_stats ? i->rx_pps : -1,
			 "frames/s");
}

static int mig_rows(const struct ui_inst *i)
{
	return i->mig.seen ? 6 + i->mig.have_stream : 0;
}

/* A stream destination's figures: bytes on the wire, rate, connections. */
static void mig_stream_row(const struct ui_migration *m, int r, int w)
{
	char by[32];

	vhm_format_bytes((double)m->stream_bytes, by, sizeof(by));
	putf(r, 1, w, "stream   %s on the wire, %.1f MiB/s, %d connection%s%s", by,
	     m->stream_mib_s, m->stream_conns, m->stream_conns == 1 ? "" : "s",
	     m->active ? "" : " (the migration's)");
}

static void mig_draw(const struct ui_inst *i, int y, int h, int w)
{
	const struct ui_migration *m = &i->mig;
	int r = y + 1, end = y + h, x;
	char a[32], b[32];

	title(y, w, m->active ? "migration (running)" : "migration (last)");
	if (r < end)
		putf(r++, 1, w, "phase %-10s pass %-3d remaining ~%.0f pages  bandwidth %.0f MiB/s",
		     m->phase, m->iteration, m->remaining_pages, m->bandwidth_mib_s);
	if (r < end) {
		snprintf(a, sizeof(a), m->predicted_downtime_ms >= 0 ? "%.2f ms" : "-",
			 m->predicted_downtime_ms);
		snprintf(b, sizeof(b), m->actual_downtime_ms >= 0 ? "%.2f ms" : "-",
			 m->actual_downtime_ms);
		putf(r++, 1, w, "downtime predicted %s, actual %s   %s -> %s", a, b,
		     m->from[0] ? m->from : "?", m->to[0] ? m->to : "?");
	}
	if (r < end && m->have_stream)
		mig_stream_row(m, r++, w);
	if (r < end) {
		int s0 = timeline_first(m, w - 1 - (int)strlen("timeline (ms) "));

		move(r, 1);
		addnstr("timeline (ms) ", w - 1);
		if (s0)
			addstr("...");
		for (int s = s0; s < m->nsteps; s++) {
			char step[48];
			bool bad = !strcmp(m->steps[s].phase, "failed") ||
				   !strcmp(m->steps[s].phase, "cancelled");

			step_text(m, s, step, sizeof(step));
			getyx(stdscr, r, x);
			if (x + (int)strlen(step) >= w)
				break;
			if (bad)
				attron(pair(PAIR_BAD) | A_BOLD);
			addstr(step);
			if (bad)
				attroff(pair(PAIR_BAD) | A_BOLD);
		}
		r++;
	}
	if (r < end) {
		double max = 0;
		int bw = w - 40;

		for (int p = 0; p < m->npass; p++)
			max = fmax(max, (double)m->pass[p].copied);
		putf(r, 1, w, "passes   ");
		/* one cell per pass: pages copied, log-scaled so late passes show */
		for (int p = 0; p < m->npass && p < bw; p++)
			mvaddstr(r, 10 + p, level_glyph(log1p((double)m->pass[p].copied),
							log1p(max)));
		x = 10 + (m->npass < bw ? m->npass : bw) + 1;
		if (m->npass)
			putf(r, x, w, "%d passes, first %llu pages, last %llu pages (log scale)",
			     m->npass, (unsigned long long)m->pass[0].copied,
			     (unsigned long long)m->pass[m->npass - 1].copied);
		r++;
	}
	if (r < end && m->have_report) {
		attron(pair(m->ok ? PAIR_GOOD : PAIR_BAD) | A_BOLD);
		if (m->ok) {
			char by[32];

			vhm_format_bytes((double)m->bytes_copied, by, sizeof(by));
			putf(r, 1, w, "report   %s: total %.0f ms, downtime %.2f ms (control %.2f, "
			     "copy %.2f), %d passes, %s copied, %llu zero pages, rarp %s",
			     m->result, m->total_ms, m->downtime_ms, m->downtime_control_ms,
			     m->downtime_copy_ms, m->report_passes, by,
			     (unsigned long long)m->zero_pages, m->rarp ? "sent" : "no");
		} else {
			putf(r, 1, w, "report   failed: %s", m->result);
		}
		attroff(pair(m->ok ? PAIR_GOOD : PAIR_BAD) | A_BOLD);
	}
}

static int in_rows(const struct ui_inst *i)
{
	return i->in.have ? 3 : 0;
}

/* A destination (vhm run --incoming): where it listens, who sends, what came. */
static void in_draw(const struct ui_inst *i, int y, int h, int w)
{
	const struct ui_incoming *in = &i->in;
	int r = y + 1, end = y + h;
	char by[32];
	bool bad = !strcmp(in->phase, "failed");

	title(y, w, "incoming migration");
	vhm_format_bytes((double)in->bytes, by, sizeof(by));
	if (r < end) {
		if (bad)
			attron(pair(PAIR_BAD) | A_BOLD);
		putf(r++, 1, w, "phase %-10s %s received, %llu passes, %.1f s   %s <- %s", in->phase,
		     by, (unsigned long long)in->passes, in->elapsed_ms / 1000.0, in->listen,
		     in->source[0] ? in->source : "no source yet");
		if (bad)
			attroff(pair(PAIR_BAD) | A_BOLD);
	}
	if (r < end)
		putf(r, 1, w, "pages    %llu with data, %llu zero%s%s",
		     (unsigned long long)in->data_pages, (unsigned long long)in->zero_pages,
		     in->error[0] ? "   error: " : "", in->error);
}

static int wss_rows(const struct ui_inst *i)
{
	return i->dirty.nwss ? 1 + i->dirty.nwss : 0;
}

static int wss_most(const struct ui_inst *i, int w)
{
	(void)i, (void)w;
	return 1 << 20;                 /* any height: the chart takes it */
}

/* Window W as "50ms", "2s". */
static void fmt_window(char *out, size_t len, double ms)
{
	if (ms < 1000)
		snprintf(out, len, "%.0fms", ms);
	else
		snprintf(out, len, "%.4gs", ms / 1000);
}

/* The curve as columns, one per window, in rows [y, y + h): pages on the
 * vertical axis (scaled to max), the windows under it. */
static void wss_chart(const struct ui_dirty *d, double max, int y, int h, int w)
{
	int colw = (w - 12) / d->nwss, bars = h - 1;

	if (colw < 1 || bars < 1 || max <= 0)
		return;
	putf(y, 1, w, "%9.0f", max);
	putf(y + bars - 1, 1, w, "%9d", 0);
	for (int k = 0; k < d->nwss; k++) {
		double cellv = d->wss_pages[k] / max * bars;   /* bar height in rows */
		int x = 12 + k * colw;
		char lab[16];

		attron(pair(PAIR_TOTAL));
		for (int r = 0; r < bars; r++) {
			double in = cellv - (bars - 1 - r);        /* row r's share, 0..1 */

			for (int c = 0; c < colw - (colw > 2) && x + c < w; c++)
				mvaddstr(y + r, x + c, level_glyph(in < 0 ? 0 : in > 1 ? 1 : in, 1));
		}
		attroff(pair(PAIR_TOTAL));
		fmt_window(lab, sizeof(lab), d->wss_window_ms[k]);
		if ((int)strlen(lab) < colw)
			put(y + bars, x, w, lab);
	}
}

static void wss_draw(const struct ui_inst *i, int y, int h, int w)
{
	const struct ui_dirty *d = &i->dirty;
	double max = d->wss_pages[d->nwss - 1];

	for (int k = 0; k < d->nwss; k++)
		max = fmax(max, d->wss_pages[k]);

	title(y, w, "working set: distinct pages dirtied within the last W ms");
	for (int k = 0; k < d->nwss && 1 + k < h; k++) {
		char by[32];

		vhm_format_bytes(d->wss_pages[k] * 4096.0, by, sizeof(by));
		putf(y + 1 + k, 1, w, "%7.0f ms %10.0f pages %10s", d->wss_window_ms[k],
		     d->wss_pages[k], by);
		if (w > 44)
			bar(y + 1 + k, 42, w - 43, max > 0 ? d->wss_pages[k] / max : 0);
	}
	/* rows beyond the table (a taller terminal): the curve as a chart */
	if (h - 1 - d->nwss >= 4)
		wss_chart(d, max, y + 1 + d->nwss, h - 1 - d->nwss, w);
}

static int heat_rows(const struct ui_inst *i)
{
	return i->dirty.nheat ? 1 + 4 : 0;
}

/* One screen cell per 2 MiB block fits in this many rows. */
static int heat_most(const struct ui_inst *i, int w)
{
	int gw = w - 2;

	return gw < 4 ? 0 : 1 + (i->dirty.nheat + gw - 1) / gw;
}

static void heat_draw(const struct ui_inst *i, int y, int h, int w)
{
	const struct ui_dirty *d = &i->dirty;
	int gw = w - 2, rows = h - 1, per, cells;
	double max = 0;
	char t[160], by[32];

	if (gw < 4 || rows < 1)
		return;
	/* cells of the map per screen cell, so the map fits the box */
	per = (d->nheat + gw * rows - 1) / (gw * rows);
	if (per < 1)
		per = 1;
	cells = (d->nheat + per - 1) / per;
	for (int c = 0; c < cells; c++) {
		double s = 0;

		for (int k = c * per; k < (c + 1) * per && k < d->nheat; k++)
			s += d->heat[k];
		max = fmax(max, s);
	}
	vhm_format_bytes((double)d->heat_cell_bytes * per, by, sizeof(by));
	snprintf(t, sizeof(t), "heat map of guest-physical memory: one cell = %s from GPA 0, "
		 "taller = more page-dirtyings; hottest 2 MiB at 0x%llx", by,
		 (unsigned long long)d->hot_gpa);
	title(y, w, t);
	for (int c = 0; c < cells; c++) {
		double s = 0;

		for (int k = c * per; k < (c + 1) * per && k < d->nheat; k++)
			s += d->heat[k];
		attron(pair(PAIR_BACKEND));
		mvaddstr(y + 1 + c / gw, 1 + c % gw, level_glyph(s, max));
		attroff(pair(PAIR_BACKEND));
	}
}

static int verify_rows(const struct ui_inst *i)
{
	return i->dirty.have_verify ? 2 + i->dirty.nfindings : 0;
}

static void verify_draw(const struct ui_inst *i, int y, int h, int w)
{
	const struct ui_dirty *d = &i->dirty;

	title(y, w, "verify: pages that changed without a dirty bit");
	if (h < 2)
		return;
	attron(pair(d->verify_bad ? PAIR_BAD : PAIR_GOOD));
	putf(y + 1, 1, w, "%llu pages hashed, %llu findings%s", (unsigned long long)d->verify_checked,
	     (unsigned long long)d->verify_bad, d->nfindings ? "; the latest:" : "");
	attroff(pair(d->verify_bad ? PAIR_BAD : PAIR_GOOD));
	for (int k = 0; k < d->nfindings && 2 + k < h; k++)
		putf(y + 2 + k, 3, w, "%s", d->findings[k]);
}

static int kv_rows(const struct ui_kv *kv)
{
	return kv->have ? 1 + !!kv->note[0] + (kv->n + 2) / 3 : 0;
}

/* %.12g of 41.666666666666664 takes 13 columns, and ran into the next
 * cell: as many significant digits as fit UI_KV_VALW. */
void ui_kv_value(char *out, size_t len, double v)
{
	for (int prec = UI_KV_VALW; prec > 0; prec--) {
		snprintf(out, len, "%.*g", prec, v);
		if (strlen(out) <= UI_KV_VALW)
			return;
	}
}

static void kv_draw(const struct ui_kv *kv, const char *name, int y, int h, int w)
{
	int colw = w / 3 > 38 ? w / 3 : 38, r0 = 1;

	title(y, w, name);
	if (kv->note[0] && h > 1)
		put(y + r0++, 1, w, kv->note);
	for (int k = 0; k < kv->n; k++) {
		int r = r0 + k / 3, c = k % 3, x = 1 + c * colw, end = x + colw - 1;
		char val[32];

		if (r >= h || x >= w)
			continue;
		ui_kv_value(val, sizeof(val), kv->val[k]);
		/* a cell never runs into the next one: cut at its own end */
		putf(y + r, x, end < w ? end : w, "%-24.24s %*s", kv->key[k], UI_KV_VALW, val);
	}
}

static int bpf_rows(const struct ui_inst *i) { return kv_rows(&i->bpf); }
static int job_rows(const struct ui_inst *i) { return kv_rows(&i->job); }

static void bpf_draw(const struct ui_inst *i, int y, int h, int w)
{
	kv_draw(&i->bpf, "bpf counters of the backend", y, h, w);
}

static void job_draw(const struct ui_inst *i, int y, int h, int w)
{
	kv_draw(&i->job, "libvirt job", y, h, w);
}

/* The libvirt watcher's last dirty-rate measurement: libvirt's figure and,
 * beside it, each backend's (eBPF), then what was counted or why not. */
static int lvdirty_rows(const struct ui_inst *i)
{
	const struct ui_lvdirty *l = &i->lvdirty;

	if (!l->have)
		return 0;
	return l->error[0] ? 2 : 1 + (l->nbackend ? 2 * l->nbackend : 2);
}

static void lvdirty_backend(const struct ui_lvbackend *b, int y, int h, int r, int w, int x)
{
	char rate[16];

	if (b->have_rate) {
		fmt_rate(rate, sizeof(rate), b->calls_per_s);
		putf(y + r, x, w, "| backend pid %ld: %s log writes/s (eBPF)", b->pid, rate);
	} else {
		attron(pair(PAIR_BAD));
		putf(y + r, x, w, "| backend%s%.0ld: no eBPF figure", b->pid ? " pid " : "",
		     b->pid);
		attroff(pair(PAIR_BAD));
	}
	if (r + 1 < h)
		putf(y + r + 1, 3, w, "%s", b->have_rate ? b->source : b->why);
}

static void lvdirty_draw(const struct ui_inst *i, int y, int h, int w)
{
	const struct ui_lvdirty *l = &i->lvdirty;
	char t[160], lv[64];

	snprintf(t, sizeof(t), "libvirt dirty rate of %s (vhm dirty-rate): libvirt | backend",
		 l->domain);
	title(y, w, t);
	if (h < 2)
		return;
	if (l->error[0]) {
		attron(pair(PAIR_BAD));
		putf(y + 1, 1, w, "%s", l->error);
		attroff(pair(PAIR_BAD));
		return;
	}
	if (l->mib_s >= 0)
		snprintf(lv, sizeof(lv), "libvirt: %.0f MiB/s (%s, %d s)", l->mib_s, l->mode,
			 l->period_s);
	else
		snprintf(lv, sizeof(lv), "libvirt: no rate (%s)", l->mode);
	attron(pair(PAIR_GUEST));
	put(y + 1, 1, w, lv);
	attroff(pair(PAIR_GUEST));
	if (!l->nbackend && h > 2)
		put(y + 2, 3, w, "no vhostuser interface: no backend to trace");
	for (int k = 0; k < l->nbackend; k++) {
		int r = 1 + 2 * k;

		if (r < h)
			lvdirty_backend(&l->be[k], y, h, r, w, r == 1 ? 40 : 1);
	}
}

static const struct panel panels[] = {
	{ "rates", rates_rows, 3, rates_draw },
	{ "migration", mig_rows, 3, mig_draw },
	{ "incoming", in_rows, 2, in_draw },
	{ "working set", wss_rows, 3, wss_draw, wss_most },
	{ "heat map", heat_rows, 2, heat_draw, heat_most },
	{ "verify", verify_rows, 2, verify_draw },
	{ "bpf", bpf_rows, 2, bpf_draw },
	{ "job", job_rows, 2, job_draw },
	{ "libvirt dirty rate", lvdirty_rows, 2, lvdirty_draw },
};

#define NPANELS (sizeof(panels) / sizeof(panels[0]))

/* Rows of each panel in [y, end): each its wanted rows while they fit (one
 * below its minimum is skipped), then what is left over to those that grow,
 * from the bottom up: the heat map takes what shows one cell per 2 MiB
 * block, the working set the rest. */
static void layout(const struct ui_inst *i, int y, int end, int w, int ht[NPANELS])
{
	for (size_t p = 0; p < NPANELS; p++) {
		int want = panels[p].rows(i), left = end - y;

		ht[p] = 0;
		if (want && panels[p].most && panels[p].most(i, w) < want)
			want = panels[p].most(i, w);   /* no blank rows below a small map */
		if (!want || left < panels[p].min)
			continue;
		ht[p] = want < left ? want : left;
		y += ht[p];
	}
	for (size_t p = NPANELS; p-- > 0 && y < end;) {
		int more;

		if (!ht[p] || !panels[p].most)
			continue;
		more = panels[p].most(i, w) - ht[p];
		if (more > end - y)
			more = end - y;
		if (more > 0) {
			ht[p] += more;
			y += more;
		}
	}
}

static void draw_panels(const struct ui_inst *i, int y, int end, int w)
{
	int ht[NPANELS];

	layout(i, y, end, w, ht);
	if (i->conn != UI_CONN_LIVE)
		attron(A_DIM);
	for (size_t p = 0; p < NPANELS; p++) {
		if (!ht[p])
			continue;
		panels[p].draw(i, y, ht[p], w);
		y += ht[p];
	}
	if (i->conn != UI_CONN_LIVE)
		attroff(A_DIM);
}

/* ---- frame --------------------------------------------------------------------- */

static void draw_header(const struct ui_view *v, const struct ui_inst *const list[], int n,
			int w)
{
	char clock[16], trk[48] = "";
	int on = 0, mine = 0;
	time_t t = time(NULL);
	struct tm tm;

	for (int i = 0; i < n; i++) {
		on += list[i]->tracking || list[i]->track_mine;
		mine += list[i]->track_mine;
	}
	if (on)
		snprintf(trk, sizeof(trk), "  tracking %d (%d by top)", on, mine);
	localtime_r(&t, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	attron(pair(PAIR_HEADER) | (use_color ? 0 : A_REVERSE));
	move(0, 0);
	for (int x = 0; x < w; x++)
		addch(' ');
	putf(0, 0, w, "vhm top %s  %d instance%s%s  every %.1fs  sort %s%s%s%s  %s", clock, n,
	     n == 1 ? "" : "s", trk, v->delay_s, ui_sort_name(v->sort),
	     v->reverse ? " (rev)" : "", v->filter[0] ? "  filter " : "", v->filter,
	     v->run_dir ? v->run_dir : "");
	attroff(pair(PAIR_HEADER) | (use_color ? 0 : A_REVERSE));
}

static void draw_footer(const struct ui_view *v, int y, int w)
{
	move(y, 0);
	clrtoeol();
	if (v->prompt_label[0]) {
		putf(y, 0, w, "%s%s_", v->prompt_label, v->prompt);
		return;
	}
	if (v->msg[0]) {
		attron(A_BOLD);
		put(y, 0, w, v->msg);
		attroff(A_BOLD);
		return;
	}
	attron(A_DIM);
	put(y, 0, w, "q quit  h help  space refresh  d delay  f filter  < > sort  r reverse  "
		     "arrows/tab select  t track");
	attroff(A_DIM);
}

static void draw_help(int h, int w)
{
	static const char *const lines[] = {
		"vhm top: keys",
		"",
		"  q, F10        quit",
		"  h, ?          this help (any key closes it)",
		"  space         sample and redraw now",
		"  d, s          set the refresh delay (seconds)",
		"  f, /          filter instances by name (empty: all)",
		"  < >           sort column: name, state, tx, dirty",
		"  N S T D       sort by name, state, tx rate, dirty rate",
		"  r             reverse the sort",
		"  up/down, j/k  select an instance; tab/shift-tab cycle",
		"  t             start/stop dirty tracking of the selected",
		"                instance (the backend logs meanwhile); TRK:",
		"                top = started here (stopped on exit),",
		"                on = someone else's",
		"",
		"Greyed rows: the instance does not answer (gone).",
		"Panels without data (logtrack, bpf, libvirt) are not drawn.",
	};
	int n = (int)(sizeof(lines) / sizeof(lines[0])), bw = 62, bh = n + 2;
	int y0 = (h - bh) / 2, x0 = (w - bw) / 2;

	if (y0 < 0)
		y0 = 0;
	if (x0 < 0)
		x0 = 0;
	for (int r = 0; r < bh && y0 + r < h; r++) {
		move(y0 + r, x0);
		attron(A_REVERSE);
		for (int x = 0; x < bw && x0 + x < w; x++)
			addch(' ');
		if (r >= 1 && r - 1 < n)
			put(y0 + r, x0 + 2, w, lines[r - 1]);
		attroff(A_REVERSE);
	}
}

void ui_panels_draw(const struct ui_view *v, const struct ui_inst *const list[], int n, int sel)
{
	int h = LINES, w = COLS, y, body;

	erase();
	if (h < 1 || w < 1) {
		refresh();
		return;
	}
	draw_header(v, list, n, w);
	if (h < 3) {
		refresh();
		return;
	}
	body = h - 2;
	/* the list first; it leaves room for panels when there are many rows */
	{
		int want = 1 + (n ? n : 1), cap = body;

		if (body >= 16 && want > body / 3 && sel >= 0)
			cap = body / 3 > 4 ? body / 3 : 4;
		y = 1 + draw_list(1, want < cap ? want : cap, w, list, n, sel);
	}
	if (sel >= 0 && sel < n)
		draw_panels(list[sel], y, h - 1, w);
	draw_footer(v, h - 1, w);
	if (v->help)
		draw_help(h, w);
	refresh();
}
