/* SPDX-License-Identifier: MIT */
/* lvd_stats and lvh_conf: job stats and dirty-rate results decoded from typed
 * parameters built here with virTypedParamsAdd* (as libvirt sends them), the
 * MiB/s normalisation worked out by hand, the policy file and environment,
 * and which lifecycle events make the daemon announce. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool contains(const char *s, const char *w)
{
	return strstr(s, w) != NULL;
}
#include <unistd.h>

#include "lvd_daemon.h"
#include "lvd_stats.h"
#include "lvh_conf.h"

static virTypedParameterPtr params;
static int nparams, maxparams;

/* virTypedParams* reset libvirt's thread-local error, which exists only after
 * virInitialize() (the connection APIs call it themselves; these do not). */
static void init(void)
{
	cr_assert(eq(int, virInitialize(), 0));
}

static void fini(void)
{
	virTypedParamsFree(params, nparams);
	params = NULL;
	nparams = maxparams = 0;
}

static void add_ull(const char *name, unsigned long long v)
{
	cr_assert(eq(int, virTypedParamsAddULLong(&params, &nparams, &maxparams, name, v), 0));
}

Test(libvirt_stats, migration_job_fields_and_mib_per_second, .init = init, .fini = fini)
{
	struct lvd_job job;

	cr_assert(eq(int, virTypedParamsAddInt(&params, &nparams, &maxparams,
					       VIR_DOMAIN_JOB_OPERATION,
					       VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT), 0));
	add_ull(VIR_DOMAIN_JOB_TIME_ELAPSED, 1500);
	add_ull(VIR_DOMAIN_JOB_MEMORY_TOTAL, 1ULL << 30);
	add_ull(VIR_DOMAIN_JOB_MEMORY_PROCESSED, 1ULL << 28);
	add_ull(VIR_DOMAIN_JOB_MEMORY_REMAINING, 3ULL << 28);
	/* 25600 pages/s of 4 KiB = 100 MiB/s; 50 MiB/s on the wire. */
	add_ull(VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE, 25600);
	add_ull(VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, 4096);
	add_ull(VIR_DOMAIN_JOB_MEMORY_BPS, 50ULL << 20);
	add_ull(VIR_DOMAIN_JOB_MEMORY_ITERATION, 3);

	lvd_job_decode(&job, VIR_DOMAIN_JOB_UNBOUNDED, params, nparams);
	cr_assert(eq(int, job.type, VIR_DOMAIN_JOB_UNBOUNDED));
	cr_assert(eq(u64, job.operation, VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT),
		  "an int parameter decodes too");
	cr_assert(eq(u64, job.time_elapsed_ms, 1500));
	cr_assert(eq(u64, job.memory_total, 1ULL << 30));
	cr_assert(eq(u64, job.memory_iteration, 3));
	cr_assert(eq(int, (int)LVD_HAVE(&job, memory_dirty_rate), 1));
	cr_assert(eq(int, (int)LVD_HAVE(&job, downtime_ms), 0), "absent stays absent");
	cr_assert(eq(dbl, lvd_job_dirty_mib_s(&job), 100.0));
	cr_assert(eq(dbl, lvd_job_transfer_mib_s(&job), 50.0));

	json_t *o = lvd_job_json(&job, "vm1");

	cr_assert(not(eq(ptr, o, 0)));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "domain")), "vm1"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "type")), "unbounded"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "operation")),
		     "migration-out"));
	cr_assert(eq(i64, json_integer_value(json_object_get(o, "memory_dirty_rate")), 25600));
	cr_assert(eq(dbl, json_real_value(json_object_get(o, "dirty_mib_s")), 100.0));
	cr_assert(eq(dbl, json_real_value(json_object_get(o, "progress_pct")), 25.0));
	cr_assert(eq(ptr, json_object_get(o, "downtime_ms"), 0));
	json_decref(o);
}

