/* SPDX-License-Identifier: MIT */
/* The RARP announce frame, byte by byte, with and without a VLAN tag.  Offsets below are in bytes from the start
 * of the untagged frame; a tag shifts everything after the source MAC by 4. */
#include "rarp_frame.h"

#include <errno.h>
#include <string.h>

#define MAC_LEN 6
#define ARP_HTYPE_ETHERNET 1
#define ARP_PTYPE_IPV4 0x0800

static uint8_t *put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put_bytes(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

/* The 28-byte RARP body: hardware type, protocol type, their lengths, the
 * opcode, then sender (MAC, IPv4 0) and target (MAC, IPv4 0). */
static uint8_t *put_rarp_body(uint8_t *p, const uint8_t mac[6])
{
	static const uint8_t no_ip[4];

	p = put_be16(p, ARP_HTYPE_ETHERNET);
	p = put_be16(p, ARP_PTYPE_IPV4);
	*p++ = MAC_LEN;
	*p++ = sizeof(no_ip);
	p = put_be16(p, RARP_OP_REVERSE_REQUEST);
	p = put_bytes(p, mac, MAC_LEN);
	p = put_bytes(p, no_ip, sizeof(no_ip));
	p = put_bytes(p, mac, MAC_LEN);
	return put_bytes(p, no_ip, sizeof(no_ip));
}

int rarp_frame_build(uint8_t *buf, size_t buflen, const uint8_t mac[6], int vlan)
{
	static const uint8_t broadcast[MAC_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	size_t len = RARP_FRAME_LEN;
	uint8_t *p = buf;

	if (vlan != RARP_VLAN_NONE && (vlan < 0 || vlan > RARP_VLAN_MAX))
		return -EINVAL;
	if (vlan != RARP_VLAN_NONE)
		len += RARP_VLAN_TAG_LEN;
	if (buflen < len)
		return -ENOSPC;

	memset(buf, 0, len); /* the padding after the RARP body */
	p = put_bytes(p, broadcast, MAC_LEN);
	p = put_bytes(p, mac, MAC_LEN);
	if (vlan != RARP_VLAN_NONE) {
		p = put_be16(p, RARP_ETH_P_8021Q);
		p = put_be16(p, (uint16_t)vlan); /* PCP 0, DEI 0 */
	}
	p = put_be16(p, RARP_ETH_P_RARP);
	put_rarp_body(p, mac);
	return (int)len;
}

int rarp_mac_check(const uint8_t mac[6], const char **why)
{
	static const uint8_t zero[MAC_LEN];
	const char *reason = NULL;

	if (mac[0] & 0x01)
		reason = mac[0] == 0xff && !memcmp(mac, mac + 1, 5) ? "is the broadcast address"
								    : "is multicast";
	else if (!memcmp(mac, zero, MAC_LEN))
		reason = "is all zeros";
	if (why)
		*why = reason;
	return reason ? -EINVAL : 0;
}
