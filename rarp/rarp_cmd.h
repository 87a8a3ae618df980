/* SPDX-License-Identifier: MIT */
/* rarp_cmd — `vhm announce`: send the RARP announce for guest MACs by hand,
 * e.g. after a migration whose automatic announce did not happen. */
#ifndef VHM_RARP_CMD_H
#define VHM_RARP_CMD_H

#define RARP_ANNOUNCE_USAGE \
	"usage: vhm announce --mac MAC [--mac MAC ...] --ifname IF [options]\n" \
	"\n" \
	"Broadcast QEMU-style RARP announce frames (ethertype 0x8035) for each MAC\n" \
	"on interface IF, so switches learn where the guest now is.\n" \
	"\n" \
	"  -m, --mac MAC     guest MAC (aa:bb:cc:dd:ee:ff); repeat for several NICs\n" \
	"  -i, --ifname IF   interface to send on (must be up; needs CAP_NET_RAW)\n" \
	"      --vlan ID     insert an 802.1Q tag with VID ID (0..4094)\n" \
	"  -r, --rounds N    rounds of frames, 1..100 (default 5)\n" \
	"      --initial DUR delay after round 1 (default 50ms)\n" \
	"      --max DUR     longest delay between rounds (default 550ms)\n" \
	"      --step DUR    each delay grows by this much (default 100ms)\n" \
	"  -q, --quiet       print nothing on success\n" \
	"\n" \
	"Delay after round r: min(initial + (r-1)*step, max). DUR: 50ms, 1s (a bare\n" \
	"number is seconds).\n" \
	"Exit status: 0 sent, 2 bad arguments, 3 interface or permission problem.\n"

int cmd_announce(int argc, char **argv);

#endif
