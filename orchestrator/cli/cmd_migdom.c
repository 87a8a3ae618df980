/* SPDX-License-Identifier: MIT */
/* `vhm migrate --domain NAME --to-uri URI`: a libvirt live migration with
 * vhm around it.  In order: the plan (lvm_plan_read: the domain's vhost-user
 * interfaces and their destination sockets), the pre-flight (each
 * destination socket exists and `probe` says LOG_SHMFD and LOG_ALL), the
 * dirty rate (libvirt's calculation), the prediction (logtrack's lt_predict
 * on a uniform-writer curve of that rate), then the migration
 * (lvm_run_*), its progress line every 250 ms (mig_print, from libvirt's job
 * statistics), Ctrl-C as virDomainAbortJob, and the report. */
#include "cmd_migdom.h"
#include "lv_api.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_probe.h"
#include "lt_predict.h"
#include "lv_event.h"
#include "lvm_migrate.h"
#include "mig_print.h"
#include "util.h"

#define MIGDOM_PAGE        4096ULL
#define MIGDOM_POLL_US     250000
#define MIGDOM_PROBE_MS    5000
#define MIGDOM_XML_MAX     (4 * 1024 * 1024)

struct migdom_opts {
	const char *domain, *to_uri, *src_uri, *dest_xml_file, *migrate_uri, *listen;
	uint64_t bandwidth, downtime_ms, iterations, dirty_s;
	bool dry_run, force;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

bool cmd_migdom_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--domain") || !strncmp(argv[i], "--domain=", 9))
			return true;
	return false;
}

static int parse(struct migdom_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "domain", required_argument, NULL, 'D' },
		{ "to-uri", required_argument, NULL, 'T' },
		{ "connect", required_argument, NULL, 'c' },
		{ "dest-xml", required_argument, NULL, 'X' },
		{ "migrate-uri", required_argument, NULL, 'M' },
		{ "listen-address", required_argument, NULL, 'L' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "downtime-ms", required_argument, NULL, 'd' },
		{ "max-iterations", required_argument, NULL, 'i' },
		{ "dirty-seconds", required_argument, NULL, 's' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhm_cli p = { .cmd = "migrate", .shortopts = "c:", .longopts = lo };
	int c;

	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (c) {
		case 'D': o->domain = optarg; break;
		case 'T': o->to_uri = optarg; break;
		case 'c': o->src_uri = optarg; break;
		case 'X': o->dest_xml_file = optarg; break;
		case 'M': o->migrate_uri = optarg; break;
		case 'L': o->listen = optarg; break;
		case 'n': o->dry_run = true; break;
		case 'f': o->force = true; break;
		case 'b':
			if (vhm_parse_rate(optarg, &o->bandwidth) || o->bandwidth < 1024 * 1024)
				return vhm_usage_error("migrate", "--bandwidth '%s': expected a rate "
						       "of at least 1M (1 MiB/s)", optarg);
			break;
		case 'd':
			if (vhm_parse_u64(optarg, &o->downtime_ms) || !o->downtime_ms ||
			    o->downtime_ms > 60000)
				return vhm_usage_error("migrate", "--downtime-ms '%s': expected "
						       "1..60000", optarg);
			break;
		case 'i':
			if (vhm_parse_u64(optarg, &o->iterations) || !o->iterations ||
			    o->iterations > 999)
				return vhm_usage_error("migrate", "--max-iterations '%s': expected "
						       "1..999", optarg);
			break;
		case 's':
			if (vhm_parse_u64(optarg, &o->dirty_s) || !o->dirty_s || o->dirty_s > 60)
				return vhm_usage_error("migrate", "--dirty-seconds '%s': expected "
						       "1..60", optarg);
			break;
		}
	}
	if (c != VHM_CLI_END)
		return vhm_cli_status(c);
	if (optind < argc)
		return vhm_usage_error("migrate", "unexpected argument '%s' with --domain",
				       argv[optind]);
	if (!o->to_uri)
		return vhm_usage_error("migrate", "--domain needs --to-uri URI");
	return 0;
}

