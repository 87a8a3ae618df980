/* SPDX-License-Identifier: MIT */
/* Unit tests of orchestrator/certify's frame (suite certify_table): the
 * table of checks is numbered 1..CERT_NCHECKS in order with unique names,
 * --only finds a check by name or number and nothing else, and the JSON
 * report carries exactly the checks that ran with their counts. Suite
 * certify_restart: check 4's verdict on a migration's frame counters,
 * frames the backend held through the stop included. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <string.h>

#include "cert_int.h"
#include "certify.h"

Test(certify_table, numbered_in_order_with_unique_names)
{
	const struct cert_check *ck;
	size_t n;

	ck = cert_checks(&n);
	cr_assert(eq(sz, n, (size_t)CERT_NCHECKS));
	for (size_t i = 0; i < n; i++) {
		cr_assert(eq(int, ck[i].id, (int)i + 1), "row %zu", i);
		cr_assert(not(eq(ptr, (void *)ck[i].run, NULL)), "%s", ck[i].name);
		cr_assert(lt(sz, 0, strlen(ck[i].title)), "%s", ck[i].name);
		for (size_t k = 0; k < i; k++)
			cr_assert(not(eq(str, (char *)ck[i].name, (char *)ck[k].name)));
	}
}

Test(certify_table, found_by_name_or_number_only)
{
	cr_assert(eq(int, cert_find("log")->id, 2));
	cr_assert(eq(int, cert_find("3")->id, 3));
	cr_assert(eq(str, (char *)cert_find("8")->name, "hostile"));
	cr_assert(eq(ptr, (void *)cert_find("9"), NULL));
	cr_assert(eq(ptr, (void *)cert_find("0"), NULL));
	cr_assert(eq(ptr, (void *)cert_find("Log"), NULL));
	cr_assert(eq(ptr, (void *)cert_find(""), NULL));
	cr_assert(eq(ptr, (void *)cert_find("03"), NULL));
}

Test(certify_table, report_has_the_checks_that_ran_and_counts)
{
	struct cert_opts o = { .sock = "a.sock", .queues = 2, .rings = CERT_RING_PACKED };
	struct cert_result res[CERT_NCHECKS] = { 0 };
	json_t *rep, *checks;

	res[0] = (struct cert_result){ .status = CERT_PASS, .figures = json_object() };
	res[1] = (struct cert_result){ .status = CERT_SKIP, .figures = json_object() };
	strcpy(res[1].evidence, "needs SOCKET2");
	res[5] = (struct cert_result){ .status = CERT_FAIL, .figures = json_pack("{s:i}", "x", 1) };
	rep = cert_report_json(&o, res);
	cert_results_free(res);
	cr_assert(not(eq(ptr, rep, NULL)));
	checks = json_object_get(rep, "checks");
	cr_assert(eq(sz, json_array_size(checks), 3));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_array_get(checks, 2),
								    "name")), "rarp"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_array_get(checks, 1),
								    "evidence")), "needs SOCKET2"));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(json_object_get(
			     json_array_get(checks, 2), "figures"), "x")), 1));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(rep, "passed")), 1));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(rep, "failed")), 1));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(rep, "skipped")), 1));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(rep, "rings")), "packed"));
	cr_assert(eq(int, json_typeof(json_object_get(rep, "backend2")), JSON_NULL));
	json_decref(rep);
}

/* Check 4 on one made migration of 1000 frames: 700 before the switchover,
 * `lost` of the rest never back, `held` in flight when the source stopped. */
static struct cert_result restart_verdict(uint64_t lost, uint64_t held)
{
	static struct cert_ctx c;
	struct cert_opts o = { .sock = "a.sock", .sock2 = "b.sock", .queues = 1 };
	struct cert_result r = { .figures = json_object() };
	struct cert_mig *m = &c.mig[0];

	memset(&c, 0, sizeof(c));
	c.o = &o;
	c.handshake_ok = c.can_log = true;
	c.nmig = 1;
	m->l = (struct cert_layout){ .queues = 1, .mrg = true, .frame = 64, .pps = 200 };
	m->done = m->ok = m->quiesced = true;
	m->c1 = (struct nd_counters){ .tx_frames = 700, .tx_done = 700, .rx_frames = 700 };
	m->c2 = (struct nd_counters){ .tx_frames = 1000, .tx_done = 1000,
				      .rx_frames = 1000 - lost, .rx_lost = lost };
	m->in_flight_at_stop = held;
	m->quiesce_ms = held ? 5000 : 0.2;
	cert_check_restart(&c, &r);
	json_decref(r.figures);
	return r;
}

Test(certify_restart, no_frame_lost_passes)
{
	struct cert_result r = restart_verdict(0, 0);

	cr_assert(eq(int, r.status, CERT_PASS), "%s", r.evidence);
	cr_assert(eq(ptr, strstr(r.evidence, "held"), NULL), "%s", r.evidence);
}

Test(certify_restart, frames_lost_fail)
{
	struct cert_result r = restart_verdict(32, 0);

	cr_assert(eq(int, r.status, CERT_FAIL));
	cr_assert(not(eq(ptr, strstr(r.evidence, "32 frames lost"), NULL)), "%s", r.evidence);
}

/* Frames a stalled backend still held at the stop went with the stopped
 * port: named on a pass; one frame more is the restart's and fails. */
Test(certify_restart, frames_held_at_the_stop_are_named_not_failed)
{
	struct cert_result r = restart_verdict(32, 32);

	cr_assert(eq(int, r.status, CERT_PASS), "%s", r.evidence);
	cr_assert(not(eq(ptr, strstr(r.evidence, "32 frames lost that the backend still held"),
			 NULL)), "%s", r.evidence);
	r = restart_verdict(33, 32);
	cr_assert(eq(int, r.status, CERT_FAIL), "%s", r.evidence);
}
