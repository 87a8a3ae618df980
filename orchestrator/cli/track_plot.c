/* SPDX-License-Identifier: MIT */
/* `vhm track --plot`: writes the samples into a private temp dir, feeds
 * gnuplot a script on its stdin and removes the dir whatever happens. */
#include "track_plot.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcasecmp(s + n - k, suffix);
}

int track_plot_check_path(const char *path)
{
	if (!path || strpbrk(path, "'\"\n\\") || !(ends_with(path, ".png") || ends_with(path, ".svg")))
		return -EINVAL;
	return 0;
}

static int write_data(const char *dir, const struct track_plot_series *s,
		      const struct track_plot_wss *w)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/rates.dat", dir);
	if (!(f = fopen(path, "w")))
		return -errno;
	fprintf(f, "# t_s guest backend used_ring total total_ewma (pages/s)\n");
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "%.3f %.1f %.1f %.1f %.1f %.1f\n", s->t_s[i], s->guest[i], s->backend[i],
			s->used_ring[i], s->total[i], s->total_ewma[i]);
	if (fclose(f))
		return -errno;
	snprintf(path, sizeof(path), "%s/wss.dat", dir);
	if (!(f = fopen(path, "w")))
		return -errno;
	fprintf(f, "# window_ms distinct_pages\n");
	for (size_t i = 0; i < w->n; i++)
		fprintf(f, "%.0f %.0f\n", w->window_ms[i], w->pages[i]);
	return fclose(f) ? -errno : 0;
}

static void write_script(FILE *g, const char *dir, const char *path, const char *title)
{
	bool svg = ends_with(path, ".svg");

	if (svg)
		fprintf(g, "set terminal svg size 900,800 dynamic font 'sans,11'\n");
	else
		fprintf(g, "set terminal pngcairo size 900,800 font 'sans,10'\n");
	fprintf(g, "set output '%s'\n", path);
	fprintf(g, "set multiplot layout 2,1 title '%s'\n", title);
	fprintf(g, "set grid\nset key outside right top\nset format y '%%.0f'\n");
	fprintf(g, "set title 'Dirty rate by source'\n"
		   "set xlabel 'time (s)'\nset ylabel 'pages/s (4 KiB)'\nset yrange [0:*]\n");
	fprintf(g, "plot '%s/rates.dat' using 1:2 with linespoints title 'guest (writer)', "
		   "'' using 1:3 with linespoints title 'backend (RX buffers)', "
		   "'' using 1:4 with linespoints title 'used rings', "
		   "'' using 1:5 with lines lw 2 title 'total', "
		   "'' using 1:6 with lines dt 2 lw 2 title 'total, EWMA 1 s'\n", dir);
	fprintf(g, "set title 'Working-set curve (at the end)'\n"
		   "set logscale x\nset xrange [40:12500]\nset xlabel 'window (ms)'\n"
		   "set ylabel 'distinct pages'\n");
	fprintf(g, "plot '%s/wss.dat' using 1:2 with linespoints lw 2 title 'wss(window)'\n", dir);
	fprintf(g, "unset multiplot\nset output\n");
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

/* Run gnuplot with the script on its stdin. 0, or -errno with err. */
static int run_gnuplot(const char *dir, const char *path, const char *title, char *err,
		       size_t errlen)
{
	int fds[2], st;
	pid_t pid;
	FILE *g;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		execlp("gnuplot", "gnuplot", (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	g = fdopen(fds[1], "w");
	if (!g) {
		close(fds[1]);
		waitpid(pid, &st, 0);
		return -ENOMEM;
	}
	write_script(g, dir, path, title);
	fclose(g);
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return vhm_err(err, errlen, -ENOENT,
			       "gnuplot not found (Debian package gnuplot-nox)");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return vhm_err(err, errlen, -EIO, "gnuplot failed (status %d)", st);
	return 0;
}

int track_plot(const char *path, const char *title, const struct track_plot_series *s,
	       const struct track_plot_wss *w, char *err, size_t errlen)
{
	char dir[] = "/tmp/vhm-plot-XXXXXX";
	struct stat sb;
	int rc;

	if (track_plot_check_path(path))
		return vhm_err(err, errlen, -EINVAL,
			       "%s: expected FILE.png or FILE.svg, without quotes", path);
	if (!s->n || !w->n)
		return vhm_err(err, errlen, -ENODATA, "nothing to plot: no interval was measured");
	if (!mkdtemp(dir))
		return vhm_err(err, errlen, -errno, "temp dir: %s", strerror(errno));
	rc = write_data(dir, s, w);
	if (rc)
		snprintf(err, errlen, "plot data: %s", strerror(-rc));
	else
		rc = run_gnuplot(dir, path, title, err, errlen);
	nftw(dir, rm_entry, 4, FTW_DEPTH | FTW_PHYS);
	if (!rc && (stat(path, &sb) < 0 || sb.st_size == 0)) {
		rc = vhm_err(err, errlen, -EIO, "gnuplot wrote nothing to %s", path);
	}
	return rc;
}