Test(libvirt_stats, huge_pages_scale_the_dirty_rate, .init = init, .fini = fini)
{
	struct lvd_job job;

	add_ull(VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE, 10);
	add_ull(VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, 2ULL << 20);
	lvd_job_decode(&job, VIR_DOMAIN_JOB_BOUNDED, params, nparams);
	cr_assert(eq(dbl, lvd_job_dirty_mib_s(&job), 20.0));
}

Test(libvirt_stats, no_rates_means_minus_one_and_no_json_member, .init = init, .fini = fini)
{
	struct lvd_job job;
	json_t *o;

	add_ull(VIR_DOMAIN_JOB_TIME_ELAPSED, 10);
	lvd_job_decode(&job, VIR_DOMAIN_JOB_BOUNDED, params, nparams);
	cr_assert(eq(dbl, lvd_job_dirty_mib_s(&job), -1.0));
	cr_assert(eq(dbl, lvd_job_transfer_mib_s(&job), -1.0));
	o = lvd_job_json(&job, "x");
	cr_assert(eq(ptr, json_object_get(o, "dirty_mib_s"), 0));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "operation")), "unknown"));
	json_decref(o);
}

Test(libvirt_stats, completed_save_job, .init = init, .fini = fini)
{
	struct lvd_job job;

	cr_assert(eq(int, virTypedParamsAddInt(&params, &nparams, &maxparams,
					       VIR_DOMAIN_JOB_OPERATION,
					       VIR_DOMAIN_JOB_OPERATION_SAVE), 0));
	add_ull(VIR_DOMAIN_JOB_DOWNTIME, 42);
	add_ull(VIR_DOMAIN_JOB_DATA_TOTAL, 1000);
	add_ull(VIR_DOMAIN_JOB_DATA_PROCESSED, 1000);
	lvd_job_decode(&job, VIR_DOMAIN_JOB_COMPLETED, params, nparams);
	cr_assert(eq(str, (char *)lvd_job_type_name(job.type), "completed"));
	cr_assert(eq(str, (char *)lvd_job_operation_name(job.operation), "save"));
	cr_assert(eq(u64, job.downtime_ms, 42));
	cr_assert(eq(u64, job.data_processed, 1000));
}

Test(libvirt_stats, measured_dirty_rate, .init = init, .fini = fini)
{
	struct lvd_dirtyrate dr;

	cr_assert(eq(int, virTypedParamsAddInt(&params, &nparams, &maxparams,
					       "dirtyrate.calc_status",
					       VIR_DOMAIN_DIRTYRATE_MEASURED), 0));
	cr_assert(eq(int, virTypedParamsAddLLong(&params, &nparams, &maxparams,
						 "dirtyrate.calc_start_time", 1700000000), 0));
	cr_assert(eq(int, virTypedParamsAddInt(&params, &nparams, &maxparams,
					       "dirtyrate.calc_period", 2), 0));
	cr_assert(eq(int, virTypedParamsAddString(&params, &nparams, &maxparams,
						  "dirtyrate.calc_mode", "page-sampling"), 0));
	cr_assert(eq(int, virTypedParamsAddLLong(&params, &nparams, &maxparams,
						 "dirtyrate.megabytes_per_second", 37), 0));
	cr_assert(eq(int, lvd_dirtyrate_decode(&dr, params, nparams), 0));
	cr_assert(eq(int, dr.status, VIR_DOMAIN_DIRTYRATE_MEASURED));
	cr_assert(eq(i64, dr.start_time, 1700000000));
	cr_assert(eq(int, dr.period_s, 2));
	cr_assert(eq(str, dr.mode, "page-sampling"));
	cr_assert(dr.have_rate);
	cr_assert(eq(i64, dr.mib_s, 37));
	cr_assert(eq(uint, dr.nvcpus, 0));

	json_t *o = lvd_dirtyrate_json(&dr, "vm1");

	cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "status")), "measured"));
	cr_assert(eq(i64, json_integer_value(json_object_get(o, "dirty_mib_s")), 37));
	json_decref(o);
}

