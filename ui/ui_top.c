/* SPDX-License-Identifier: MIT */
/* `vhm top`: options, the terminal, and the loop (wait, sample, draw). One loop, whichever the mode:
 *
 *   tick:  sample (rescan, reconnect, read), then draw or print
 *   wait:  poll() on stdin and the sampler's wake-up pipe until the next
 *          tick; keys are handled at once (drawing only what they change).
 *          The instances' events wait in their sockets until the tick (or,
 *          with a refresh delay over a second, a drain each second), so a
 *          dashboard wakes once a refresh, not once an event.
 *
 * The terminal is restored (endwin) on every way out before anything is
 * printed; signals only set a flag. */
#include "ui_top.h"

#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ui_lines.h"
#include "ui_panels.h"
#include "ui_sample.h"
#include "util.h"

#define POLL_MAX 2   /* stdin and the sampler's wake-up pipe (ui_sample_pollfds) */
#define DELAY_MIN_S 0.1
#define DELAY_MAX_S 3600.0

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

struct top {
	struct ui_sampler *smp;
	struct ui_view view;
	double delay_s;
	long iterations;               /* 0: until q */
	bool batch, curses;
	bool track;                    /* --track: track every instance shown */
	SCREEN *scr;                   /* ours to delscreen after endwin */
	const char *csv_path;
	FILE *csv;
	uint64_t t0_ns, next_ns, drain_ns;
	bool quit;
};

/* ---- options ---------------------------------------------------------------- */

/* -d: a duration (vhm_parse_duration_ms: "500ms", "2s"; bare = seconds). */
static int parse_delay(const char *s, double *out)
{
	uint64_t ms;

	if (vhm_parse_duration_ms(s, &ms) || ms < DELAY_MIN_S * 1000 || ms > DELAY_MAX_S * 1000)
		return -EINVAL;
	*out = (double)ms / 1000.0;
	return 0;
}

