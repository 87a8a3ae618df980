/* SPDX-License-Identifier: MIT */
/* certify — is a vhost-user backend ready to be live-migrated? A fixed list
 * of checks (cert_checks) run against the backend at one socket, and a second
 * instance of it for the checks that migrate, each ending pass, fail or skip
 * with its evidence and its figures. vhm owns every part a check needs: the
 * frontend (vhost/), a guest it controls byte for byte (device/), the log,
 * verify (logtrack/) and migration with digests (migration/).
 *
 * Each check owns its own device on the backend, in this process, for as
 * long as it runs; the checks that share a migration (log completeness,
 * restart, timings) share it through the run's context, so a migration of a
 * given layout is made once whichever of them asks first (certify.c).
 *
 * Runs on the caller's thread; a device started by a check has its datapath
 * and writer threads until the check closes it (device.h, "Threads"). */
#ifndef VHM_CERTIFY_H
#define VHM_CERTIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CERT_NCHECKS  8
#define CERT_EVID_LEN 2048

enum cert_status { CERT_PASS, CERT_FAIL, CERT_SKIP };

/* Ring layouts to certify (a bit each). */
enum { CERT_RING_SPLIT = 1, CERT_RING_PACKED = 2, CERT_RING_BOTH = 3 };

struct cert_opts {
	const char *sock;          /* the backend */
	const char *sock2;         /* a second instance of it, or NULL */
	int queues;                /* N of the "N queue pairs" layouts (>= 1) */
	bool queues_given;         /* N was asked for: a backend with fewer fails
				    * check 1; else N is cut to what it offers */
	unsigned rings;            /* CERT_RING_* */
	const char *restart_cmd;   /* restarts the backend at sock (sh -c), or NULL */
	unsigned only;             /* bit (id - 1) per check to run; 0: all */
	int timeout_ms;            /* per vhost-user request */
};

struct cert_result {
	enum cert_status status;
	char evidence[CERT_EVID_LEN];  /* what was seen: why it failed or skipped */
	json_t *figures;           /* numbers measured (owned), an object */
	double ms;                 /* how long the check took */
};

struct cert_ctx;

struct cert_check {
	int id;                    /* 1..CERT_NCHECKS, as docs/certify.md numbers them */
	const char *name;          /* for --only */
	const char *title;         /* one line */
	bool two_sockets;          /* needs SOCKET2 */
	void (*run)(struct cert_ctx *c, struct cert_result *r);
};

/* The table, in order; *n gets its length. */
const struct cert_check *cert_checks(size_t *n);
/* The check called `name` (or numbered "3"), or NULL. */
const struct cert_check *cert_find(const char *name);
const char *cert_status_name(enum cert_status s);

/* Run the checks o->only selects; res[id - 1] gets each one's result (the
 * others are left zeroed, figures NULL). 0 when the backend(s) could be
 * reached, else -errno with err naming the socket (no check ran then).
 * Free the figures with cert_results_free. */
int cert_run(const struct cert_opts *o, struct cert_result res[CERT_NCHECKS], char *err,
	     size_t errlen);
void cert_results_free(struct cert_result res[CERT_NCHECKS]);

/* Everything as one JSON object (new reference): backend, backend2, queues,
 * rings, and "checks": [{id, name, title, status, evidence, ms, figures}]
 * for the checks that ran; "passed", "failed", "skipped" counts. */
json_t *cert_report_json(const struct cert_opts *o, const struct cert_result res[CERT_NCHECKS]);

#endif
