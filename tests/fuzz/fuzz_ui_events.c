/* SPDX-License-Identifier: MIT */
/* fuzz_ui_events — the dashboard's reading of what instances send it: event
 * lines, `status` replies and "dirty" figures, applied to one instance's
 * model as the sampler applies them (ui_model).
 *
 * Input: lines; each line's first byte says what follows ('s' a status
 * reply, 'd' a dirty object, anything else an event line) and the rest is
 * parsed as JSON, as the sampler parses a control-socket line.  What must
 * hold: no crash, no sanitizer report, every figure of the model finite or
 * absent, every string terminated.  After the lines, the derived figures are
 * read as the panels read them. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ui_model.h"

static struct ui_inst inst;

static void apply(const char *line, size_t n)
{
	json_t *v = json_loadb(line + 1, n - 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);

	if (!v)
		return;
	if (line[0] == 's')
		ui_inst_apply_status(&inst, v);
	else if (line[0] == 'd')
		ui_inst_apply_dirty(&inst, v);
	else
		ui_inst_apply_event(&inst, v);
	json_decref(v);
}

/* What the panels would print must be printable. */
static void check_model(void)
{
	bool from_lt;

	if (!memchr(inst.state, 0, sizeof(inst.state)) ||
	    !memchr(inst.mig.phase, 0, sizeof(inst.mig.phase)) ||
	    !memchr(inst.mig.result, 0, sizeof(inst.mig.result)) ||
	    !memchr(inst.backend, 0, sizeof(inst.backend)))
		abort();
	if (inst.dirty.nwss < 0 || inst.dirty.nwss > UI_WSS_MAX ||
	    inst.dirty.nheat < 0 || inst.dirty.nheat > UI_HEAT_MAX ||
	    inst.mig.npass < 0 || inst.mig.npass > UI_PASSES_MAX ||
	    inst.mig.nsteps < 0 || inst.mig.nsteps > UI_STEPS_MAX ||
	    inst.dirty.nfindings < 0 || inst.dirty.nfindings > UI_FINDINGS_MAX ||
	    inst.bpf.n < 0 || inst.bpf.n > UI_KV_MAX || inst.job.n < 0 || inst.job.n > UI_KV_MAX)
		abort();
	(void)ui_inst_dirty_rate(&inst, &from_lt);
	for (int i = 0; i < UI_HIST; i++)
		(void)ui_series_get(&inst.tx, i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *p = (const char *)data, *end = p + len;

	memset(&inst, 0, sizeof(inst));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 1)
			apply(p, n);
		p += n + 1;
	}
	check_model();
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char lines[] =
		"s{\"name\":\"vm1\",\"backend\":\"/run/a.sock\",\"ring\":\"split\",\"queues\":1,"
		"\"pid\":42,\"mem_bytes\":268435456,\"state\":\"running\"}\n"
		"e{\"event\":\"stats\",\"data\":{\"interval_s\":1,\"tx_pps\":1000,\"rx_pps\":999,"
		"\"writes_ps\":2000},\"timestamp\":{\"seconds\":1,\"microseconds\":0}}\n"
		"d{\"interval_ms\":1000,\"rates\":{\"backend\":10,\"guest\":2000},\"total\":2010,"
		"\"wss\":[{\"window_ms\":100,\"pages\":20}],\"heat\":{\"cell_bytes\":2097152,"
		"\"cells\":[1,2,3]}}\n"
		"e{\"event\":\"migration\",\"data\":{\"phase\":\"setup\",\"from\":\"/a\",\"to\":\"/b\"},"
		"\"timestamp\":{\"seconds\":2,\"microseconds\":5}}\n"
		"e{\"event\":\"migration\",\"data\":{\"phase\":\"pre-copy\",\"iteration\":0,"
		"\"copied\":100,\"ms\":3.5}}\n"
		"e{\"event\":\"migration\",\"data\":{\"phase\":\"done\",\"report\":{\"result\":\"ok\","
		"\"downtime_ms\":4.2}}}\n"
		"e{\"event\":\"state\",\"data\":{\"state\":\"running\",\"reason\":\"migrated\"}}\n";
	struct fz_seed s = { .b = { 0 }, .n = 0 };

	(void)argc; (void)argv;
	if (!fz_seed_dir())
		return 0;
	fz_put(&s, lines, sizeof(lines) - 1);
	fz_seed_save(&s, "session");
	exit(0);
}
