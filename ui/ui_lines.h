/* SPDX-License-Identifier: MIT */
/* ui_lines — `vhm top -b` and `--csv`: the model as plain lines, one per
 * instance per iteration, for scripts. Both formats have the same fields in
 * the same order (UI_LINE_FIELDS); docs/top.md describes each.
 *
 *   key=value:  "t=1.002 name=vm1 conn=live state=running ... mig_phase=-"
 *               a value with a space, '"', '\\' or '=' is double-quoted with
 *               '\\' escaping '"' and '\\'; an unknown value is "-".
 *   CSV:        a header line (ui_line_csv_header), then rows; RFC 4180
 *               quoting; an unknown value is empty. */
#ifndef VHM_UI_LINES_H
#define VHM_UI_LINES_H

#include <stddef.h>

#include "ui_model.h"

/* The line (no '\n') into buf; t_s is seconds since top started. */
void ui_line_kv(const struct ui_inst *inst, double t_s, char *buf, size_t len);
void ui_line_csv(const struct ui_inst *inst, double t_s, char *buf, size_t len);
const char *ui_line_csv_header(void);

#endif
