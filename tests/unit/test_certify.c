/* SPDX-License-Identifier: MIT */
/* Unit tests of orchestrator/certify's frame (suite certify_table): the
 * table of checks is numbered 1..CERT_NCHECKS in order with unique names,
 * --only finds a check by name or number and nothing else, and the JSON
 * report carries exactly the checks that ran with their counts. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <string.h>

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
