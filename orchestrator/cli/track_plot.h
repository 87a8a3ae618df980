/* SPDX-License-Identifier: MIT */
/* track_plot — `vhm track --plot`: draws what the tracker measured with
 * gnuplot (package gnuplot-nox): the dirty rate by source over time, and
 * the working-set curve, one above the other in one PNG or SVG (chosen by
 * the file's extension). The data goes to gnuplot in files of a private
 * temp dir, the script on its stdin; nothing is drawn by hand. */
#ifndef VHM_TRACK_PLOT_H
#define VHM_TRACK_PLOT_H

#include <stddef.h>

/* One column per source, one row per interval. Not owned. */
struct track_plot_series {
	size_t n;
	const double *t_s;              /* interval end, seconds since tracking began */
	const double *guest, *backend, *used_ring, *total, *total_ewma;   /* pages/s */
};

struct track_plot_wss {
	size_t n;
	const double *window_ms, *pages;
};

/* Is path something we can plot to: ends in .png or .svg, no quote or
 * newline (gnuplot string)? 0, or -EINVAL. */
int track_plot_check_path(const char *path);

/* Draw into path with title. 0, or -errno with err (gnuplot missing, failed,
 * wrote nothing). */
int track_plot(const char *path, const char *title, const struct track_plot_series *s,
	       const struct track_plot_wss *w, char *err, size_t errlen);

#endif
