/* SPDX-License-Identifier: MIT */
/* lvh_conf — hook/daemon policy from a key = value file and the environment. */
#include "lvh_conf.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const announce_names[] = {
	[LVH_ANNOUNCE_VHM] = "vhm",
	[LVH_ANNOUNCE_BACKEND] = "backend",
	[LVH_ANNOUNCE_GUEST] = "guest",
};

const char *lvh_announce_name(enum lvh_announce a)
{
	return (unsigned)a < sizeof(announce_names) / sizeof(announce_names[0]) ?
		announce_names[a] : "?";
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

int lvh_conf_set(struct lvh_conf *c, const char *key, const char *value)
{
	if (!strcmp(key, "require_backend_socket"))
		return parse_bool(value, &c->require_backend_socket);
	if (!strcmp(key, "verbose"))
		return parse_bool(value, &c->verbose);
	if (!strcmp(key, "announce")) {
		for (size_t i = 0; i < sizeof(announce_names) / sizeof(announce_names[0]); i++) {
			if (!strcmp(value, announce_names[i])) {
				c->announce = (enum lvh_announce)i;
				return 0;
			}
		}
	}
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int load_file(struct lvh_conf *c, const char *path, bool must_exist,
		     char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[512];
	int lineno = 0, rc = 0;

	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		rc = -errno;
		return vhm_err(err, errlen, rc, "%s: %s", path, strerror(errno));
	}
	while (fgets(line, sizeof(line), f)) {
		char *eq, *key, *val;

		lineno++;
		line[strcspn(line, "#\n")] = '\0';
		key = trim(line);
		if (!*key)
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			rc = vhm_err(err, errlen, -EINVAL, "%s:%d: expected key = value", path,
				     lineno);
			break;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		if (lvh_conf_set(c, key, val)) {
			rc = vhm_err(err, errlen, -EINVAL,
				     "%s:%d: unknown key or bad value '%s = %s'", path, lineno, key,
				     val);
			break;
		}
	}
	fclose(f);
	return rc;
}

int lvh_conf_load(struct lvh_conf *c, const char *path, char *err, size_t errlen)
{
	static const char *const keys[] = { "require_backend_socket", "announce", "verbose" };
	const char *env = getenv("VHM_HOOK_CONF");
	bool explicit = path || (env && *env);
	int rc;

	memset(c, 0, sizeof(*c));
	c->announce = LVH_ANNOUNCE_VHM;
	rc = load_file(c, path ? path : explicit ? env : LVH_CONF_DEFAULT, explicit, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char name[64];
		const char *v;

		snprintf(name, sizeof(name), "VHM_HOOK_%s", keys[i]);
		for (char *p = name; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		v = getenv(name);
		if (v && *v && lvh_conf_set(c, keys[i], v))
			return vhm_err(err, errlen, -EINVAL, "%s: bad value '%s'", name, v);
	}
	return 0;
}
