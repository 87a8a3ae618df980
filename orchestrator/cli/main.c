/* SPDX-License-Identifier: MIT */
/* vhm — one binary, git-style subcommands. The table below is the whole
 * list; each command's code lives in its module. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"
#include "cmd_probe.h"
#include "cmd_run.h"
#include "cmd_migrate.h"
#include "rarp_cmd.h"
#include "cmd_ctl.h"
#include "trace_cmd.h"
#include "cmd_track.h"
#include "lvh_hook.h"
#include "lvd_daemon.h"
#include "ui_top.h"

static int cmd_help(int argc, char **argv);

static const struct vhm_cmd commands[] = {
	{ "probe", cmd_probe, "connect to a vhost-user backend and report what it offers",
	  PROBE_USAGE },
	{ "run", cmd_run, "run a virtio-net device with a built-in guest on a backend",
	  RUN_USAGE },
	{ "migrate", cmd_migrate, "live-migrate a running device to another backend",
	  MIGRATE_USAGE },
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
	{ "help", cmd_help, "show help for a command", "usage: vhm help [COMMAND]\n" },
};

static const struct vhm_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < VHM_ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

const char *vhm_cmd_usage(const char *name)
{
	const struct vhm_cmd *c = find_cmd(name);

	return c ? c->usage : NULL;
}

static void print_overview(FILE *out)
{
	fprintf(out, "usage: vhm <command> [options]\n       vhm help <command>\n"
		     "       vhm --version\n\ncommands:\n");
	for (size_t i = 0; i < VHM_ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
}

int vhm_usage_error(const char *cmd, const char *fmt, ...)
{
	const char *usage = vhm_cmd_usage(cmd);
	va_list ap;

	fprintf(stderr, "vhm %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (usage)
		fputs(usage, stderr);
	return VHM_EXIT_USAGE;
}

static int cmd_help(int argc, char **argv)
{
	const struct vhm_cmd *c;

	if (argc < 2) {
		print_overview(stdout);
		return VHM_EXIT_OK;
	}
	if (argc > 2)
		return vhm_usage_error("help", "too many arguments");
	c = find_cmd(argv[1]);
	if (!c) {
		fprintf(stderr, "vhm help: unknown command '%s'\n", argv[1]);
		print_overview(stderr);
		return VHM_EXIT_USAGE;
	}
	fputs(c->usage, stdout);
	return VHM_EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct vhm_cmd *c;

	if (argc < 2) {
		print_overview(stderr);
		return VHM_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("vhm %s\n", VHM_VERSION);
		return VHM_EXIT_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(1, argv);
	c = find_cmd(argv[1]);
	if (!c) {
		fprintf(stderr, "vhm: unknown command '%s'\n", argv[1]);
		print_overview(stderr);
		return VHM_EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
