/* SPDX-License-Identifier: MIT */
/* relay — an application-level delay between two "hosts" for the tests
 * (prefix tr_): a TCP relay in a network namespace that accepts one
 * connection, connects on to a target, and forwards every chunk it reads,
 * either way, delay_ms after it read it. It stands in for `tc netem delay`
 * where the kernel has no netem; it is not a delayed link: each of its two
 * TCP connections keeps its short round trip (no window ever waits for an
 * acknowledgement from the far end), only the bytes arrive delay_ms late
 * each way. Its threads are its own; tr_stop joins them. */
#ifndef VHM_TEST_RELAY_H
#define VHM_TEST_RELAY_H

#include <stdint.h>

struct tr_relay;

/* A relay listening on ip:0 in namespace ns (NULL: here), forwarding to
 * to_ip:to_port from ns; its port into *port. 0 or -errno. */
int tr_start(const char *ns, const char *ip, const char *to_ip, uint16_t to_port, int delay_ms,
	     struct tr_relay **out, uint16_t *port);
/* Chunks it held, both ways (a relay that held none forwarded nothing). */
uint64_t tr_chunks(struct tr_relay *r);
/* Close everything and join its threads. */
void tr_stop(struct tr_relay *r);

#endif
