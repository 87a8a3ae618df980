/* SPDX-License-Identifier: MIT */
/* lv_api — libvirt's client library, loaded when a command first needs it.
 *
 * vhm does not link libvirt.so.0: it brings 45 more shared objects that the
 * dynamic loader maps and binds at every start (about 18 ms of CPU here),
 * and most commands (`vhm top`, `status`, the hook) never call libvirt.
 * The libvirt clients (`vhm libvirt-watch`, `vhm migrate --domain`) call
 * lv_api_load() first -- lv_event_init() does -- and then reach each
 * function through the table: lv_api.virConnectOpen(uri).  Types, constants
 * and macros still come from libvirt's headers.
 *
 * The table is written once, under a pthread_once, and only read after;
 * every reader has called lv_api_load() (or was started by a thread that
 * did), which orders the writes before its reads. */
#ifndef VHM_LV_API_H
#define VHM_LV_API_H

#include <stddef.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* Every libvirt function vhm calls; add one here before calling it. */
#define LV_API_FUNCS(X) \
	X(virConnectClose) X(virConnectDomainEventDeregisterAny) \
	X(virConnectDomainEventRegisterAny) X(virConnectIsAlive) X(virConnectListAllDomains) \
	X(virConnectOpen) X(virConnectRegisterCloseCallback) X(virConnectSetKeepAlive) \
	X(virConnectUnregisterCloseCallback) X(virDomainAbortJob) X(virDomainFree) \
	X(virDomainGetInfo) X(virDomainGetJobStats) X(virDomainGetName) X(virDomainGetXMLDesc) \
	X(virDomainListGetStats) X(virDomainLookupByName) X(virDomainMigrateSetMaxDowntime) X(virDomainMigrateToURI3) \
	X(virDomainStartDirtyRateCalc) X(virDomainStatsRecordListFree) X(virEventAddTimeout) \
	X(virEventRegisterDefaultImpl) X(virEventRemoveTimeout) X(virEventRunDefaultImpl) \
	X(virGetLastError) X(virGetLastErrorMessage) X(virInitialize) X(virSetErrorFunc) \
	X(virTypedParamsAddString) X(virTypedParamsAddULLong) X(virTypedParamsFree)

#define LV_API_MEMBER(f) __typeof__(f) *f;
struct lv_api {
	LV_API_FUNCS(LV_API_MEMBER)
};
#undef LV_API_MEMBER

/* NULL members until lv_api_load() has succeeded. */
extern struct lv_api lv_api;

/* dlopen libvirt.so.0 and resolve the table, once per process; later calls
 * return the first one's result.  0, or -ENOENT with why in err. */
int lv_api_load(char *err, size_t errlen);

#endif
