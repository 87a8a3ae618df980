/* SPDX-License-Identifier: MIT */
/* ovstest — a private Open vSwitch with DPDK for the integration tests
 * (prefix ovt_): ovsdb-server and ovs-vswitchd-dpdk (Debian package
 * openvswitch-switch-dpdk, OVS 3.1 on DPDK 22.11) started in <ts_dir>/ovs
 * as children of the test (ts_cleanup ends them), vswitchd in a network
 * namespace of its own (its tap devices), DPDK without hugepages
 * (--no-huge --legacy-mem -m 2048 --no-pci), its PMD thread pinned to CPU 0
 * as the tests' testpmds are; a netdev bridge br0 whose vhost-user ports
 * loop their traffic back (in_port=P,actions=in_port). These assert with
 * Criterion. */
#ifndef VHM_OVSTEST_H
#define VHM_OVSTEST_H

#include <stdbool.h>
#include <stddef.h>

/* OVS started with bridge br0, or the test skipped when the package is
 * not installed (a failure when it is and does not start). */
void ovt_start_or_skip(void);
/* Port `name` on br0 with its loopback flow: dpdkvhostuser (OVS listens;
 * its socket <ts_dir>/ovs/NAME), or with client dpdkvhostuserclient (OVS
 * connects to <ts_dir>/NAME.sock, where vhm listens). The path into sock. */
void ovt_add_port(const char *name, bool client, char *sock, size_t len);
/* How many times ovs-vswitchd's log says the vhost device at sock was
 * added (a frontend set its rings up), and waiting for more than `than`. */
int ovt_added(const char *sock);
void ovt_wait_added(const char *sock, int than, int timeout_ms);
/* Stop ovs-vswitchd (SIGTERM) and start it again on the same database. */
void ovt_restart_vswitchd(void);
/* Stop ovs-vswitchd and remove its DPDK run dir; call from .fini before
 * ts_cleanup (which ends ovsdb-server and removes the rest). */
void ovt_fini(void);

#endif
