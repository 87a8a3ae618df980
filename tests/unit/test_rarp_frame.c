/* SPDX-License-Identifier: MIT */
/* The RARP announce frame, MAC checks and QEMU's announce schedule, with no
 * network: frames against bytes written out here by hand, the schedule
 * against delays worked out by hand from QEMU's rule, and the runner through
 * a recording callback output. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>

#include "rarp_announce.h"
#include "rarp_frame.h"
#include "util.h"

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* QEMU's announce frame for 52:54:00:12:34:56, untagged. */
static const uint8_t want_untagged[60] = {
	/* dst: broadcast */        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* src: guest */            0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	/* ethertype RARP */        0x80, 0x35,
	/* htype 1, ptype IPv4 */   0x00, 0x01, 0x08, 0x00,
	/* hlen 6, plen 4 */        0x06, 0x04,
	/* op 3: reverse request */ 0x00, 0x03,
	/* sender hw, proto */      0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0,
	/* target hw, proto */      0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0,
	/* 18 bytes padding */      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* The same with an 802.1Q tag for VID 100 (0x064) after the source MAC. */
static const uint8_t want_vlan100[64] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	/* TPID, TCI: PCP 0, DEI 0, VID 100 */ 0x81, 0x00, 0x00, 0x64,
	0x80, 0x35,
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x03,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

#define MEM(p, n) ((struct cr_mem){ .data = (p), .size = (n) })

Test(rarp_frame, untagged_frame_is_qemus_60_bytes)
{
	uint8_t buf[RARP_FRAME_MAX_LEN];

	memset(buf, 0xaa, sizeof(buf)); /* padding must be written, not left over */
	int len = rarp_frame_build(buf, sizeof(buf), guest_mac, RARP_VLAN_NONE);

	cr_assert(eq(int, len, 60));
	cr_assert(eq(mem, MEM(buf, 60), MEM(want_untagged, 60)));
}

Test(rarp_frame, vlan_tag_goes_after_source_mac)
{
	uint8_t buf[RARP_FRAME_MAX_LEN];

	memset(buf, 0xaa, sizeof(buf));
	int len = rarp_frame_build(buf, sizeof(buf), guest_mac, 100);

	cr_assert(eq(int, len, 64));
	cr_assert(eq(mem, MEM(buf, 64), MEM(want_vlan100, 64)));
}

Test(rarp_frame, vlan_ids_0_and_4094_are_tagged_as_given)
{
	uint8_t buf[RARP_FRAME_MAX_LEN];

	cr_assert(eq(int, rarp_frame_build(buf, sizeof(buf), guest_mac, 0), 64));
	cr_assert(eq(u8, buf[14], 0x00));
	cr_assert(eq(u8, buf[15], 0x00));
	cr_assert(eq(int, rarp_frame_build(buf, sizeof(buf), guest_mac, 4094), 64));
	cr_assert(eq(u8, buf[14], 0x0f));
	cr_assert(eq(u8, buf[15], 0xfe));
}

Test(rarp_frame, refuses_vlan_out_of_range_and_short_buffer)
{
	uint8_t buf[RARP_FRAME_MAX_LEN];

	cr_assert(eq(int, rarp_frame_build(buf, sizeof(buf), guest_mac, 4095), -EINVAL));
	cr_assert(eq(int, rarp_frame_build(buf, sizeof(buf), guest_mac, -2), -EINVAL));
	cr_assert(eq(int, rarp_frame_build(buf, 59, guest_mac, RARP_VLAN_NONE), -ENOSPC));
	cr_assert(eq(int, rarp_frame_build(buf, 63, guest_mac, 7), -ENOSPC));
}

/* Parameters are copied into the test process, so no pointers: arrays. */
struct mac_case {
	char mac[18];
	char why[32]; /* empty: accepted */
};

ParameterizedTestParameters(rarp_mac, check)
{
	static struct mac_case cases[] = {
		{ .mac = "52:54:00:12:34:56", .why = "" },
		{ .mac = "02:00:00:00:00:01", .why = "" },  /* locally administered */
		{ .mac = "fe:ff:ff:ff:ff:ff", .why = "" },  /* bit 0 clear: unicast */
		{ .mac = "01:00:5e:00:00:01", .why = "is multicast" },
		{ .mac = "33:33:00:00:00:01", .why = "is multicast" },
		{ .mac = "ff:ff:ff:ff:ff:fe", .why = "is multicast" },
		{ .mac = "ff:ff:ff:ff:ff:ff", .why = "is the broadcast address" },
		{ .mac = "00:00:00:00:00:00", .why = "is all zeros" },
	};

	return cr_make_param_array(struct mac_case, cases, VHM_ARRAY_SIZE(cases));
}

ParameterizedTest(struct mac_case *c, rarp_mac, check)
{
	uint8_t mac[6];
	const char *why = "unset";

	cr_assert(eq(int, vhm_parse_mac(c->mac, mac), 0));
	int rc = rarp_mac_check(mac, &why);

	if (!c->why[0]) {
		cr_assert(eq(int, rc, 0), "%s refused: %s", c->mac, why);
		cr_assert(eq(ptr, (void *)why, NULL));
	} else {
		cr_assert(eq(int, rc, -EINVAL), "%s accepted", c->mac);
		cr_assert(eq(str, (char *)why, c->why));
	}
}

/* ---- schedule ---------------------------------------------------------- */

static void assert_delays(const struct rarp_schedule *s, const uint64_t *want, unsigned n)
{
	cr_assert(eq(uint, s->rounds, n + 1));
	for (unsigned r = 1; r <= n; r++)
		cr_assert(eq(u64, rarp_schedule_delay_ms(s, r), want[r - 1]),
			  "delay after round %u", r);
}

Test(rarp_schedule, defaults_are_qemus_50_150_250_350)
{
	const struct rarp_schedule s = RARP_SCHEDULE_DEFAULT;
	static const uint64_t delays[] = { 50, 150, 250, 350 };
	static const uint64_t offsets[] = { 0, 50, 200, 450, 800 };

	cr_assert(eq(int, rarp_schedule_check(&s, NULL), 0));
	assert_delays(&s, delays, 4);
	for (unsigned r = 1; r <= 5; r++)
		cr_assert(eq(u64, rarp_schedule_offset_ms(&s, r), offsets[r - 1]), "round %u", r);
}

Test(rarp_schedule, max_caps_every_later_delay)
{
	const struct rarp_schedule s = { .initial_ms = 20, .max_ms = 60, .step_ms = 30, .rounds = 6 };
	static const uint64_t delays[] = { 20, 50, 60, 60, 60 };

	assert_delays(&s, delays, 5);
	cr_assert(eq(u64, rarp_schedule_offset_ms(&s, 6), 250));
}

Test(rarp_schedule, default_growth_reaches_max_on_round_seven)
{
	const struct rarp_schedule s = { .initial_ms = 50, .max_ms = 550, .step_ms = 100, .rounds = 9 };
	static const uint64_t delays[] = { 50, 150, 250, 350, 450, 550, 550, 550 };

	assert_delays(&s, delays, 8);
}

Test(rarp_schedule, initial_equal_to_max_is_a_flat_schedule)
{
	const struct rarp_schedule s = { .initial_ms = 100, .max_ms = 100, .step_ms = 5, .rounds = 4 };
	static const uint64_t delays[] = { 100, 100, 100 };

	assert_delays(&s, delays, 3);
}

struct sched_case {
	struct rarp_schedule s;
	char why[16]; /* a word the reason must contain */
};

ParameterizedTestParameters(rarp_schedule, refuses)
{
	static struct sched_case cases[] = {
		{ { .initial_ms = 50, .max_ms = 550, .step_ms = 100, .rounds = 0 }, "rounds" },
		{ { .initial_ms = 50, .max_ms = 550, .step_ms = 100, .rounds = 101 }, "rounds" },
		{ { .initial_ms = 50, .max_ms = 550, .step_ms = 0, .rounds = 5 }, "step" },
		{ { .initial_ms = 50, .max_ms = 550, .step_ms = 10001, .rounds = 5 }, "step" },
		{ { .initial_ms = 100001, .max_ms = 100001, .step_ms = 1, .rounds = 5 }, "initial" },
		{ { .initial_ms = 0, .max_ms = 100001, .step_ms = 1, .rounds = 5 }, "max" },
		{ { .initial_ms = 300, .max_ms = 200, .step_ms = 100, .rounds = 5 }, "less than" },
	};

	return cr_make_param_array(struct sched_case, cases, VHM_ARRAY_SIZE(cases));
}

ParameterizedTest(struct sched_case *c, rarp_schedule, refuses)
{
	const char *why = NULL;

	cr_assert(eq(int, rarp_schedule_check(&c->s, &why), -EINVAL));
	cr_assert(why && strstr(why, c->why), "reason '%s' should mention '%s'", why, c->why);
}

/* ---- the runner, through a callback output ----------------------------- */

#define REC_MAX 32

struct recorder {
	uint8_t macs[REC_MAX][6];
	uint64_t sent_ns[REC_MAX];
	unsigned nsent;
	unsigned fail_at;          /* 1-based call that fails; 0 never */
	uint64_t round_at_ms[REC_MAX];
	unsigned nrounds;
};

static int rec_send(void *ctx, const uint8_t mac[6])
{
	struct recorder *r = ctx;

	cr_assert(lt(uint, r->nsent, REC_MAX));
	if (r->fail_at && r->nsent + 1 == r->fail_at)
		return -EIO;
	memcpy(r->macs[r->nsent], mac, 6);
	r->sent_ns[r->nsent++] = vhm_now_ns();
	return 0;
}

static void rec_round(void *ctx, unsigned round, uint64_t at_ms)
{
	struct recorder *r = ctx;

	cr_assert(eq(uint, round, r->nrounds + 1));
	r->round_at_ms[r->nrounds++] = at_ms;
}

static const uint8_t two_macs[2][6] = {
	{ 0x02, 0, 0, 0, 0, 0x01 },
	{ 0x02, 0, 0, 0, 0, 0x02 },
};

/* Rounds may start late under load (ASan, --jobs), never early: the runner
 * sleeps to absolute deadlines.  30 ms of lateness is allowed. */
Test(rarp_announce, callback_gets_every_mac_each_round_on_schedule, .timeout = 10)
{
	const struct rarp_schedule s = { .initial_ms = 10, .max_ms = 25, .step_ms = 10, .rounds = 4 };
	static const uint64_t offsets_ms[] = { 0, 10, 30, 55 };
	struct recorder rec = { 0 };
	const struct rarp_output out = { .send_mac = rec_send, .round_done = rec_round, .ctx = &rec };

	cr_assert(eq(int, rarp_announce_run(&s, two_macs, 2, &out), 0));
	cr_assert(eq(uint, rec.nsent, 8));
	cr_assert(eq(uint, rec.nrounds, 4));
	for (unsigned i = 0; i < rec.nsent; i++) {
		unsigned round = i / 2;
		int64_t late_us = (int64_t)(rec.sent_ns[i] - rec.sent_ns[0]) / 1000 -
				  (int64_t)offsets_ms[round] * 1000;

		cr_assert(eq(mem, MEM(rec.macs[i], 6), MEM(two_macs[i % 2], 6)), "frame %u", i);
		cr_assert(ge(i64, late_us, -1000), "round %u early by %lld us", round + 1,
			  (long long)-late_us);
		cr_assert(le(i64, late_us, 30000), "round %u late by %lld us", round + 1,
			  (long long)late_us);
		cr_assert(eq(u64, rec.round_at_ms[round], offsets_ms[round]));
	}
}

Test(rarp_announce, stops_at_first_send_error)
{
	const struct rarp_schedule s = { .initial_ms = 1, .max_ms = 1, .step_ms = 1, .rounds = 5 };
	struct recorder rec = { .fail_at = 3 };
	const struct rarp_output out = { .send_mac = rec_send, .ctx = &rec };

	cr_assert(eq(int, rarp_announce_run(&s, two_macs, 2, &out), -EIO));
	cr_assert(eq(uint, rec.nsent, 2), "nothing may be sent after the failure");
}

Test(rarp_announce, refuses_bad_schedule_or_no_macs_before_sending)
{
	const struct rarp_schedule bad = { .initial_ms = 50, .max_ms = 550, .step_ms = 100 };
	const struct rarp_schedule good = RARP_SCHEDULE_DEFAULT;
	struct recorder rec = { 0 };
	const struct rarp_output out = { .send_mac = rec_send, .ctx = &rec };

	cr_assert(eq(int, rarp_announce_run(&bad, two_macs, 2, &out), -EINVAL));
	cr_assert(eq(int, rarp_announce_run(&good, two_macs, 0, &out), -EINVAL));
	cr_assert(eq(uint, rec.nsent, 0));
}

/* ---- AF_PACKET output: the refusals that need no namespace ------------- */

Test(rarp_packet, unknown_interface_is_enodev_and_named)
{
	struct rarp_packet p;
	char err[160] = "";

	cr_assert(eq(int, rarp_packet_open(&p, "vhm-nosuch0", RARP_VLAN_NONE, err, sizeof(err)),
		     -ENODEV));
	cr_assert(strstr(err, "no interface named 'vhm-nosuch0'") != NULL, "message: %s", err);
	cr_assert(eq(int, p.fd, -1));
	rarp_packet_close(&p);
}

Test(rarp_packet, refuses_long_name_and_bad_vlan)
{
	struct rarp_packet p;
	char err[160] = "";

	cr_assert(eq(int, rarp_packet_open(&p, "a-name-of-16-chr", RARP_VLAN_NONE, err,
					   sizeof(err)), -EINVAL));
	cr_assert(strstr(err, "longer than 15") != NULL, "message: %s", err);
	cr_assert(eq(int, rarp_packet_open(&p, "lo", 4095, err, sizeof(err)), -EINVAL));
	cr_assert(strstr(err, "4095") != NULL, "message: %s", err);
	cr_assert(eq(int, p.fd, -1));
}
