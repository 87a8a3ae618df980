/* SPDX-License-Identifier: MIT */
/* A migration's events and report as text. Each phase has one line saying
 * what it did (phase_texts); pre-copy's is the progress line, the same one
 * `vhm migrate` rewrites in place on a terminal. Percent is of guest memory
 * no longer waiting to be copied, (total - remaining) / total, as virsh's
 * --verbose shows it. */
#include "mig_print.h"

#include <string.h>

#include "util.h"

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

/* A stream destination's figures appended to out: bytes written to the
 * connections, their rate. */
static void stream_text(const json_t *st, char *out, size_t len)
{
	size_t n = strlen(out);
	char wire[24];

	if (!json_is_object(st) || n >= len)
		return;
	vhm_format_bytes(num(st, "bytes"), wire, sizeof(wire));
	snprintf(out + n, len - n, "; stream %s, %.1f MiB/s", wire, num(st, "rate_mib_s"));
}

void migp_progress_text(const json_t *pr, char *out, size_t len)
{
	char total[24], sent[24], left[24], rate[24];
	double t = num(pr, "total_bytes"), r = num(pr, "remaining_bytes");

	out[0] = '\0';
	if (!json_is_object(pr))
		return;
	vhm_format_bytes(t, total, sizeof(total));
	vhm_format_bytes(num(pr, "sent_bytes"), sent, sizeof(sent));
	vhm_format_bytes(r, left, sizeof(left));
	vhm_format_bytes(num(pr, "rate_bytes_per_s"), rate, sizeof(rate));
	snprintf(out, len, "pass %.0f, %3.0f%% of %s (sent %s, %s remaining), %s/s, "
		 "expected downtime %.0f ms", num(pr, "pass"), t > 0 ? (t - r) * 100 / t : 0,
		 total, sent, left, rate, num(pr, "expected_downtime_ms"));
	stream_text(json_object_get(pr, "stream"), out, len);
}

static void text_setup(const json_t *d, char *out, size_t len)
{
	snprintf(out, len, "from %s to %s", str(d, "from"), str(d, "to"));
}

static void text_log_start(const json_t *d, char *out, size_t len)
{
	char b[24];

	vhm_format_bytes(num(d, "log_bytes"), b, sizeof(b));
	snprintf(out, len, "dirty logging on (log of %s)", b);
}

static void text_pre_copy(const json_t *d, char *out, size_t len)
{
	migp_progress_text(json_object_get(d, "progress"), out, len);
}

static void text_switchover(const json_t *d, char *out, size_t len)
{
	snprintf(out, len, "guest moved; downtime %.1f ms", num(d, "downtime_ms"));
}

static void text_announce(const json_t *d, char *out, size_t len)
{
	snprintf(out, len, "%s", json_is_true(json_object_get(d, "rarp")) ? "SEND_RARP" :
		 json_is_true(json_object_get(d, "ifname")) ? "RARP on the interface" : "none");
}

static void text_verify(const json_t *d, char *out, size_t len)
{
	snprintf(out, len, "%s after the resume: %.0f pages compared, %.0f dirtied since "
		 "(not proved), %.1f ms", json_is_true(json_object_get(d, "verified")) ?
		 "proved" : "FAILED", num(d, "compared_pages"), num(d, "excluded_pages"),
		 num(d, "ms"));
}

static void text_done(const json_t *d, char *out, size_t len)
{
	snprintf(out, len, "%s in %.1f ms", str(d, "result"), num(d, "total_ms"));
}

static void text_error(const json_t *d, char *out, size_t len)
{
	snprintf(out, len, "%s", str(d, "error"));
}

static const struct {
	const char *phase;
	void (*text)(const json_t *d, char *out, size_t len);
} phase_texts[] = {
	{ "setup", text_setup }, { "log-start", text_log_start }, { "pre-copy", text_pre_copy },
	{ "switchover", text_switchover }, { "announce", text_announce }, { "verify", text_verify },
	{ "done", text_done },
	{ "failed", text_error }, { "cancelled", text_error },
};

void migp_event_text(const json_t *d, char *out, size_t len)
{
	const char *phase = str(d, "phase");
	char what[256] = "";

	for (size_t i = 0; i < VHM_ARRAY_SIZE(phase_texts); i++)
		if (!strcmp(phase, phase_texts[i].phase))
			phase_texts[i].text(d, what, sizeof(what));
	snprintf(out, len, "%-11s %s", phase, what);
}