static int parse_args(struct top *t, int argc, char **argv, const char **run_dir)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "batch", no_argument, NULL, 'b' },
		{ "csv", required_argument, NULL, 'C' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ "no-color", no_argument, NULL, 'N' },
		{ "no-colour", no_argument, NULL, 'N' },
		{ "track", no_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhm_cli p = { .cmd = "top", .shortopts = "d:n:b", .longopts = opts };
	uint64_t v;
	int o;

	while ((o = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (o) {
		case 'd':
			if (parse_delay(optarg, &t->delay_s))
				return vhm_usage_error("top", "-d '%s': expected a duration, 100ms..1h",
						       optarg);
			break;
		case 'n':
			if (vhm_parse_u64(optarg, &v) || v < 1 || v > 1000000000)
				return vhm_usage_error("top", "-n '%s': expected a count >= 1", optarg);
			t->iterations = (long)v;
			break;
		case 'b': t->batch = true; break;
		case 'C': t->csv_path = optarg; break;
		case 'R': *run_dir = optarg; break;
		case 'N': t->view.color = false; break;
		case 'K': t->track = true; break;
		}
	}
	return o == VHM_CLI_END ? 0 : o;
}

/* ---- one tick ---------------------------------------------------------------- */

static double since_start(const struct top *t)
{
	return (double)(vhm_now_ns() - t->t0_ns) / 1e9;
}

/* Instances in display order, and the index of the selected one. */
static int ordered(struct top *t, const struct ui_inst *list[], int *sel)
{
	const struct ui_inst *all[UI_SAMPLE_MAX];
	int idx[UI_SAMPLE_MAX], n = ui_sample_count(t->smp), k;

	for (int i = 0; i < n; i++)
		all[i] = ui_sample_inst(t->smp, i);
	k = ui_view_order(&t->view, all, n, idx, UI_SAMPLE_MAX);
	*sel = k ? 0 : -1;
	for (int i = 0; i < k; i++) {
		list[i] = all[idx[i]];
		if (!strcmp(list[i]->name, t->view.sel_name))
			*sel = i;
	}
	snprintf(t->view.sel_name, sizeof(t->view.sel_name), "%s",
		 *sel >= 0 ? list[*sel]->name : "");
	return k;
}

static void draw(struct top *t)
{
	const struct ui_inst *list[UI_SAMPLE_MAX];
	int sel, n = ordered(t, list, &sel);

	ui_panels_draw(&t->view, list, n, sel);
}

static void write_lines(struct top *t)
{
	const struct ui_inst *list[UI_SAMPLE_MAX];
	double ts = since_start(t);
	int sel, n;
	char line[2048];

	if (!t->batch && !t->csv)
		return;
	n = ordered(t, list, &sel);
	for (int i = 0; i < n; i++) {
		if (t->batch) {
			ui_line_kv(list[i], ts, line, sizeof(line));
			printf("%s\n", line);
		}
		if (t->csv) {
			ui_line_csv(list[i], ts, line, sizeof(line));
			fprintf(t->csv, "%s\n", line);
		}
	}
	if (t->batch)
		fflush(stdout);
	if (t->csv)
		fflush(t->csv);
}

/* Sample, then show. Batch mode's first tick only connects (nothing has
 * been measured yet); its N lines come at delay, 2 x delay, ... */
static void tick(struct top *t, bool show)
{
	uint64_t now = vhm_now_ns();

	ui_sample_tick(t->smp, now);
	t->next_ns = now + (uint64_t)(t->delay_s * 1e9);
	t->drain_ns = now + UI_SAMPLE_DRAIN_NS;
	if (!show)
		return;
	t->view.iteration++;
	write_lines(t);
	if (t->curses)
		draw(t);
	if (t->iterations && t->view.iteration >= t->iterations)
		t->quit = true;
}

/* ---- keys ------------------------------------------------------------------------ */

static void move_sel(struct top *t, int delta)
{
	const struct ui_inst *list[UI_SAMPLE_MAX];
	int sel, n = ordered(t, list, &sel);

	if (!n)
		return;
	sel = (sel + delta + n) % n;
	snprintf(t->view.sel_name, sizeof(t->view.sel_name), "%s", list[sel]->name);
}

static void prompt_start(struct top *t, const char *label, const char *init)
{
	snprintf(t->view.prompt_label, sizeof(t->view.prompt_label), "%s", label);
	snprintf(t->view.prompt, sizeof(t->view.prompt), "%s", init);
}

static void prompt_done(struct top *t)
{
	struct ui_view *v = &t->view;

	if (!strncmp(v->prompt_label, "delay", 5)) {
		double d;

		if (!parse_delay(v->prompt, &d)) {
			t->delay_s = v->delay_s = d;
			t->next_ns = vhm_now_ns() + (uint64_t)(d * 1e9);
			v->msg[0] = '\0';
		} else {
			snprintf(v->msg, sizeof(v->msg), "delay '%s': expected 100ms..1h (bare: "
				 "seconds)", v->prompt);
		}
	} else {
		snprintf(v->filter, sizeof(v->filter), "%s", v->prompt);
	}
	v->prompt_label[0] = '\0';
}

/* A key while a prompt is open. */
static void prompt_key(struct top *t, int ch)
{
	struct ui_view *v = &t->view;
	size_t len = strlen(v->prompt);

	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
		prompt_done(t);
	else if (ch == 27)
		v->prompt_label[0] = '\0';
	else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len)
		v->prompt[len - 1] = '\0';
	else if (ch >= 32 && ch < 127 && len + 1 < sizeof(v->prompt))
		v->prompt[len] = (char)ch, v->prompt[len + 1] = '\0';
}

/* t: start or stop (our share of) dirty tracking on the selected instance. */
static void toggle_track(struct top *t)
{
	struct ui_view *v = &t->view;
	int rc;

	if (!v->sel_name[0])
		return;
	rc = ui_sample_track(t->smp, v->sel_name);
	if (rc == -ENOTCONN)
		snprintf(v->msg, sizeof(v->msg), "%s: not connected, cannot track", v->sel_name);
	else if (rc == -EINPROGRESS)
		snprintf(v->msg, sizeof(v->msg), "%s: a tracking request is on its way",
			 v->sel_name);
	else if (rc)
		snprintf(v->msg, sizeof(v->msg), "%s: tracking: %s", v->sel_name, strerror(-rc));
}

/* Returns true when the key asks for a sample now (space). */
static bool key(struct top *t, int ch)
{
	struct ui_view *v = &t->view;
	char buf[32];

	if (v->prompt_label[0]) {
		prompt_key(t, ch);
		return false;
	}
	if (ch == KEY_RESIZE)
		return false;
	v->msg[0] = '\0';
	if (v->help) {
		v->help = false;
		return false;
	}
	switch (ch) {
	case 'q': case 'Q': case KEY_F(10): t->quit = true; break;
	case 'h': case '?': case KEY_F(1): v->help = true; break;
	case ' ': return true;
	case 'd': case 's':
		snprintf(buf, sizeof(buf), "%g", t->delay_s);
		prompt_start(t, "delay (seconds): ", buf);
		break;
	case 'f': case '/': prompt_start(t, "filter (name contains): ", v->filter); break;
	case '<': v->sort = (enum ui_sort)((v->sort + UI_SORT_COUNT - 1) % UI_SORT_COUNT); break;
	case '>': v->sort = (enum ui_sort)((v->sort + 1) % UI_SORT_COUNT); break;
	case 'N': v->sort = UI_SORT_NAME; break;
	case 'S': v->sort = UI_SORT_STATE; break;
	case 'T': v->sort = UI_SORT_TX; break;
	case 'D': v->sort = UI_SORT_DIRTY; break;
	case 'r': case 'R': v->reverse = !v->reverse; break;
	case 't': toggle_track(t); break;
	case KEY_UP: case 'k': move_sel(t, -1); break;
	case KEY_DOWN: case 'j': case '\t': move_sel(t, 1); break;
	case KEY_BTAB: move_sel(t, -1); break;
	default: break;
	}
	return false;
}

