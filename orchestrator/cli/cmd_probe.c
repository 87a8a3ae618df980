/* SPDX-License-Identifier: MIT */
/* `vhm probe`: connect to a backend as a frontend, negotiate, and print what
 * it offers (feature bits by name, queues, memory slots) as text or JSON,
 * with vhu_probe's verdict on whether a device on it can migrate. */
#include "cmd_probe.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"
#include "vhu_front.h"
#include "vhu_probe.h"

typedef const char *(*bit_namer)(unsigned bit);

static void bit_name(bit_namer namer, unsigned bit, char *buf, size_t len)
{
	const char *n = namer(bit);

	if (n)
		snprintf(buf, len, "%s", n);
	else
		snprintf(buf, len, "bit%u", bit);
}

static void print_bits(const char *label, uint64_t v, bit_namer namer)
{
	char name[32];

	printf("%-15s 0x%016llx\n ", label, (unsigned long long)v);
	for (unsigned b = 0; b < 64; b++) {
		if (!((v >> b) & 1))
			continue;
		bit_name(namer, b, name, sizeof(name));
		printf(" %s", name);
	}
	printf("\n");
}

static json_t *json_bits(uint64_t v, bit_namer namer)
{
	json_t *a = json_array();
	char name[32];

	for (unsigned b = 0; b < 64; b++) {
		if (!((v >> b) & 1))
			continue;
		bit_name(namer, b, name, sizeof(name));
		json_array_append_new(a, json_string(name));
	}
	return a;
}

static const char *pf_namer(unsigned bit)
{
	return vhu_pf_name(bit);
}

static void print_text(const struct vhu_front *f, const struct vhu_probe_verdict *v)
{
	printf("%-15s %s\n", "backend", f->path);
	print_bits("features", f->dev_features, vhu_feature_name);
	print_bits("protocol", f->dev_protocol, pf_namer);
	printf("%-15s %u%s\n", "queues", f->queue_num,
	       vhu_front_has_pf(f, VHU_PF_MQ) ? "" : " (MQ not offered)");
	printf("%-15s %u%s\n", "mem slots", f->max_mem_slots,
	       vhu_front_has_pf(f, VHU_PF_CONFIGURE_MEM_SLOTS) ? ""
							       : " (CONFIGURE_MEM_SLOTS not offered)");
	if (v->migratable)
		printf("%-15s yes (LOG_SHMFD, LOG_ALL)", "migratable");
	else
		printf("%-15s no: missing%s%s", "migratable", v->log_shmfd ? "" : " LOG_SHMFD",
		       v->log_all ? "" : " LOG_ALL");
	printf("; extras: RARP %s, REPLY_ACK %s\n", v->rarp ? "yes" : "no",
	       v->reply_ack ? "yes" : "no");
}

static int print_json(const struct vhu_front *f, const struct vhu_probe_verdict *v)
{
	char hex[2][24];
	json_t *o, *missing = json_array();

	snprintf(hex[0], sizeof(hex[0]), "0x%016llx", (unsigned long long)f->dev_features);
	snprintf(hex[1], sizeof(hex[1]), "0x%016llx", (unsigned long long)f->dev_protocol);
	if (!v->log_shmfd)
		json_array_append_new(missing, json_string("LOG_SHMFD"));
	if (!v->log_all)
		json_array_append_new(missing, json_string("LOG_ALL"));
	o = json_pack("{s:s, s:s, s:o, s:s, s:o, s:I, s:I, s:b, s:o, s:{s:b, s:b}}",
		      "backend", f->path,
		      "features", hex[0], "feature_bits", json_bits(f->dev_features,
								     vhu_feature_name),
		      "protocol_features", hex[1], "protocol_bits",
		      json_bits(f->dev_protocol, pf_namer),
		      "queue_num", (json_int_t)f->queue_num,
		      "max_mem_slots", (json_int_t)f->max_mem_slots,
		      "migratable", v->migratable, "missing", missing,
		      "extras", "rarp", v->rarp, "reply_ack", v->reply_ack);
	if (!o)
		return -1;
	json_dumpf(o, stdout, JSON_COMPACT);
	printf("\n");
	json_decref(o);
	return 0;
}

/* Connect, negotiate, judge; f stays open for the caller to print and close. */
static int probe_open(struct vhu_front *f, const char *path, int timeout_ms,
		      struct vhu_probe_verdict *v)
{
	int rc = vhu_front_connect(f, path, timeout_ms);

	if (!rc)
		rc = vhu_front_negotiate(f, vhu_front_default_protocol());
	if (!rc)
		vhu_probe_judge(f, v);
	return rc;
}

int cmd_probe_socket(const char *path, int timeout_ms, struct vhu_probe_verdict *v, char *err,
		     size_t errlen)
{
	struct vhu_front f;
	int rc = probe_open(&f, path, timeout_ms, v);

	if (rc)
		snprintf(err, errlen, "%s", f.err);
	vhu_front_close(&f);
	return rc;
}

int cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhu_probe_verdict v;
	struct vhu_front f;
	uint64_t timeout = VHU_DEFAULT_TIMEOUT_MS;
	struct vhm_cli p = { .cmd = "probe", .shortopts = "jt:", .longopts = opts };
	bool json = false;
	int c, rc;

	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 't':
			if (vhm_parse_duration_ms(optarg, &timeout) || timeout == 0 ||
			    timeout > 600000)
				return vhm_usage_error("probe", "--timeout '%s': expected a duration, "
						       "1ms..10m", optarg);
			break;
		}
	}
	if (c != VHM_CLI_END)
		return vhm_cli_status(c);
	if (optind != argc - 1)
		return vhm_usage_error("probe", "expected exactly one SOCKET");

	rc = probe_open(&f, argv[optind], (int)timeout, &v);
	if (rc) {
		fprintf(stderr, "vhm probe: %s\n", f.err);
		vhu_front_close(&f);
		return VHM_EXIT_PEER;
	}
	if (json)
		print_json(&f, &v);
	else
		print_text(&f, &v);
	vhu_front_close(&f);
	return v.migratable ? VHM_EXIT_OK : VHM_EXIT_FAIL;
}