/* The file at path, NUL-terminated (free() it), or NULL with the reason. */
static char *read_text(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "--dest-xml %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(MIGDOM_XML_MAX + 1);
	n = buf ? fread(buf, 1, MIGDOM_XML_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > MIGDOM_XML_MAX) {
		snprintf(err, errlen, "--dest-xml %s: %s", path,
			 buf ? "larger than 4 MiB" : "out of memory");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Each destination backend: a socket that says LOG_SHMFD and LOG_ALL.
 * Prints a line per interface; 0 when all pass, else -EHOSTUNREACH. */
static int preflight(const struct lvm_plan *plan)
{
	int bad = 0;

	printf("pre-flight   %s: %zu vhost-user interface%s\n", plan->name, plan->nifaces,
	       plan->nifaces == 1 ? "" : "s");
	for (size_t i = 0; i < plan->nifaces; i++) {
		const struct lvm_iface *li = &plan->ifaces[i];
		struct vhu_probe_verdict v;
		struct stat st;
		char err[256];

		printf("  %s %s -> %s: ", li->mac[0] ? li->mac : "(no MAC)", li->src_path,
		       li->dst_path);
		if (li->mode == LVH_MODE_SERVER) {
			printf("QEMU listens (mode server): the backend connects, not probed\n");
			continue;
		}
		if (stat(li->dst_path, &st) || !S_ISSOCK(st.st_mode)) {
			printf("FAIL: no socket there\n");
			bad++;
		} else if (cmd_probe_socket(li->dst_path, MIGDOM_PROBE_MS, &v, err, sizeof(err))) {
			printf("FAIL: probe: %s\n", err);
			bad++;
		} else if (!v.migratable) {
			printf("FAIL: missing%s%s\n", v.log_shmfd ? "" : " LOG_SHMFD",
			       v.log_all ? "" : " LOG_ALL");
			bad++;
		} else {
			printf("ok (LOG_SHMFD, LOG_ALL)\n");
		}
	}
	return bad ? -EHOSTUNREACH : 0;
}

/* A writer dirtying rate bytes/s over pages it picks uniformly: the working
 * set grows linearly, bent towards the guest's size (lt_curve's limit). */
static int predict(const struct migdom_opts *o, uint64_t mem, double dirty_bps,
		   struct lt_predict_out *out)
{
	double pages = dirty_bps / MIGDOM_PAGE;
	double w[2] = { 1000, 2000 }, p[2] = { pages, 2 * pages };
	struct lt_curve c = { .window_ms = w, .pages = p, .n = 2,
			      .limit = (double)(mem / MIGDOM_PAGE) };
	struct lt_predict_in in = { .total_pages = mem / MIGDOM_PAGE, .page_size = MIGDOM_PAGE,
				    .bandwidth = (double)o->bandwidth,
				    .downtime_ms = (double)o->downtime_ms,
				    .max_rounds = (unsigned)o->iterations,
				    .wss = lt_curve_wss, .wss_arg = &c };

	return lt_predict(&in, out);
}

static void print_prediction(const struct migdom_opts *o, const struct lt_predict_out *p)
{
	char bw[24];

	vhm_format_bytes((double)o->bandwidth, bw, sizeof(bw));
	if (p->converges) {
		printf("prediction   at %s/s, downtime limit %llu ms: converges in %u passes, "
		       "pre-copy %.0f ms, downtime %.0f ms, total %.0f ms\n", bw,
		       (unsigned long long)o->downtime_ms, p->rounds, p->precopy_ms,
		       p->downtime_ms, p->total_ms);
		return;
	}
	vhm_format_bytes(p->bandwidth_needed, bw, sizeof(bw));
	printf("prediction   does not converge in %llu passes; it would with a bandwidth of "
	       "%s/s, or a downtime limit of %.0f ms, or the dirty rate at %.0f%% of "
	       "today's\n", (unsigned long long)o->iterations, bw, p->downtime_needed_ms,
	       p->dirty_fraction_needed * 100);
}

/* The migration, with its progress line; 0 migrated, else -errno. */
static int run(const struct migdom_opts *o, virConnectPtr conn, virDomainPtr dom,
	       const char *dest_xml, struct lvd_job *fin, bool *have_fin)
{
	struct lvm_params prm = { .dest_uri = o->to_uri, .migrate_uri = o->migrate_uri,
				  .listen_address = o->listen, .dest_xml = dest_xml,
				  .bandwidth_mib_s = o->bandwidth / (1024 * 1024),
				  .downtime_ms = o->downtime_ms };
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	bool tty = isatty(STDOUT_FILENO), aborted = false;
	struct lvm_run *r;
	char err[512], line[256];
	long long shown = -1;     /* the pass last printed (lines off a terminal) */
	int rc;

	rc = lvm_run_start(&r, conn, dom, &prm, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vhm migrate: %s\n", err);
		return rc;
	}
	sigaction(SIGINT, &sa, &old);
	while (!lvm_run_done(r)) {
		struct lvd_job job;

		if (interrupted && !aborted) {
			aborted = true;
			printf("%scancelling (virDomainAbortJob)\n", tty ? "\n" : "");
			if (lvm_run_abort(r, err, sizeof(err)))
				fprintf(stderr, "vhm migrate: %s\n", err);
		}
		/* libvirt reports a total of 0 until QEMU's migration is set up */
		if (!lvm_run_stats(r, &job) && LVD_HAVE(&job, memory_total) && job.memory_total) {
			json_t *pr = lvm_progress_json(&job);

			migp_progress_text(pr, line, sizeof(line));
			json_decref(pr);
			if (tty)
				printf("\r\033[Kpre-copy     %s", line);
			else if ((long long)job.memory_iteration != shown)
				printf("pre-copy     %s\n", line);
			shown = (long long)job.memory_iteration;
			fflush(stdout);
		}
		usleep(MIGDOM_POLL_US);
	}
	sigaction(SIGINT, &old, NULL);
	if (tty)
		printf("\n");
	rc = lvm_run_finish(r, fin, have_fin, err, sizeof(err));
	if (rc)
		fprintf(stderr, "vhm migrate: %s%s\n", err, aborted ? " (cancelled)" : "");
	return rc;
}

static void report(const struct lvd_job *j, bool have, const struct lt_predict_out *p,
		   bool predicted)
{
	char data[24];

	if (!have) {
		printf("report       libvirt sent no completed statistics\n");
		return;
	}
	vhm_format_bytes((double)j->data_processed, data, sizeof(data));
	printf("report       %-12s %12s %12s\n", "", "libvirt", "predicted");
	printf("             %-12s %9llu ms ", "total", (unsigned long long)j->time_elapsed_ms);
	predicted ? printf("%9.0f ms\n", p->total_ms) : printf("%12s\n", "-");
	printf("             %-12s %9llu ms ", "downtime", (unsigned long long)j->downtime_ms);
	predicted ? printf("%9.0f ms\n", p->downtime_ms) : printf("%12s\n", "-");
	printf("             %-12s %12llu ", "passes", (unsigned long long)j->memory_iteration);
	predicted ? printf("%12u\n", p->rounds) : printf("%12s\n", "-");
	printf("             %-12s %12s\n", "sent", data);
}

/* Steps after the connection: 0 or a VHM_EXIT_* status. */
static int migrate_domain(const struct migdom_opts *o, virConnectPtr conn, virDomainPtr dom)
{
	static struct lvm_plan plan;
	struct lt_predict_out pred = { 0 };
	struct lvd_dirtyrate dr;
	struct lvd_job fin;
	bool have_fin = false, predicted = false;
	char err[512], *dest_xml = NULL;
	int rc = VHM_EXIT_FAIL;

	if (o->dest_xml_file && !(dest_xml = read_text(o->dest_xml_file, err, sizeof(err)))) {
		fprintf(stderr, "vhm migrate: %s\n", err);
		return VHM_EXIT_USAGE;
	}
	if (lvm_plan_read(dom, dest_xml, &plan, err, sizeof(err))) {
		fprintf(stderr, "vhm migrate: %s\n", err);
		goto out;
	}
	if (preflight(&plan)) {
		fprintf(stderr, "vhm migrate: pre-flight failed: nothing moved\n");
		goto out;
	}
	if (lvm_dirty_rate(dom, (int)o->dirty_s, &dr, err, sizeof(err))) {
		printf("dirty rate   not measured: %s\n", err);
	} else {
		printf("dirty rate   %lld MiB/s (libvirt %s over %llu s)\n", dr.mib_s, dr.mode,
		       (unsigned long long)o->dirty_s);
		predicted = plan.memory_bytes &&
			    !predict(o, plan.memory_bytes, (double)dr.mib_s * 1048576.0, &pred);
	}
	if (predicted)
		print_prediction(o, &pred);
	if (predicted && !pred.converges && !o->force) {
		fprintf(stderr, "vhm migrate: refused: predicted not to converge (--force runs "
			"it anyway)\n");
		goto out;
	}
	if (o->dry_run) {
		rc = VHM_EXIT_OK;
		goto out;
	}
	if (run(o, conn, dom, dest_xml, &fin, &have_fin))
		goto out;
	report(&fin, have_fin, &pred, predicted);
	rc = VHM_EXIT_OK;
out:
	free(dest_xml);
	return rc;
}

int cmd_migrate_domain(int argc, char **argv)
{
	struct migdom_opts o = { .bandwidth = 128ULL << 20, .downtime_ms = 300,
				 .iterations = 30, .dirty_s = 1,
				 .src_uri = "qemu:///system" };
	virConnectPtr conn;
	virDomainPtr dom;
	char err[256];
	int rc = parse(&o, argc, argv);

	if (rc || !o.domain)
		return rc;
	if (lv_event_init(err, sizeof(err))) {
		fprintf(stderr, "vhm migrate: %s\n", err);
		return VHM_EXIT_PEER;
	}
	conn = lv_api.virConnectOpen(o.src_uri);
	if (!conn) {
		fprintf(stderr, "vhm migrate: cannot connect to %s: %s\n", o.src_uri,
			lv_api.virGetLastErrorMessage());
		return VHM_EXIT_PEER;
	}
	dom = lv_api.virDomainLookupByName(conn, o.domain);
	if (!dom) {
		fprintf(stderr, "vhm migrate: no domain %s on %s\n", o.domain, o.src_uri);
		lv_api.virConnectClose(conn);
		return VHM_EXIT_PEER;
	}
	rc = migrate_domain(&o, conn, dom);
	lv_api.virDomainFree(dom);
	lv_api.virConnectClose(conn);
	return rc;
}