/* ---- the loop ------------------------------------------------------------------------ */

static int loop(struct top *t)
{
	tick(t, t->curses);
	while (!t->quit && !got_signal) {
		struct pollfd fds[POLL_MAX];
		uint64_t now = vhm_now_ns();
		int n = 0, timeout, ch;
		bool redraw = false, now_tick = false;

		if (now >= t->next_ns) {
			tick(t, true);
			continue;
		}
		if (now >= t->drain_ns) {
			ui_sample_drain(t->smp, now);
			t->drain_ns = now + UI_SAMPLE_DRAIN_NS;
			continue;
		}
		timeout = (int)(((t->next_ns < t->drain_ns ? t->next_ns : t->drain_ns) - now +
				 999999) / 1000000);
		if (t->curses)
			fds[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		n += ui_sample_pollfds(t->smp, fds + n, POLL_MAX - n);
		if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return -errno;
		ui_sample_read(t->smp, fds + (t->curses ? 1 : 0), n - (t->curses ? 1 : 0));
		if (!t->curses)
			continue;
		redraw = ui_sample_take_msg(t->smp, t->view.msg, sizeof(t->view.msg));
		/* keys, and KEY_RESIZE after a SIGWINCH interrupted poll() */
		while ((ch = getch()) != ERR) {
			now_tick |= key(t, ch);
			redraw = true;
		}
		if (now_tick)
			tick(t, true);
		else if (redraw && !t->quit)
			draw(t);
	}
	return 0;
}

static int curses_start(struct top *t, char *err, size_t errlen)
{
	const char *term = getenv("TERM");
	SCREEN *scr;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return vhm_err(err, errlen, -ENOTTY, "not a terminal (use -b for batch mode)");
	scr = newterm(term, stdout, stdin);
	if (!scr)
		return vhm_err(err, errlen, -ENOTTY, "cannot use terminal type '%s'",
			       term ? term : "(unset)");
	set_term(scr);
	t->scr = scr;
	t->curses = true;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	t->view.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	ui_panels_init(&t->view);
	return 0;
}

int cmd_top(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct top t = { .delay_s = 1.0 };
	const char *run_dir = NULL;
	char err[256] = "";
	int rc;

	t.view.color = vhm_cli_use_color(getenv("NO_COLOR"), getenv("TERM"));
	rc = parse_args(&t, argc, argv, &run_dir);
	if (rc)
		return vhm_cli_status(rc);
	run_dir = vhm_run_dir(run_dir);
	t.view.delay_s = t.delay_s;
	t.view.run_dir = run_dir;
	if (t.csv_path) {
		t.csv = fopen(t.csv_path, "w");
		if (!t.csv) {
			fprintf(stderr, "vhm top: --csv %s: %s\n", t.csv_path, strerror(errno));
			return VHM_EXIT_USAGE;
		}
		fprintf(t.csv, "%s\n", ui_line_csv_header());
	}
	if (ui_sample_open(&t.smp, run_dir, argv + optind, argc - optind)) {
		fprintf(stderr, "vhm top: out of memory\n");
		rc = VHM_EXIT_FAIL;
		goto out;
	}
	ui_sample_track_all(t.smp, t.track);
	setlocale(LC_ALL, "");
	signal(SIGPIPE, SIG_IGN);
	if (!t.batch && curses_start(&t, err, sizeof(err))) {
		fprintf(stderr, "vhm top: %s\n", err);
		rc = VHM_EXIT_FAIL;
		goto out;
	}
	/* after newterm, which installs its own handlers for these */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	t.t0_ns = vhm_now_ns();
	rc = loop(&t);
	if (t.curses)
		endwin();
	if (rc) {
		fprintf(stderr, "vhm top: poll: %s\n", strerror(-rc));
		rc = VHM_EXIT_FAIL;
	} else {
		rc = VHM_EXIT_OK;
	}
out:
	if (t.curses && !isendwin())
		endwin();
	if (t.scr)
		delscreen(t.scr);
	ui_sample_close(t.smp);
	if (t.csv)
		fclose(t.csv);
	return rc;
}
