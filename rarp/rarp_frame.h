/* SPDX-License-Identifier: MIT */
/* rarp_frame — the RARP announce frame a migrated guest's new host sends so
 * that switches learn the guest's MAC on the new port.
 *
 * The frame is the one QEMU's announce-self sends (net/announce.c): an
 * Ethernet broadcast of ethertype 0x8035 (RARP) carrying a "reverse request"
 * (op 3) whose sender and target hardware addresses are the guest MAC and
 * whose protocol addresses are zero, zero-padded to the 60-byte Ethernet
 * minimum (without FCS, which the NIC adds).  Optionally an 802.1Q tag is
 * inserted after the source MAC; the tagged frame is then 64 bytes, so it is
 * still 60 bytes once a switch or the receiving kernel removes the tag.
 *
 * Nothing here allocates or does I/O. */
#ifndef VHM_RARP_FRAME_H
#define VHM_RARP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define RARP_ETH_P_RARP  0x8035
#define RARP_ETH_P_8021Q 0x8100
#define RARP_OP_REVERSE_REQUEST 3

#define RARP_FRAME_LEN      60 /* bytes, untagged, without FCS */
#define RARP_VLAN_TAG_LEN   4  /* bytes: TPID + TCI */
#define RARP_FRAME_MAX_LEN  (RARP_FRAME_LEN + RARP_VLAN_TAG_LEN)

#define RARP_VLAN_NONE (-1)    /* no 802.1Q tag */
#define RARP_VLAN_MAX  4094    /* highest usable VID; 4095 is reserved */

/* Write the announce frame for `mac` into buf.  vlan is RARP_VLAN_NONE or a
 * VID in 0..RARP_VLAN_MAX (0 = priority tag only); PCP and DEI are 0.
 * Returns the frame length in bytes (60, or 64 when tagged), -EINVAL for a
 * VID out of range, -ENOSPC if buflen is too small.  The MAC is not checked
 * here: see rarp_mac_check(). */
int rarp_frame_build(uint8_t *buf, size_t buflen, const uint8_t mac[6], int vlan);

/* Is `mac` usable as a guest's source address?  Refuses multicast (which
 * includes broadcast) and all-zero addresses.  Returns 0, or -EINVAL with
 * *why (if why is not NULL) set to a static reason such as "is multicast". */
int rarp_mac_check(const uint8_t mac[6], const char **why);

#endif
