/* SPDX-License-Identifier: MIT */
/* The announce schedule (QEMU's announce-self timer) on absolute monotonic
 * deadlines, and the AF_PACKET output that sends the RARP frame for a MAC
 * on a named interface. */
#include "rarp_announce.h"
#include "rarp_frame.h"
#include "util.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- schedule ---------------------------------------------------------- */

int rarp_schedule_check(const struct rarp_schedule *s, const char **why)
{
	const char *reason = NULL;

	if (s->rounds < 1 || s->rounds > RARP_ROUNDS_MAX)
		reason = "rounds must be 1..100";
	else if (s->initial_ms > RARP_INITIAL_MAX_MS)
		reason = "initial must be 0..100000 ms";
	else if (s->max_ms > RARP_MAX_MAX_MS)
		reason = "max must be 0..100000 ms";
	else if (s->step_ms < 1 || s->step_ms > RARP_STEP_MAX_MS)
		reason = "step must be 1..10000 ms";
	else if (s->max_ms < s->initial_ms)
		reason = "max must not be less than initial";
	if (why)
		*why = reason;
	return reason ? -EINVAL : 0;
}

/* QEMU computes initial + (rounds - round_left - 1) * step after decrementing
 * round_left; with r rounds sent so far that is initial + (r - 1) * step. */
uint64_t rarp_schedule_delay_ms(const struct rarp_schedule *s, unsigned r)
{
	uint64_t d = s->initial_ms + (uint64_t)(r - 1) * s->step_ms;

	return d > s->max_ms ? s->max_ms : d;
}

uint64_t rarp_schedule_offset_ms(const struct rarp_schedule *s, unsigned r)
{
	uint64_t at = 0;

	for (unsigned i = 1; i < r; i++)
		at += rarp_schedule_delay_ms(s, i);
	return at;
}

/* ---- running it -------------------------------------------------------- */

static void timespec_add_ms(struct timespec *t, uint64_t ms)
{
	t->tv_sec += (time_t)(ms / 1000);
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* Sleep until an absolute CLOCK_MONOTONIC time; signals do not shorten it. */
static int sleep_until(const struct timespec *deadline)
{
	int rc;

	do
		rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL);
	while (rc == EINTR);
	return -rc;
}

static int send_round(const uint8_t (*macs)[6], size_t nmacs, const struct rarp_output *out)
{
	for (size_t i = 0; i < nmacs; i++) {
		int rc = out->send_mac(out->ctx, macs[i]);

		if (rc)
			return rc;
	}
	return 0;
}

int rarp_announce_run(const struct rarp_schedule *s, const uint8_t (*macs)[6], size_t nmacs,
		      const struct rarp_output *out)
{
	struct timespec start, deadline;
	uint64_t at_ms = 0;
	int rc;

	if (rarp_schedule_check(s, NULL) || nmacs == 0 || !out->send_mac)
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned r = 1; r <= s->rounds; r++) {
		if (r > 1) {
			at_ms += rarp_schedule_delay_ms(s, r - 1);
			deadline = start;
			timespec_add_ms(&deadline, at_ms);
			rc = sleep_until(&deadline);
			if (rc)
				return rc;
		}
		rc = send_round(macs, nmacs, out);
		if (rc)
			return rc;
		if (out->round_done)
			out->round_done(out->ctx, r, at_ms);
	}
	return 0;
}

/* ---- AF_PACKET output -------------------------------------------------- */

/* Look the interface up without privileges: its index, and whether it is up
 * (IFF_UP) with a carrier (IFF_RUNNING); frames on a dead link go nowhere. */
static int packet_if_lookup(struct rarp_packet *p, char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int fd, rc = 0;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		return vhm_err(err, errlen, rc, "cannot open a socket to query '%s': %s", p->ifname,
			       strerror(-rc));
	}
	memcpy(ifr.ifr_name, p->ifname, sizeof(ifr.ifr_name));
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		rc = -errno;
		if (rc == -ENODEV)
			snprintf(err, errlen, "no interface named '%s'", p->ifname);
		else
			snprintf(err, errlen, "cannot look up interface '%s': %s", p->ifname,
				 strerror(-rc));
		goto out;
	}
	p->ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read the flags of '%s': %s", p->ifname,
			 strerror(-rc));
		goto out;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		rc = vhm_err(err, errlen, -ENETDOWN, "interface '%s' is down", p->ifname);
	} else if (!(ifr.ifr_flags & IFF_RUNNING)) {
		rc = vhm_err(err, errlen, -ENETDOWN, "interface '%s' is up but has no carrier",
			     p->ifname);
	}
out:
	close(fd);
	return rc;
}

/* A raw socket with protocol 0 receives nothing: it only sends. */
static int packet_socket(struct rarp_packet *p, char *err, size_t errlen)
{
	struct sockaddr_ll sll = { 0 };
	int rc;

	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		rc = -errno;
		if (rc == -EPERM || rc == -EACCES)
			snprintf(err, errlen, "no permission to send raw frames on '%s' "
					      "(needs CAP_NET_RAW)", p->ifname);
		else
			snprintf(err, errlen, "cannot open a packet socket: %s", strerror(-rc));
		return rc;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = p->ifindex;
	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot bind a packet socket to '%s': %s", p->ifname,
			 strerror(-rc));
		rarp_packet_close(p);
		return rc;
	}
	return 0;
}

int rarp_packet_open(struct rarp_packet *p, const char *ifname, int vlan,
		     char *err, size_t errlen)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->vlan = vlan;
	if (!ifname || !*ifname || strlen(ifname) >= sizeof(p->ifname))
		return vhm_err(err, errlen, -EINVAL,
			       "interface name '%s' is empty or longer than %zu characters",
			       ifname ? ifname : "", sizeof(p->ifname) - 1);
	if (vlan != RARP_VLAN_NONE && (vlan < 0 || vlan > RARP_VLAN_MAX))
		return vhm_err(err, errlen, -EINVAL, "VLAN %d is outside 0..%d", vlan,
			       RARP_VLAN_MAX);
	memcpy(p->ifname, ifname, strlen(ifname) + 1);
	rc = packet_if_lookup(p, err, errlen);
	if (rc)
		return rc;
	return packet_socket(p, err, errlen);
}

int rarp_packet_send_mac(void *ctx, const uint8_t mac[6])
{
	struct rarp_packet *p = ctx;
	uint8_t frame[RARP_FRAME_MAX_LEN];
	int len = rarp_frame_build(frame, sizeof(frame), mac, p->vlan);
	ssize_t n;

	if (len < 0)
		return len;
	n = send(p->fd, frame, (size_t)len, 0);
	if (n < 0)
		return -errno;
	return n == len ? 0 : -EIO;
}

void rarp_packet_close(struct rarp_packet *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}
