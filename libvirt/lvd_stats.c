/* SPDX-License-Identifier: MIT */
/* lvd_stats — typed parameters in, plain structs and JSON out. */
#include "lvd_stats.h"
#include "lv_api.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)

static const struct {
	const char *param;  /* libvirt's name */
	const char *key;    /* JSON member */
	size_t off;
} job_fields[LVD_JF_COUNT] = {
#define LVD_JF_ROW(f, n) [LVD_JF_##f] = { n, #f, offsetof(struct lvd_job, f) },
	LVD_JOB_FIELDS(LVD_JF_ROW)
#undef LVD_JF_ROW
};

/* Any numeric parameter as a signed 64-bit value.  true if found. */
static bool param_num(const virTypedParameter *params, int n, const char *name, long long *out)
{
	for (int i = 0; i < n; i++) {
		const virTypedParameter *p = &params[i];

		if (strcmp(p->field, name))
			continue;
		switch (p->type) {
		case VIR_TYPED_PARAM_INT: *out = p->value.i; return true;
		case VIR_TYPED_PARAM_UINT: *out = p->value.ui; return true;
		case VIR_TYPED_PARAM_LLONG: *out = p->value.l; return true;
		case VIR_TYPED_PARAM_ULLONG: *out = (long long)p->value.ul; return true;
		case VIR_TYPED_PARAM_DOUBLE: *out = (long long)p->value.d; return true;
		case VIR_TYPED_PARAM_BOOLEAN: *out = p->value.b; return true;
		default: return false;
		}
	}
	return false;
}

void lvd_job_decode(struct lvd_job *job, int type, const virTypedParameter *params, int nparams)
{
	memset(job, 0, sizeof(*job));
	job->type = type;
	for (size_t f = 0; f < LVD_JF_COUNT; f++) {
		long long v;

		if (!param_num(params, nparams, job_fields[f].param, &v) || v < 0)
			continue;
		*(uint64_t *)((char *)job + job_fields[f].off) = (uint64_t)v;
		job->have |= 1ULL << f;
	}
}

double lvd_job_dirty_mib_s(const struct lvd_job *job)
{
	uint64_t page = LVD_HAVE(job, memory_page_size) && job->memory_page_size ?
		job->memory_page_size : 4096;

	if (!LVD_HAVE(job, memory_dirty_rate))
		return -1;
	return (double)job->memory_dirty_rate * (double)page / MIB;
}

double lvd_job_transfer_mib_s(const struct lvd_job *job)
{
	return LVD_HAVE(job, memory_bps) ? (double)job->memory_bps / MIB : -1;
}

const char *lvd_job_type_name(int type)
{
	static const char *const names[] = {
		[VIR_DOMAIN_JOB_NONE] = "none", [VIR_DOMAIN_JOB_BOUNDED] = "bounded",
		[VIR_DOMAIN_JOB_UNBOUNDED] = "unbounded", [VIR_DOMAIN_JOB_COMPLETED] = "completed",
		[VIR_DOMAIN_JOB_FAILED] = "failed", [VIR_DOMAIN_JOB_CANCELLED] = "cancelled",
	};

	return type >= 0 && (size_t)type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

const char *lvd_job_operation_name(uint64_t op)
{
	static const char *const names[] = {
		"unknown", "start", "save", "restore", "migration-in", "migration-out",
		"snapshot", "snapshot-revert", "dump", "backup", "snapshot-delete",
	};

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "unknown";
}

json_t *lvd_job_json(const struct lvd_job *job, const char *domain)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "domain", domain, "type",
			      lvd_job_type_name(job->type), "operation",
			      lvd_job_operation_name(LVD_HAVE(job, operation) ? job->operation : 0));
	double dirty = lvd_job_dirty_mib_s(job), xfer = lvd_job_transfer_mib_s(job);

	if (!o)
		return NULL;
	for (size_t f = 0; f < LVD_JF_COUNT; f++) {
		if (f == LVD_JF_operation || !((job->have >> f) & 1))
			continue;
		json_object_set_new(o, job_fields[f].key,
				    json_integer((json_int_t)*(const uint64_t *)
						 ((const char *)job + job_fields[f].off)));
	}
	if (dirty >= 0)
		json_object_set_new(o, "dirty_mib_s", json_real(dirty));
	if (xfer >= 0)
		json_object_set_new(o, "transfer_mib_s", json_real(xfer));
	if (LVD_HAVE(job, memory_total) && LVD_HAVE(job, memory_processed) && job->memory_total)
		json_object_set_new(o, "progress_pct",
				    json_real(100.0 * (double)job->memory_processed /
					      (double)job->memory_total));
	return o;
}