/* The report's copy: bytes and rate, each pass, and how the copy was proved. */
static void migp_copy(FILE *out, const json_t *r, const char *copied, const char *rate)
{
	const json_t *it = json_object_get(r, "iterations"), *dg = json_object_get(r, "digest");
	const json_t *va = json_object_get(r, "verify_after");
	size_t i;
	json_t *v;

	fprintf(out, "copied         %s at %s/s; %.0f zero pages skipped\n", copied, rate,
		num(r, "zero_pages"));
	fprintf(out, "iterations     %-8s %12s %12s %10s\n", "#", "dirtied", "copied", "ms");
	json_array_foreach(it, i, v)
		fprintf(out, "               %-8zu %12.0f %12.0f %10.1f\n", i, num(v, "dirtied"),
			num(v, "copied"), num(v, "ms"));
	if (!strcmp(str(r, "verify"), "sync"))
		fprintf(out, "verify         sync: digests source %s, destination %s\n",
			str(dg, "source"), str(dg, "destination"));
	else if (!strcmp(str(r, "verify"), "stream"))
		fprintf(out, "verify         stream: the destination found the source's digest %s "
			"in its memory\n", str(dg, "source"));
	else
		fprintf(out, "verify         after the resume: %s, %.0f pages compared, %.0f dirtied "
			"since (not proved), %.1f ms outside the downtime\n",
			json_is_true(json_object_get(r, "verified")) ? "proved" : "FAILED",
			num(va, "compared_pages"), num(va, "excluded_pages"), num(va, "ms"));
}

/* Where the prediction's set-up came from (mig_cost.h): the migrations
 * made here before, or a sample that a VM host's cold pages can outrun. */
static const char *setup_from(const json_t *p)
{
	const json_t *kept = json_object_get(json_object_get(json_object_get(
		p, "inputs"), "cost_ns"), "kept");

	return num(kept, "setup_migrations") > 0 ? "set-up as the migrations made here cost" :
	       "set-up sampled: the first migration here, a lower bound";
}

void migp_report(FILE *out, const json_t *r)
{
	const json_t *dt = json_object_get(r, "downtime"), *p = json_object_get(r, "prediction");
	const json_t *st = json_object_get(r, "stream");
	char copied[24], rate[24], wire[24];

	vhm_format_bytes(num(r, "bytes_copied"), copied, sizeof(copied));
	vhm_format_bytes(num(r, "bandwidth_mib_s") * 1048576.0, rate, sizeof(rate));
	fprintf(out, "result         %s\n", str(r, "result"));
	fprintf(out, "total          %.1f ms\n", num(r, "total_ms"));
	fprintf(out, "downtime       %.1f ms (control plane %.1f ms, copy %.1f ms, %s check "
		"%.1f ms)\n", num(dt, "ms"), num(dt, "control_ms"), num(dt, "copy_ms"),
		!strcmp(str(r, "verify"), "sync") ? "digest" : !strcmp(str(r, "verify"), "none") ?
		"no" : !strcmp(str(r, "verify"), "stream") ? "source digest" : "ring-page",
		num(dt, "verify_ms"));
	if (json_is_object(p))
		fprintf(out, "predicted      downtime %.1f ms (actual without the digest check "
			"%.1f ms), total %.1f ms (%s), %s\n", num(p, "downtime_ms"),
			num(dt, "transfer_ms"), num(p, "total_ms"), setup_from(p),
			json_is_true(json_object_get(p, "converges")) ? "converges" :
			"will not converge");
	if (json_is_true(json_object_get(r, "shared_memory")))
		fprintf(out, "memory         shared with the destination (hot swap): nothing "
			"logged, copied or proved\n");
	else
		migp_copy(out, r, copied, rate);
	if (json_is_object(st)) {
		vhm_format_bytes(num(st, "bytes"), wire, sizeof(wire));
		fprintf(out, "stream         %s: %s on the wire, %.1f MiB/s, %.0f connection%s; "
			"digests compared by the destination\n", str(r, "destination"), wire,
			num(st, "rate_mib_s"), num(st, "connections"),
			num(st, "connections") == 1 ? "" : "s");
		fprintf(out, "announce       by the destination\n");
		return;
	}
	fprintf(out, "announce       %s\n", json_is_true(json_object_get(r, "rarp")) ?
		"SEND_RARP" : json_is_true(json_object_get(r, "announced_ifname")) ?
		"RARP on interface" : "none");
}
