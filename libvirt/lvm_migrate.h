/* SPDX-License-Identifier: MIT */
/* lvm_migrate — the libvirt side of `vhm migrate --domain`: what a live
 * migration of a libvirt domain needs from libvirt, for the CLI
 * (orchestrator/cli/cmd_migdom.c) to check, predict, show and report.
 *
 *   lvm_plan_read   the domain XML's vhost-user interfaces and, from the
 *                   destination XML when one is given, the socket each will
 *                   use on the destination (matched by MAC, else by order)
 *   lvm_dirty_rate  a dirty-rate calculation (libvirt's domdirtyrate), waited for
 *   lvm_run_*       virDomainMigrateToURI3 (peer to peer, live) in a thread of
 *                   its own; the caller polls job statistics, may abort, and
 *                   gets libvirt's completed statistics from the
 *                   JOB_COMPLETED event (a transient domain is gone from the
 *                   source once migrated, with its stats)
 *   lvm_progress_json  job statistics as the "progress" object of vhm's own
 *                   migrations (migrate.h's mig_progress_json), so the same
 *                   progress line prints both
 *
 * Threads: struct lvm_run is the caller's; its migration thread owns the
 * blocking call and writes only rc/err/done (done atomically, read by the
 * caller); the event loop thread writes the completed statistics under lock. */
#ifndef VHM_LVM_MIGRATE_H
#define VHM_LVM_MIGRATE_H

#include <jansson.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lvd_stats.h"
#include "lvh_xml.h"

struct lvm_iface {
	char mac[18];                /* "" when the interface has none */
	char src_path[LVH_PATH_MAX]; /* the socket on this host now */
	char dst_path[LVH_PATH_MAX]; /* the socket on the destination */
	enum lvh_mode mode;
};

struct lvm_plan {
	char name[LVH_NAME_MAX];
	uint64_t memory_bytes;       /* the guest's memory (max) */
	size_t nifaces;
	struct lvm_iface ifaces[LVH_IFACES_MAX];
};

/* Read dom's XML (and dest_xml, NULL: the same sockets) into *plan.  0 or
 * -errno with a one-line reason naming the domain. */
int lvm_plan_read(virDomainPtr dom, const char *dest_xml, struct lvm_plan *plan, char *err,
		  size_t errlen);

/* Start a calculation over seconds (1..60) and wait for its result.  0 or
 * -errno with the reason. */
int lvm_dirty_rate(virDomainPtr dom, int seconds, struct lvd_dirtyrate *dr, char *err,
		   size_t errlen);

/* libvirt's job statistics as a vhm progress object (new reference). */
json_t *lvm_progress_json(const struct lvd_job *job);

struct lvm_params {
	const char *dest_uri;        /* the destination libvirtd, as the source reaches it */
	const char *migrate_uri;     /* NULL: libvirt's choice */
	const char *listen_address;  /* NULL: libvirt's choice */
	const char *dest_xml;        /* NULL: the same XML */
	uint64_t bandwidth_mib_s;    /* 0: libvirt's default */
	uint64_t downtime_ms;        /* 0: libvirt's default */
};

struct lvm_run;

/* Set the downtime limit, then start the migration thread.  dom stays the
 * caller's and must outlive the run.  0 or -errno with the reason. */
int lvm_run_start(struct lvm_run **out, virConnectPtr conn, virDomainPtr dom,
		  const struct lvm_params *p, char *err, size_t errlen);
/* Has the migration call returned? */
bool lvm_run_done(struct lvm_run *r);
/* The running job's statistics; 0, or -errno (no job, or libvirt refused). */
int lvm_run_stats(struct lvm_run *r, struct lvd_job *job);
/* Ask libvirt to cancel (virDomainAbortJob).  0 or -errno. */
int lvm_run_abort(struct lvm_run *r, char *err, size_t errlen);
/* Wait for the call, fill *fin with libvirt's completed statistics (waiting
 * up to 2 s for the JOB_COMPLETED event; *have_fin false without), free.
 * The call's result: 0 or -EIO with libvirt's reason in err. */
int lvm_run_finish(struct lvm_run *r, struct lvd_job *fin, bool *have_fin, char *err,
		   size_t errlen);

#endif