Test(libvirt_stats, dirty_ring_per_vcpu_rates_and_measuring, .init = init, .fini = fini)
{
	struct lvd_dirtyrate dr;

	cr_assert(eq(int, virTypedParamsAddInt(&params, &nparams, &maxparams,
					       "dirtyrate.calc_status",
					       VIR_DOMAIN_DIRTYRATE_MEASURING), 0));
	cr_assert(eq(int, lvd_dirtyrate_decode(&dr, params, nparams), 0));
	cr_assert(not(dr.have_rate));
	cr_assert(eq(str, (char *)lvd_dirtyrate_status_name(dr.status), "measuring"));
	cr_assert(eq(int, virTypedParamsAddLLong(&params, &nparams, &maxparams,
						 "dirtyrate.vcpu.0.megabytes_per_second", 5), 0));
	cr_assert(eq(int, virTypedParamsAddLLong(&params, &nparams, &maxparams,
						 "dirtyrate.vcpu.1.megabytes_per_second", 7), 0));
	cr_assert(eq(int, lvd_dirtyrate_decode(&dr, params, nparams), 0));
	cr_assert(eq(uint, dr.nvcpus, 2));
	cr_assert(eq(i64, dr.vcpu_mib_s[1], 7));
}

Test(libvirt_stats, no_dirtyrate_group_is_enoent, .init = init, .fini = fini)
{
	struct lvd_dirtyrate dr;

	add_ull("state.state", 1);
	cr_assert(eq(int, lvd_dirtyrate_decode(&dr, params, nparams), -ENOENT));
}

/* ---- policy ---- */

static char conf_path[64];

static void conf_fini(void)
{
	unlink(conf_path);
	unsetenv("VHM_HOOK_CONF");
	unsetenv("VHM_HOOK_ANNOUNCE");
}

static void write_conf(const char *text)
{
	int fd;

	snprintf(conf_path, sizeof(conf_path), "/tmp/vhm-lvconf.XXXXXX");
	fd = mkstemp(conf_path);
	cr_assert(ge(int, fd, 0));
	cr_assert(eq(sz, (size_t)write(fd, text, strlen(text)), strlen(text)));
	close(fd);
}

