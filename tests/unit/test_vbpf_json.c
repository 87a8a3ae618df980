/* SPDX-License-Identifier: MIT */
/* vbpf_json_requests and the probe-set names, without BPF: counters built by
 * hand (as vbpf_read would sum them) turned into the per-request objects
 * `vhm trace` prints, interval deltas and means included. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <string.h>

#include "vbpf.h"
#include "vbpf_json.h"

static const char *fake_name(uint32_t request)
{
	return request == 11 ? "GET_VRING_BASE" : "OTHER";
}

static json_t *find(json_t *arr, int request)
{
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o)
		if (json_integer_value(json_object_get(o, "request")) == request)
			return o;
	return NULL;
}

static json_int_t int_of(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

Test(vbpf_json, requests_since_prev_with_mean_times)
{
	static struct vbpf_counters prev, now;
	json_t *arr, *o;

	vbpf_set_req_names(fake_name);
	prev.req_in[11] = 1;
	prev.req_served[11] = 1;
	prev.req_serve_ns[11] = 999000;
	now = prev;
	now.req_in[11] = 3;                 /* 2 more, served in 40 and 60 µs */
	now.req_served[11] = 3;
	now.req_serve_ns[11] = 999000 + 100000;
	now.req_out[1] = 1;                 /* sent, answered after 7 µs */
	now.req_answered[1] = 1;
	now.req_rtt_ns[1] = 7000;
	now.req_in[16] = 1;                 /* received, never answered */
	arr = vbpf_json_requests(&now, &prev);
	cr_assert(eq(sz, json_array_size(arr), 3), "requests 1, 11, 16 and no other");
	o = find(arr, 11);
	cr_assert(ne(ptr, o, NULL));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "name")),
		     "GET_VRING_BASE"));
	cr_assert(eq(i64, int_of(o, "received"), 2));
	cr_assert(eq(i64, int_of(o, "served"), 2));
	cr_assert(ieee_ulp_eq(dbl, json_real_value(json_object_get(o, "serve_us")), 50.0, 4));
	cr_assert(eq(ptr, json_object_get(o, "rtt_us"), NULL), "no round trip without answers");
	o = find(arr, 1);
	cr_assert(eq(i64, int_of(o, "sent"), 1));
	cr_assert(ieee_ulp_eq(dbl, json_real_value(json_object_get(o, "rtt_us")), 7.0, 4));
	o = find(arr, 16);
	cr_assert(eq(i64, int_of(o, "served"), 0));
	cr_assert(eq(ptr, json_object_get(o, "serve_us"), NULL), "no service time without replies");
	json_decref(arr);
	/* Since attach (prev NULL): the totals. */
	arr = vbpf_json_requests(&now, NULL);
	cr_assert(eq(i64, int_of(find(arr, 11), "received"), 3));
	json_decref(arr);
	vbpf_set_req_names(NULL);
	arr = vbpf_json_requests(&now, NULL);
	cr_assert(eq(ptr, json_object_get(find(arr, 11), "name"), NULL),
		  "no name function: numbers only");
	json_decref(arr);
}

Test(vbpf_json, default_probe_set_leaves_uprobes_out)
{
	unsigned m = 0;

	cr_assert(eq(int, vbpf_parse_probes("default", &m), 0));
	cr_assert(eq(u32, m, VBPF_PROBES_DEFAULT));
	cr_assert(eq(u32, m & (1u << VBPF_PROBE_UPROBE), 0));
	cr_assert(eq(int, vbpf_parse_probes(VBPF_DEFAULT_PROBES, &m), 0));
	cr_assert(eq(u32, m, VBPF_PROBES_DEFAULT), "the name and the mask agree");
	cr_assert(eq(int, vbpf_parse_probes("default,uprobe", &m), 0));
	cr_assert(eq(u32, m, VBPF_PROBES_ALL));
}
