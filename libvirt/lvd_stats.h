/* SPDX-License-Identifier: MIT */
/* lvd_stats — libvirt's job statistics and dirty-rate results, decoded from
 * typed parameters into plain structs, and those into JSON for the daemon's
 * control socket.
 *
 * Job stats come from virDomainGetJobStats (while a job runs, and with
 * VIR_DOMAIN_JOB_STATS_COMPLETED after) and from the JOB_COMPLETED event.
 * Memory rates are normalised: libvirt gives the dirty rate in pages/s
 * ("memory_dirty_rate") and the page size in bytes ("memory_page_size"), the
 * transfer rate in bytes/s ("memory_bps"); the JSON carries both the raw
 * figures and MiB/s.  Numbers of any typed-parameter type are accepted (an
 * int where libvirt documents an ullong still decodes); a field that is
 * absent stays absent (its bit in `have` clear, no JSON member). */
#ifndef VHM_LVD_STATS_H
#define VHM_LVD_STATS_H

#include <jansson.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stdint.h>

/* X(field, libvirt name): every uint64 figure of a job, in the order shown. */
#define LVD_JOB_FIELDS(X) \
	X(operation,         VIR_DOMAIN_JOB_OPERATION)          /* virDomainJobOperation */ \
	X(time_elapsed_ms,   VIR_DOMAIN_JOB_TIME_ELAPSED)       \
	X(time_remaining_ms, VIR_DOMAIN_JOB_TIME_REMAINING)     \
	X(downtime_ms,       VIR_DOMAIN_JOB_DOWNTIME)           \
	X(setup_time_ms,     VIR_DOMAIN_JOB_SETUP_TIME)         \
	X(data_total,        VIR_DOMAIN_JOB_DATA_TOTAL)         /* bytes */ \
	X(data_processed,    VIR_DOMAIN_JOB_DATA_PROCESSED)     \
	X(data_remaining,    VIR_DOMAIN_JOB_DATA_REMAINING)     \
	X(memory_total,      VIR_DOMAIN_JOB_MEMORY_TOTAL)       /* bytes */ \
	X(memory_processed,  VIR_DOMAIN_JOB_MEMORY_PROCESSED)   \
	X(memory_remaining,  VIR_DOMAIN_JOB_MEMORY_REMAINING)   \
	X(memory_constant,   VIR_DOMAIN_JOB_MEMORY_CONSTANT)    /* pages */ \
	X(memory_normal,     VIR_DOMAIN_JOB_MEMORY_NORMAL)      /* pages */ \
	X(memory_bps,        VIR_DOMAIN_JOB_MEMORY_BPS)         /* bytes/s */ \
	X(memory_dirty_rate, VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE)  /* pages/s */ \
	X(memory_page_size,  VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE)   /* bytes */ \
	X(memory_iteration,  VIR_DOMAIN_JOB_MEMORY_ITERATION)   \
	X(memory_postcopy_requests, VIR_DOMAIN_JOB_MEMORY_POSTCOPY_REQS) \
	X(disk_total,        VIR_DOMAIN_JOB_DISK_TOTAL)         /* bytes */ \
	X(disk_processed,    VIR_DOMAIN_JOB_DISK_PROCESSED)     \
	X(disk_remaining,    VIR_DOMAIN_JOB_DISK_REMAINING)

enum lvd_job_field {
#define LVD_JF_ENUM(f, n) LVD_JF_##f,
	LVD_JOB_FIELDS(LVD_JF_ENUM)
#undef LVD_JF_ENUM
	LVD_JF_COUNT
};

struct lvd_job {
	int type;              /* virDomainJobType: NONE, BOUNDED, UNBOUNDED, COMPLETED, FAILED, CANCELLED */
	uint64_t have;         /* bit (1 << LVD_JF_x) per field present */
#define LVD_JF_MEMBER(f, n) uint64_t f;
	LVD_JOB_FIELDS(LVD_JF_MEMBER)
#undef LVD_JF_MEMBER
};

#define LVD_HAVE(j, f) (((j)->have >> LVD_JF_##f) & 1)

/* Decode nparams typed parameters into *job (zeroed first; type as given). */
void lvd_job_decode(struct lvd_job *job, int type, const virTypedParameter *params, int nparams);

/* Dirty page rate in MiB/s (dirty_rate pages/s x page_size bytes; 4 KiB when
 * the page size is absent); -1 when the dirty rate is absent. */
double lvd_job_dirty_mib_s(const struct lvd_job *job);
/* memory_bps in MiB/s; -1 when absent. */
double lvd_job_transfer_mib_s(const struct lvd_job *job);

const char *lvd_job_type_name(int type);
const char *lvd_job_operation_name(uint64_t op);

/* {"domain", "type", "operation", <each present field>, "dirty_mib_s",
 *  "transfer_mib_s", "progress_pct"} — new reference. */
json_t *lvd_job_json(const struct lvd_job *job, const char *domain);

/* A dirty-rate calculation (virDomainStartDirtyRateCalc), read back with
 * virDomainListGetStats(VIR_DOMAIN_STATS_DIRTYRATE). */
struct lvd_dirtyrate {
	int status;            /* virDomainDirtyRateStatus: UNSTARTED, MEASURING, MEASURED */
	long long start_time;  /* s, host clock when the calculation began */
	int period_s;
	long long mib_s;       /* "dirtyrate.megabytes_per_second" (MiB/s) */
	bool have_rate;
	char mode[32];         /* "page-sampling", "dirty-bitmap", "dirty-ring", or "" */
	unsigned nvcpus;       /* per-vCPU rates present (dirty-ring mode only) */
	long long vcpu_mib_s[64];
};

/* Decode the "dirtyrate.*" parameters of one stats record.  0, or -ENOENT
 * when there is no dirtyrate.calc_status at all. */
int lvd_dirtyrate_decode(struct lvd_dirtyrate *dr, const virTypedParameter *params, int nparams);
const char *lvd_dirtyrate_status_name(int status);
json_t *lvd_dirtyrate_json(const struct lvd_dirtyrate *dr, const char *domain);
/* Read dom's dirty-rate calculation (virDomainListGetStats with
 * VIR_DOMAIN_STATS_DIRTYRATE): 0 when measured, -EAGAIN while it is not
 * (yet), -EIO when libvirt gave no record. */
int lvd_dirtyrate_fetch(virDomainPtr dom, struct lvd_dirtyrate *dr);

#endif