Test(libvirt_conf, file_then_environment, .fini = conf_fini)
{
	struct lvh_conf c;
	char err[256];

	write_conf("# policy\n\nrequire_backend_socket = yes\nannounce = backend  # inline\n");
	cr_assert(eq(int, lvh_conf_load(&c, conf_path, err, sizeof(err)), 0), "%s", err);
	cr_assert(c.require_backend_socket);
	cr_assert(eq(int, c.announce, LVH_ANNOUNCE_BACKEND));
	cr_assert(not(c.verbose));
	setenv("VHM_HOOK_ANNOUNCE", "guest", 1);
	cr_assert(eq(int, lvh_conf_load(&c, conf_path, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, c.announce, LVH_ANNOUNCE_GUEST), "the environment wins");
}

Test(libvirt_conf, bad_lines_and_missing_explicit_file, .fini = conf_fini)
{
	struct lvh_conf c;
	const char *none = NULL;
	char err[256];

	write_conf("announce = nobody\n");
	cr_assert(eq(int, lvh_conf_load(&c, conf_path, err, sizeof(err)), -EINVAL));
	cr_assert(contains(err, ":1:"), "%s", err);
	conf_fini();
	write_conf("just words\n");
	cr_assert(eq(int, lvh_conf_load(&c, conf_path, err, sizeof(err)), -EINVAL));
	cr_assert(eq(int, lvh_conf_load(&c, "/nonexistent/hook.conf", err, sizeof(err)), -ENOENT));
	setenv("VHM_HOOK_CONF", "/nonexistent/hook.conf", 1);
	cr_assert(eq(int, lvh_conf_load(&c, none, err, sizeof(err)), -ENOENT));
}

Test(libvirt_conf, defaults)
{
	struct lvh_conf c;
	const char *none = NULL;
	char err[256];

	setenv("VHM_HOOK_CONF", "", 1); /* empty: the default file, absent is fine */
	if (access(LVH_CONF_DEFAULT, F_OK) == 0)
		cr_skip("%s exists on this host", LVH_CONF_DEFAULT);
	cr_assert(eq(int, lvh_conf_load(&c, none, err, sizeof(err)), 0), "%s", err);
	cr_assert(not(c.require_backend_socket));
	cr_assert(eq(int, c.announce, LVH_ANNOUNCE_VHM));
}

/* ---- what the daemon does with lifecycle events ---- */

Test(libvirt_conf, announce_only_when_an_incoming_guest_runs_here)
{
	struct lvh_conf vhm = { .announce = LVH_ANNOUNCE_VHM };
	struct lvh_conf backend = { .announce = LVH_ANNOUNCE_BACKEND };
	const char *no_uplink = NULL;

	cr_assert(lvd_should_announce(&vhm, "eth0", VIR_DOMAIN_EVENT_RESUMED,
				      VIR_DOMAIN_EVENT_RESUMED_MIGRATED));
	cr_assert(lvd_should_announce(&vhm, "eth0", VIR_DOMAIN_EVENT_RESUMED,
				      VIR_DOMAIN_EVENT_RESUMED_POSTCOPY));
	cr_assert(not(lvd_should_announce(&vhm, "eth0", VIR_DOMAIN_EVENT_STARTED,
					  VIR_DOMAIN_EVENT_STARTED_MIGRATED)),
		  "STARTED/MIGRATED: the source still runs the guest");
	cr_assert(not(lvd_should_announce(&vhm, "eth0", VIR_DOMAIN_EVENT_RESUMED,
					  VIR_DOMAIN_EVENT_RESUMED_UNPAUSED)));
	cr_assert(not(lvd_should_announce(&vhm, no_uplink, VIR_DOMAIN_EVENT_RESUMED,
				       VIR_DOMAIN_EVENT_RESUMED_MIGRATED)), "no uplink");
	cr_assert(not(lvd_should_announce(&backend, "eth0", VIR_DOMAIN_EVENT_RESUMED,
					  VIR_DOMAIN_EVENT_RESUMED_MIGRATED)), "policy");
}

Test(libvirt_conf, lifecycle_names_follow_libvirt)
{
	cr_assert(eq(str, (char *)lvd_event_name(VIR_DOMAIN_EVENT_RESUMED), "resumed"));
	cr_assert(eq(str, (char *)lvd_detail_name(VIR_DOMAIN_EVENT_RESUMED,
						  VIR_DOMAIN_EVENT_RESUMED_MIGRATED), "migrated"));
	cr_assert(eq(str, (char *)lvd_detail_name(VIR_DOMAIN_EVENT_SUSPENDED,
						  VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED), "migrated"));
	cr_assert(eq(str, (char *)lvd_detail_name(VIR_DOMAIN_EVENT_SUSPENDED,
						  VIR_DOMAIN_EVENT_SUSPENDED_IOERROR), "ioerror"));
	cr_assert(eq(str, (char *)lvd_detail_name(VIR_DOMAIN_EVENT_SUSPENDED,
						  VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY), "postcopy"));
	cr_assert(eq(str, (char *)lvd_detail_name(VIR_DOMAIN_EVENT_STOPPED,
						  VIR_DOMAIN_EVENT_STOPPED_SAVED), "saved"));
	cr_assert(eq(str, (char *)lvd_detail_name(VIR_DOMAIN_EVENT_STARTED, 99), "unknown"));
	cr_assert(eq(str, (char *)lvd_event_name(42), "unknown"));
}
