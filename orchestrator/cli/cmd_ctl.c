/* SPDX-License-Identifier: MIT */
/* `vhm status`, `vhm stop`, `vhm list`.  Each opens the control
 * socket, runs one or two commands, and prints; all the protocol is in
 * common/ctl.c. */
#include "cmd_ctl.h"
#include "cli.h"
#include "ctl.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_LIST_TIMEOUT_MS 1000 /* per instance: a hung one must not hang list */

static const struct option long_opts[] = {
	{ "run-dir", required_argument, NULL, 'd' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 },
};

int cmd_ctl_opt(struct ctl_opts *o, int c)
{
	switch (c) {
	case 'd':
		o->run_dir = optarg;
		return 0;
	case 'j':
		o->json = true;
		return 0;
	case 't':
		if (vhm_parse_duration_ms(optarg, &o->timeout_ms) || o->timeout_ms > 86400000)
			return vhm_usage_error(o->cmd, "--timeout '%s' is not a duration up to 1 day",
					       optarg);
		return 0;
	}
	return 0;
}

/* The short and long options this command takes. */
static void allowed_opts(int allow, char *shorts, struct option *longs)
{
	size_t n = 0;

	strcpy(shorts, "d:");
	longs[n++] = long_opts[0];
	if (allow & CMD_CTL_JSON) {
		strcat(shorts, "j");
		longs[n++] = long_opts[1];
	}
	if (allow & CMD_CTL_TIMEOUT) {
		strcat(shorts, "t:");
		longs[n++] = long_opts[2];
	}
	longs[n] = long_opts[3];
}

/* Parse argv; need_name says whether one NAME operand is required (else none
 * is allowed). 0, or what vhm_cli_status() turns into the exit status. */
static int parse_args(struct ctl_opts *o, int argc, char **argv, int allow, bool need_name)
{
	struct option longs[VHM_ARRAY_SIZE(long_opts)];
	char shorts[8];
	struct vhm_cli p = { .cmd = o->cmd, .shortopts = shorts, .longopts = longs };
	int c, rc;

	allowed_opts(allow, shorts, longs);
	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		rc = cmd_ctl_opt(o, c);
		if (rc)
			return rc;
	}
	if (c != VHM_CLI_END)
		return c;
	o->run_dir = vhm_run_dir(o->run_dir);
	if (need_name && optind >= argc)
		return vhm_usage_error(o->cmd, "NAME is required");
	if (need_name)
		o->name = argv[optind++];
	if (optind < argc)
		return vhm_usage_error(o->cmd, "unexpected argument '%s'", argv[optind]);
	if (o->name && !*o->name)
		return vhm_usage_error(o->cmd, "NAME is empty");
	return 0;
}

int cmd_ctl_open(const struct ctl_opts *o, struct ctl_client **c)
{
	char err[256];
	int rc = ctl_client_open(c, o->run_dir, o->name, (int)o->timeout_ms, err, sizeof(err));

	if (!rc)
		return 0;
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		if (strchr(o->name, '/'))
			fprintf(stderr, "vhm %s: no instance at %s%s\n", o->cmd, o->name,
				rc == -ECONNREFUSED ? " (stale socket)" : "");
		else
			fprintf(stderr, "vhm %s: no instance %s in %s%s\n", o->cmd, o->name,
				o->run_dir, rc == -ECONNREFUSED ? " (stale socket)" : "");
	} else {
		fprintf(stderr, "vhm %s: %s\n", o->cmd, err);
	}
	return VHM_EXIT_PEER;
}

int cmd_ctl_failed(const struct ctl_opts *o, int rc, const char *err)
{
	fprintf(stderr, "vhm %s: %s: %s\n", o->cmd, o->name, err);
	return rc == -EREMOTEIO ? VHM_EXIT_FAIL : VHM_EXIT_PEER;
}

/* ---- status ---- */

static bool all_scalars(const json_t *arr)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_object(v) || json_is_array(v))
			return false;
	return true;
}

static void print_scalar(FILE *out, const json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		fputs(json_string_value(v), out);
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	fputs(s ? s : "?", out);
	free(s);
}

/* "a, b, c" for scalars, compact JSON for anything deeper. */
static void print_array(FILE *out, const json_t *arr)
{
	size_t i;
	json_t *v;

	if (!all_scalars(arr)) {
		print_scalar(out, arr);
		return;
	}
	json_array_foreach(arr, i, v) {
		if (i)
			fputs(", ", out);
		print_scalar(out, v);
	}
}

static void print_kv(FILE *out, const char *key, const json_t *v, int indent)
{
	const char *k;
	json_t *sub;

	fprintf(out, "%*s%s:", indent, "", key);
	if (json_is_object(v) && json_object_size(v)) {
		fputc('\n', out);
		json_object_foreach((json_t *)v, k, sub)
			print_kv(out, k, sub, indent + 2);
		return;
	}
	fputc(' ', out);
	if (json_is_array(v))
		print_array(out, v);
	else
		print_scalar(out, v);
	fputc('\n', out);
}

void cmd_ctl_print_human(FILE *out, const json_t *ret)
{
	const char *k;
	json_t *v;

	if (!json_is_object(ret)) {
		print_scalar(out, ret);
		fputc('\n', out);
		return;
	}
	json_object_foreach((json_t *)ret, k, v)
		print_kv(out, k, v, 0);
}

