/* SPDX-License-Identifier: MIT */
/* The destination's receive loop: one state per stage of the stream
 * (expecting MEMORY, pages and passes, after DEVICE, after SWITCHOVER); a
 * section that does not belong to the stage is refused by name. Memory
 * sections go to mig_smem_apply; the device section's state blob is copied
 * out of the decoder (whose buffer the next section reuses). */
#include "mig_sin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mig_smem.h"
#include "util.h"

enum stage { ST_MEMORY, ST_PAGES, ST_DEVICE, ST_SWITCHED };

static const char *const stage_wants[] = {
	[ST_MEMORY] = "MEMORY",
	[ST_PAGES] = "PAGES, ZERO, PASS or DEVICE",
	[ST_DEVICE] = "SWITCHOVER",
	[ST_SWITCHED] = "END",
};

void mig_sin_result_free(struct mig_sin_result *res)
{
	free(res->blob);
	res->blob = NULL;
	res->device.blob = NULL;
}

static int keep_device(const struct mig_ssec *s, struct mig_sin_result *res, char *err,
		       size_t errlen)
{
	res->device = s->device;
	res->blob = malloc(s->device.blob_len ? s->device.blob_len : 1);
	if (!res->blob)
		return vhm_err(err, errlen, -ENOMEM, "device state: out of memory");
	memcpy(res->blob, s->device.blob, s->device.blob_len);
	res->device.blob = res->blob;
	return 0;
}

static int check_digest(const struct mig_ssec *s, const struct gmem *mem,
			struct mig_sin_result *res, char *err, size_t errlen)
{
	uint64_t mine = gmem_digest(mem, 0, 0);

	if (mine != s->digest)
		return vhm_err(err, errlen, -EIO, "digests differ: source %016llx, destination "
			       "%016llx", (unsigned long long)s->digest, (unsigned long long)mine);
	res->digest = mine;
	return 0;
}

/* Does section type t belong to stage st? The stage it leads to in *next. */
static bool fits(enum stage st, uint32_t t, enum stage *next)
{
	*next = st;
	switch (st) {
	case ST_MEMORY:
		*next = ST_PAGES;
		return t == MIG_SEC_MEMORY;
	case ST_PAGES:
		if (t == MIG_SEC_DEVICE)
			*next = ST_DEVICE;
		return t == MIG_SEC_PAGES || t == MIG_SEC_ZERO || t == MIG_SEC_PASS ||
		       t == MIG_SEC_DEVICE;
	case ST_DEVICE:
		*next = ST_SWITCHED;
		return t == MIG_SEC_SWITCHOVER;
	case ST_SWITCHED:
		return t == MIG_SEC_END;
	}
	return false;
}

static int one_section(struct mig_sdec *d, const struct mig_ssec *s, struct gmem *mem,
		       struct mig_sin_result *res, char *err, size_t errlen)
{
	switch (s->type) {
	case MIG_SEC_MEMORY:
		return mig_smem_apply(d, s, mem, err, errlen);
	case MIG_SEC_PAGES:
		res->data_pages += s->npages;
		return mig_smem_apply(d, s, mem, err, errlen);
	case MIG_SEC_ZERO:
		res->zero_pages += s->npages;
		return mig_smem_apply(d, s, mem, err, errlen);
	case MIG_SEC_PASS:
		res->passes++;
		return 0;
	case MIG_SEC_DEVICE:
		return keep_device(s, res, err, errlen);
	case MIG_SEC_SWITCHOVER:
		return check_digest(s, mem, res, err, errlen);
	}
	return 0;
}

int mig_sin_receive(struct mig_sdec *d, struct gmem *mem, struct mig_sin_result *res,
		    mig_sin_pass_fn on_pass, void *ctx, char *err, size_t errlen)
{
	enum stage st = ST_MEMORY, next;
	struct mig_ssec s;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = mig_sdec_header(d)))
		return vhm_err(err, errlen, rc, "%s", d->err);
	while (!d->ended) {
		if ((rc = mig_sdec_next(d, &s)))
			goto fail_dec;
		if (!fits(st, s.type, &next)) {
			rc = vhm_err(err, errlen, -EPROTO, "%s section at byte %llu where %s was "
				     "expected", mig_sec_name(s.type),
				     (unsigned long long)s.offset, stage_wants[st]);
			goto fail;
		}
		if ((rc = one_section(d, &s, mem, res, err, errlen)))
			goto fail;
		if (s.type == MIG_SEC_PASS && on_pass)
			on_pass(ctx, s.pass, res);
		st = next;
	}
	return 0;
fail_dec:
	vhm_err(err, errlen, rc, "%s", d->err);
fail:
	mig_sin_result_free(res);
	return rc;
}
