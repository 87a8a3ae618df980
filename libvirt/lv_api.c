/* SPDX-License-Identifier: MIT */
/* lv_api — the libvirt function table, filled from libvirt.so.0 on first
 * use (lv_api.h). */
#include "lv_api.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "util.h"

#define LV_API_SONAME "libvirt.so.0"

struct lv_api lv_api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_why[256];     /* written in the once, read after it */

static void load(void)
{
	void *h = dlopen(LV_API_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *missing = NULL;

	if (!h) {
		snprintf(load_why, sizeof(load_why), "cannot load libvirt: %s", dlerror());
		load_rc = -ENOENT;
		return;
	}
#define LV_API_RESOLVE(f) \
	if (!missing && !(lv_api.f = (__typeof__(lv_api.f))dlsym(h, #f))) \
		missing = #f;
	LV_API_FUNCS(LV_API_RESOLVE)
#undef LV_API_RESOLVE
	if (missing) {
		snprintf(load_why, sizeof(load_why), "%s has no %s (libvirt too old?)",
			 LV_API_SONAME, missing);
		lv_api = (struct lv_api){ 0 };
		load_rc = -ENOENT;
	}
	/* never dlclose'd: libvirt's threads and callbacks outlive any caller */
}

int lv_api_load(char *err, size_t errlen)
{
	pthread_once(&load_once, load);
	if (load_rc)
		return vhm_err(err, errlen, load_rc, "%s", load_why);
	return 0;
}
