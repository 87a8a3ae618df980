/* SPDX-License-Identifier: MIT */
/* rarp_announce — send the RARP announce for a set of guest MACs on QEMU's
 * announce-self schedule, through an output the caller chooses.
 *
 * Schedule (QEMU net/announce.c, qemu_announce_timer_step): round 1 is sent
 * at once; after round r (1-based) the next round follows after
 *     delay(r) = min(initial + (r - 1) * step, max)   milliseconds,
 * so the defaults (50, 550, 5, 100) send at +0, +50, +200, +450, +800 ms.
 * Every round sends one frame per MAC, in the order given.  Rounds start on
 * absolute CLOCK_MONOTONIC deadlines, so a slow send does not push the later
 * rounds back.
 *
 * Outputs: anything with a send_mac(ctx, mac) function.  rarp_packet_* below
 * is the AF_PACKET one (the frame from rarp_frame.h on a named interface);
 * the migration code plugs in the vhost-user SEND_RARP request, which carries
 * only the MAC and leaves building the frame to the backend. */
#ifndef VHM_RARP_ANNOUNCE_H
#define VHM_RARP_ANNOUNCE_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

struct rarp_schedule {
	uint64_t initial_ms; /* delay after round 1 */
	uint64_t max_ms;     /* no delay is longer than this */
	uint64_t step_ms;    /* each delay is this much longer than the one before */
	unsigned rounds;     /* rounds of frames, each with every MAC */
};

/* QEMU's defaults (migration parameters announce-initial/-max/-rounds/-step). */
#define RARP_SCHEDULE_DEFAULT { .initial_ms = 50, .max_ms = 550, .step_ms = 100, .rounds = 5 }

/* Limits rarp_schedule_check enforces; times as QEMU's migrate_params_check,
 * rounds lower than QEMU's 1000 because more than 100 is never useful. */
#define RARP_ROUNDS_MAX    100
#define RARP_INITIAL_MAX_MS 100000
#define RARP_MAX_MAX_MS     100000
#define RARP_STEP_MAX_MS    10000

/* 0, or -EINVAL with *why (if not NULL) naming the bad field and its range. */
int rarp_schedule_check(const struct rarp_schedule *s, const char **why);
/* Delay in ms between round r and round r + 1 (r is 1-based, < rounds). */
uint64_t rarp_schedule_delay_ms(const struct rarp_schedule *s, unsigned r);
/* Start of round r (1-based) in ms after round 1. */
uint64_t rarp_schedule_offset_ms(const struct rarp_schedule *s, unsigned r);

struct rarp_output {
	/* Send the announce for one MAC; 0 or -errno.  Required. */
	int (*send_mac)(void *ctx, const uint8_t mac[6]);
	/* Called after each round with its number (1-based) and its start in ms
	 * after round 1.  Optional. */
	void (*round_done)(void *ctx, unsigned round, uint64_t at_ms);
	void *ctx;
};

/* Run the whole schedule: rounds x nmacs calls of out->send_mac.  Stops at the
 * first send error and returns it (-errno); 0 when every frame went out.
 * -EINVAL (nothing sent) for a schedule rarp_schedule_check refuses or no MACs.
 * The MACs are not checked here: callers check them with rarp_mac_check()
 * before, so that a bad one is refused before anything is sent. */
int rarp_announce_run(const struct rarp_schedule *s, const uint8_t (*macs)[6], size_t nmacs,
		      const struct rarp_output *out);

/* AF_PACKET output: raw frames on one interface of this network namespace. */
struct rarp_packet {
	int fd;            /* owned; -1 when closed */
	int ifindex;
	int vlan;          /* RARP_VLAN_NONE or the VID tagged into every frame */
	char ifname[IFNAMSIZ];
};

/* Open a raw socket bound to ifname.  Returns 0, or -errno with a one-line
 * reason in err: -ENODEV (no such interface), -ENETDOWN (interface down or
 * without carrier), -EPERM/-EACCES (no CAP_NET_RAW), -EINVAL (name too long or
 * VID out of range).  Nothing is sent. */
int rarp_packet_open(struct rarp_packet *p, const char *ifname, int vlan,
		     char *err, size_t errlen);
/* send_mac for struct rarp_output; ctx is a struct rarp_packet. */
int rarp_packet_send_mac(void *ctx, const uint8_t mac[6]);
/* Close the socket; safe to call twice. */
void rarp_packet_close(struct rarp_packet *p);

#endif