int lvd_dirtyrate_decode(struct lvd_dirtyrate *dr, const virTypedParameter *params, int nparams)
{
	long long v;

	memset(dr, 0, sizeof(*dr));
	if (!param_num(params, nparams, "dirtyrate.calc_status", &v))
		return -ENOENT;
	dr->status = (int)v;
	if (param_num(params, nparams, "dirtyrate.calc_start_time", &v))
		dr->start_time = v;
	if (param_num(params, nparams, "dirtyrate.calc_period", &v))
		dr->period_s = (int)v;
	if (param_num(params, nparams, "dirtyrate.megabytes_per_second", &v)) {
		dr->mib_s = v;
		dr->have_rate = true;
	}
	for (int i = 0; i < nparams; i++) {
		if (!strcmp(params[i].field, "dirtyrate.calc_mode") &&
		    params[i].type == VIR_TYPED_PARAM_STRING && params[i].value.s)
			snprintf(dr->mode, sizeof(dr->mode), "%s", params[i].value.s);
	}
	for (unsigned c = 0; c < sizeof(dr->vcpu_mib_s) / sizeof(dr->vcpu_mib_s[0]); c++) {
		char name[VIR_TYPED_PARAM_FIELD_LENGTH];

		snprintf(name, sizeof(name), "dirtyrate.vcpu.%u.megabytes_per_second", c);
		if (!param_num(params, nparams, name, &v))
			break;
		dr->vcpu_mib_s[c] = v;
		dr->nvcpus = c + 1;
	}
	return 0;
}

const char *lvd_dirtyrate_status_name(int status)
{
	switch (status) {
	case VIR_DOMAIN_DIRTYRATE_UNSTARTED: return "unstarted";
	case VIR_DOMAIN_DIRTYRATE_MEASURING: return "measuring";
	case VIR_DOMAIN_DIRTYRATE_MEASURED: return "measured";
	default: return "unknown";
	}
}

json_t *lvd_dirtyrate_json(const struct lvd_dirtyrate *dr, const char *domain)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:i,s:s}", "domain", domain, "status",
			      lvd_dirtyrate_status_name(dr->status), "start_time",
			      (json_int_t)dr->start_time, "period_s", dr->period_s, "mode", dr->mode);

	if (!o)
		return NULL;
	if (dr->have_rate)
		json_object_set_new(o, "dirty_mib_s", json_integer(dr->mib_s));
	if (dr->nvcpus) {
		json_t *a = json_array();

		for (unsigned c = 0; c < dr->nvcpus; c++)
			json_array_append_new(a, json_integer(dr->vcpu_mib_s[c]));
		json_object_set_new(o, "vcpu_dirty_mib_s", a);
	}
	return o;
}

int lvd_dirtyrate_fetch(virDomainPtr dom, struct lvd_dirtyrate *dr)
{
	virDomainPtr doms[2] = { dom, NULL };
	virDomainStatsRecordPtr *recs = NULL;
	int n = lv_api.virDomainListGetStats(doms, VIR_DOMAIN_STATS_DIRTYRATE, &recs, 0), rc = -EIO;

	if (n >= 1 && !lvd_dirtyrate_decode(dr, recs[0]->params, recs[0]->nparams))
		rc = dr->status == VIR_DOMAIN_DIRTYRATE_MEASURED ? 0 : -EAGAIN;
	lv_api.virDomainStatsRecordListFree(recs);
	return rc;
}
