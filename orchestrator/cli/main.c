/* SPDX-License-Identifier: MIT */
/* vhm — one binary, git-style subcommands. The table below is the whole
 * list; each command's code lives in its module. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"
#include "cmd_probe.h"
#include "cmd_run.h"
#include "cmd_migrate.h"
#include "cmd_certify.h"
#include "rarp_cmd.h"
#include "cmd_ctl.h"
#include "cmd_dev.h"
#include "trace_cmd.h"
#include "cmd_track.h"
#include "lvh_hook.h"
#include "lvd_daemon.h"
#include "ui_top.h"
#include "vhu_proto.h"

static int cmd_help(int argc, char **argv);

/* "vhm 0.2.0 (git e08d4d0)"; the git part is missing when the build knew no
 * commit (VHM_GIT is "" in a tree that is neither a checkout nor a tarball of
 * `make dist`). */
static void print_version(void)
{
	if (VHM_GIT[0])
		printf("vhm %s (git %s)\n", VHM_VERSION, VHM_GIT);
	else
		printf("vhm %s\n", VHM_VERSION);
}

static const struct vhm_cmd commands[] = {
	{ "probe", cmd_probe, "connect to a vhost-user backend and report what it offers",
	  PROBE_USAGE },
	{ "run", cmd_run, "run a virtio-net device with a built-in guest on a backend",
	  RUN_USAGE },
	{ "migrate", cmd_migrate, "live-migrate a running device to another backend",
	  MIGRATE_USAGE },
	{ "certify", cmd_certify, "check that a vhost-user backend can be live-migrated",
	  CERTIFY_USAGE },
	{ "announce", cmd_announce, "send RARP frames announcing guest MACs on an interface",
	  RARP_ANNOUNCE_USAGE },
	{ "trace", cmd_trace, "count a backend's syscalls, kicks, faults and calls with eBPF",
	  TRACE_USAGE },
	{ "hook", cmd_hook, "libvirt's QEMU hook: pass domain events to libvirt-watch",
	  LVH_HOOK_USAGE },
	{ "libvirt-watch", cmd_libvirt_watch, "watch libvirt domains: events, job stats, announce",
	  LVD_WATCH_USAGE },
	{ "track", cmd_track, "track a running device's dirty-memory rates by source", TRACK_USAGE },
	{ "status", cmd_status, "show the status of a running instance", CTL_STATUS_USAGE },
	{ "stop", cmd_stop, "stop a running instance and wait until it is gone", CTL_STOP_USAGE },
	{ "top", cmd_top, "live dashboard of running instances (traffic, dirty rates, migration)",
	  TOP_USAGE },
	{ "list", cmd_list, "list running instances with their pid and state", CTL_LIST_USAGE },
	{ "jobinfo", cmd_jobinfo, "the running or last migration of a device (like domjobinfo)",
	  JOBINFO_USAGE },
	{ "events", cmd_events, "follow an instance's events as they come", EVENTS_USAGE },
	{ "set", cmd_set, "change a running device's traffic and memory dirtying", SET_USAGE },
	{ "predict", cmd_predict, "will a migration converge? logtrack's forecast", PREDICT_USAGE },
	{ "call", cmd_call, "execute one control-socket command (QMP's among them)", CALL_USAGE },
	{ "dirty-rate", cmd_dirty_rate, "measure a libvirt domain's dirty rate via libvirt-watch",
	  DIRTY_RATE_USAGE },
	{ "help", cmd_help, "show help for a command", "usage: vhm help [COMMAND]\n"
	  "  Without COMMAND, list the commands; with it, print its usage.\n" },
};

static void print_overview(FILE *out)
{
	fprintf(out, "usage: vhm <command> [options]\n       vhm help <command>\n"
		     "       vhm --version\n\ncommands:\n");
	for (size_t i = 0; i < VHM_ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nEvery command takes -h/--help. Numbers are decimal; durations are\n"
		     "250ms, 5s, 2m or 1h, and a bare number is seconds.\n");
}

static int cmd_help(int argc, char **argv)
{
	struct vhm_cli p = { .cmd = "help" };
	const struct vhm_cmd *c;
	int o;

	while ((o = vhm_cli_next(&p, argc, argv)) > 0)
		;
	if (o != VHM_CLI_END)
		return vhm_cli_status(o);
	if (optind == argc) {
		print_overview(stdout);
		return VHM_EXIT_OK;
	}
	if (argc - optind > 1)
		return vhm_usage_error("help", "too many arguments");
	c = vhm_cli_find(argv[optind]);
	if (!c)
		return vhm_usage_error("help", "unknown command '%s'", argv[optind]);
	fputs(c->usage, stdout);
	return VHM_EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct vhm_cmd *c;

	vhm_cli_register(commands, VHM_ARRAY_SIZE(commands));
	vbpf_set_req_names(vhu_req_name);   /* bpf/ sits below the request table */
	if (argc < 2) {
		fprintf(stderr, "vhm: no command given; usage: vhm <command> [options] "
				"(see 'vhm help')\n");
		return VHM_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		print_version();
		return VHM_EXIT_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(1, argv);
	c = vhm_cli_find(argv[1]);
	if (!c) {
		fprintf(stderr, "vhm: unknown command '%s' (see 'vhm help')\n", argv[1]);
		return VHM_EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