int cmd_ctl_print_json(FILE *out, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!s)
		return -ENOMEM;
	fprintf(out, "%s\n", s);
	free(s);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	struct ctl_opts o = { .cmd = "status", .timeout_ms = 5000 };
	struct ctl_client *c = NULL;
	json_t *ret = NULL;
	char err[512];
	int rc;

	rc = parse_args(&o, argc, argv, CMD_CTL_JSON | CMD_CTL_TIMEOUT, true);
	if (rc)
		return vhm_cli_status(rc);
	rc = cmd_ctl_open(&o, &c);
	if (rc)
		return rc;
	rc = ctl_client_call(c, "status", NULL, &ret, err, sizeof(err), (int)o.timeout_ms);
	if (rc) {
		rc = cmd_ctl_failed(&o, rc, err);
		goto out;
	}
	if (o.json)
		cmd_ctl_print_json(stdout, ret);
	else
		cmd_ctl_print_human(stdout, ret);
	rc = VHM_EXIT_OK;
out:
	json_decref(ret);
	ctl_client_close(c);
	return rc;
}

/* ---- stop ---- */

int cmd_stop(int argc, char **argv)
{
	struct ctl_opts o = { .cmd = "stop", .timeout_ms = 10000 };
	uint64_t start = vhm_now_ns();
	struct ctl_client *c = NULL;
	json_t *ret = NULL;
	char err[512];
	int rc, left;

	rc = parse_args(&o, argc, argv, CMD_CTL_TIMEOUT, true);
	if (rc)
		return vhm_cli_status(rc);
	rc = cmd_ctl_open(&o, &c);
	if (rc)
		return rc;
	rc = ctl_client_call(c, "stop", NULL, &ret, err, sizeof(err), (int)o.timeout_ms);
	json_decref(ret);
	if (rc && rc != -ECONNRESET) { /* closing before replying is stopping too */
		rc = cmd_ctl_failed(&o, rc, err);
		goto out;
	}
	left = (int)o.timeout_ms - (int)((vhm_now_ns() - start) / 1000000);
	rc = ctl_client_wait_closed(c, left > 0 ? left : 0);
	if (rc) {
		fprintf(stderr, "vhm stop: %s still running after %llu ms\n", o.name,
			(unsigned long long)o.timeout_ms);
		rc = VHM_EXIT_FAIL;
		goto out;
	}
	printf("stopped %s\n", o.name);
	rc = VHM_EXIT_OK;
out:
	ctl_client_close(c);
	return rc;
}

/* ---- list ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Instance names (the *.sock files without ".sock"), sorted, in a json array. */
static int list_names(const char *dir, json_t **names)
{
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;
	DIR *d = opendir(dir);
	int rc = 0;

	*names = json_array();
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **nv;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".sock"))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv || !(nv[n] = strndup(de->d_name, len - 5))) {
			v = nv ? nv : v;
			rc = -ENOMEM;
			break;
		}
		v = nv;
		n++;
	}
	closedir(d);
	if (!rc)
		qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (!rc)
			json_array_append_new(*names, json_string(v[i]));
		free(v[i]);
	}
	free(v);
	return rc;
}

/* {"name", "pid", "state"} for one socket; pid null when nobody answers. */
static json_t *ask_instance(const char *dir, const char *name)
{
	struct ctl_client *c = NULL;
	json_t *ret = NULL, *row;
	const char *state = "stale";
	char err[256];
	int rc = ctl_client_open(&c, dir, name, CTL_LIST_TIMEOUT_MS, err, sizeof(err));

	row = json_pack("{s:s,s:n}", "name", name, "pid");
	if (rc) {
		state = rc == -EACCES ? "denied" : rc == -EPERM ? "untrusted" : "stale";
		goto out;
	}
	json_object_set(row, "pid", json_object_get(ctl_client_greeting(c), "pid"));
	rc = ctl_client_call(c, "status", NULL, &ret, err, sizeof(err), CTL_LIST_TIMEOUT_MS);
	if (rc)
		state = "no-status";
	else
		state = json_string_value(json_object_get(ret, "state")) ?: "unknown";
out:
	json_object_set_new(row, "state", json_string(state));
	json_decref(ret);
	ctl_client_close(c);
	return row;
}

static void print_table(json_t *rows)
{
	size_t i;
	json_t *r;

	printf("%-24s %8s  %s\n", "NAME", "PID", "STATE");
	json_array_foreach(rows, i, r) {
		json_t *pid = json_object_get(r, "pid");
		char pidbuf[24] = "-";

		if (json_is_integer(pid))
			snprintf(pidbuf, sizeof(pidbuf), "%lld", (long long)json_integer_value(pid));
		printf("%-24s %8s  %s\n", json_string_value(json_object_get(r, "name")), pidbuf,
		       json_string_value(json_object_get(r, "state")));
	}
}

int cmd_list(int argc, char **argv)
{
	struct ctl_opts o = { .cmd = "list" };
	json_t *names = NULL, *rows = NULL, *name;
	char err[256];
	size_t i;
	int rc;

	rc = parse_args(&o, argc, argv, CMD_CTL_JSON, false);
	if (rc)
		return vhm_cli_status(rc);
	rc = ctl_run_dir_check(o.run_dir, err, sizeof(err));
	if (rc && rc != -ENOENT) {
		fprintf(stderr, "vhm list: %s\n", err);
		rc = VHM_EXIT_PEER;
		goto out;
	}
	rc = list_names(o.run_dir, &names);
	if (rc) {
		fprintf(stderr, "vhm list: cannot read %s: %s\n", o.run_dir, strerror(-rc));
		rc = VHM_EXIT_PEER;
		goto out;
	}
	rows = json_array();
	json_array_foreach(names, i, name)
		json_array_append_new(rows, ask_instance(o.run_dir, json_string_value(name)));
	if (o.json)
		cmd_ctl_print_json(stdout, rows);
	else
		print_table(rows);
	rc = VHM_EXIT_OK;
out:
	json_decref(names);
	json_decref(rows);
	return rc;
}
