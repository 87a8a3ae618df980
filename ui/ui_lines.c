/* SPDX-License-Identifier: MIT */
/* `vhm top --batch` lines, text or JSON, from the model. One table of fields feeds both formats. */
#include "ui_lines.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* A field's value into out ("" = unknown). */
typedef void (*field_fn)(const struct ui_inst *i, double t, char *out, size_t len);

/* v with `decimals` digits after the point, or "" when not known. */
static void num(char *out, size_t len, bool known, int decimals, double v)
{
	if (known)
		snprintf(out, len, "%.*f", decimals, v);
	else
		out[0] = '\0';
}

static void num0(char *out, size_t len, bool known, double v)
{
	num(out, len, known, 0, v);
}

static void f_t(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)i;
	snprintf(o, l, "%.3f", t);
}

static void f_name(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	snprintf(o, l, "%s", i->name);
}

static void f_conn(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	snprintf(o, l, "%s", i->conn == UI_CONN_LIVE ? "live" : i->conn == UI_CONN_GONE ? "gone"
			     : "new");
}

static void f_state(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	snprintf(o, l, "%s", strcmp(i->state, "?") ? i->state : "");
}

static void f_backend(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	snprintf(o, l, "%s", i->backend);
}

static void f_mig_phase(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	snprintf(o, l, "%s", i->mig.seen ? i->mig.phase : "");
}

static void f_mig_iter(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	num0(o, l, i->mig.npass > 0, i->mig.iteration);
}

static void f_mig_bw(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	num0(o, l, i->mig.npass > 0, i->mig.bandwidth_mib_s);
}

static void f_mig_pred(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	num(o, l, i->mig.seen && i->mig.predicted_downtime_ms >= 0, 3,
	    i->mig.predicted_downtime_ms);
}

static void f_mig_down(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	num(o, l, i->mig.seen && i->mig.actual_downtime_ms >= 0, 3, i->mig.actual_downtime_ms);
}

static void f_mig_result(const struct ui_inst *i, double t, char *o, size_t l)
{
	(void)t;
	snprintf(o, l, "%s", i->mig.have_report ? i->mig.result : "");
}

/* A field is a function of the instance, or a number in it shown only when
 * its "have" flag is set (then fn is NULL and the offsets say where). */
struct field {
	const char *key;
	field_fn fn;
	size_t have, val;   /* offsetof(struct ui_inst, ...): a bool, an int or a double */
	bool val_is_int;
};

#define NUM(k, have_field, val_field)                                                        \
	{ .key = k, .have = offsetof(struct ui_inst, have_field),                            \
	  .val = offsetof(struct ui_inst, val_field),                                        \
	  .val_is_int = _Generic(((struct ui_inst *)0)->val_field, int: true, default: false) }

static const struct field fields[] = {
	{ "t", f_t },                   /* s since top started */
	{ "name", f_name },
	{ "conn", f_conn },             /* live, gone, new */
	{ "state", f_state },           /* the device's: running, backend-lost, migrating, ... */
	{ "backend", f_backend },
	NUM("queues", have_status, queues),
	NUM("tx_pps", have_stats, tx_pps),          /* frames/s the guest sent */
	NUM("rx_pps", have_stats, rx_pps),          /* frames/s it got back */
	NUM("writes_ps", have_stats, writes_ps),    /* guest writer page writes/s ("stats") */
	NUM("dirty_pps", dirty.have, dirty.total),  /* logtrack total pages/s ("dirty"), if any */
	{ "mig_phase", f_mig_phase },
	{ "mig_iter", f_mig_iter },
	{ "mig_bw_mib_s", f_mig_bw },
	{ "mig_pred_ms", f_mig_pred },
	{ "mig_downtime_ms", f_mig_down },
	{ "mig_result", f_mig_result },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* The value of field f for instance i into out ("" = unknown). */
static void field_value(const struct field *f, const struct ui_inst *i, double t, char *out,
			size_t len)
{
	const char *base = (const char *)i;

	if (f->fn) {
		f->fn(i, t, out, len);
		return;
	}
	num0(out, len, *(const bool *)(base + f->have),
	     f->val_is_int ? *(const int *)(base + f->val) : *(const double *)(base + f->val));
}

/* Append s to buf at *pos, never past len. */
static void put(char *buf, size_t len, size_t *pos, const char *s)
{
	while (*s && *pos + 1 < len)
		buf[(*pos)++] = *s++;
	buf[*pos < len ? *pos : len - 1] = '\0';
}

static void put_quoted(char *buf, size_t len, size_t *pos, const char *v, const char *esc,
		       bool csv)
{
	char one[3] = { 0 };

	put(buf, len, pos, "\"");
	for (; *v; v++) {
		one[0] = *v;
		one[1] = '\0';
		if (strchr(esc, *v)) {
			one[0] = csv ? '"' : '\\';
			one[1] = *v;
		}
		put(buf, len, pos, one);
	}
	put(buf, len, pos, "\"");
}

void ui_line_kv(const struct ui_inst *inst, double t_s, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < NFIELDS; k++) {
		char v[512];

		field_value(&fields[k], inst, t_s, v, sizeof(v));
		if (k)
			put(buf, len, &pos, " ");
		put(buf, len, &pos, fields[k].key);
		put(buf, len, &pos, "=");
		if (!v[0])
			put(buf, len, &pos, "-");
		else if (strpbrk(v, " \"\\=\t"))
			put_quoted(buf, len, &pos, v, "\"\\", false);
		else
			put(buf, len, &pos, v);
	}
}

const char *ui_line_csv_header(void)
{
	static char hdr[512];

	if (!hdr[0]) {
		size_t pos = 0;

		for (size_t k = 0; k < NFIELDS; k++) {
			if (k)
				put(hdr, sizeof(hdr), &pos, ",");
			put(hdr, sizeof(hdr), &pos, fields[k].key);
		}
	}
	return hdr;
}

void ui_line_csv(const struct ui_inst *inst, double t_s, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < NFIELDS; k++) {
		char v[512];

		field_value(&fields[k], inst, t_s, v, sizeof(v));
		if (k)
			put(buf, len, &pos, ",");
		if (strpbrk(v, ",\"\n\r"))
			put_quoted(buf, len, &pos, v, "\"", true);
		else
			put(buf, len, &pos, v);
	}
}
