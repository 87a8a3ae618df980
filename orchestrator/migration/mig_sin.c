/* SPDX-License-Identifier: MIT */
/* The destination's receive loop: one state per stage of the stream
 * (expecting MEMORY, pages and passes, after DEVICE, after SWITCHOVER, after
 * GO); a
 * section that does not belong to the stage is refused by name. Memory
 * sections go to mig_smem_apply, into the memory the MEMORY hook made; the
 * device section's state blob is copied out of the decoder (whose buffer
 * the next section reuses). The hooks (mig_sin.h) are where a destination
 * makes its memory and starts its device; mig_sin_receive is the reading
 * with the caller's memory and no device. */
#include "mig_sin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mig_smem.h"
#include "util.h"

enum stage { ST_MEMORY, ST_CHANNELS, ST_PAGES, ST_DEVICE, ST_READY, ST_SWITCHED };

static const char *const stage_wants[] = {
	[ST_MEMORY] = "MEMORY",
	[ST_CHANNELS] = "CHANNELS",
	[ST_PAGES] = "PAGES, ZERO, PASS or DEVICE",
	[ST_DEVICE] = "SWITCHOVER",
	[ST_READY] = "GO",
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

/* Does section type t belong to stage st? The stage it leads to in *next
 * (CHANNELS after MEMORY when the header announces several connections). */
static bool fits(enum stage st, uint32_t t, bool chans, enum stage *next)
{
	*next = st;
	switch (st) {
	case ST_MEMORY:
		*next = chans ? ST_CHANNELS : ST_PAGES;
		return t == MIG_SEC_MEMORY;
	case ST_CHANNELS:
		*next = ST_PAGES;
		return t == MIG_SEC_CHANNELS;
	case ST_PAGES:
		if (t == MIG_SEC_DEVICE)
			*next = ST_DEVICE;
		return t == MIG_SEC_PAGES || t == MIG_SEC_ZERO || t == MIG_SEC_PASS ||
		       t == MIG_SEC_DEVICE;
	case ST_DEVICE:
		*next = ST_READY;
		return t == MIG_SEC_SWITCHOVER;
	case ST_READY:
		*next = ST_SWITCHED;
		return t == MIG_SEC_GO;
	case ST_SWITCHED:
		return t == MIG_SEC_END;
	}
	return false;
}

/* The reading's state: the hooks, the memory MEMORY made. */
struct sin {
	const struct mig_sin_hooks *h;
	void *ctx;
	struct gmem *mem;
	uint32_t nchan;          /* connections carrying pages (CHANNELS), else 1 */
	bool switched;
};

static int ready(struct sin *in, char *err, size_t errlen)
{
	return in->h->ready ? in->h->ready(in->ctx, err, errlen) : 0;
}

static int on_memory(struct sin *in, struct mig_sdec *d, const struct mig_ssec *s, char *err,
		     size_t errlen)
{
	int rc = in->h->memory(in->ctx, &s->memory, &in->mem, err, errlen);

	if (rc || (rc = mig_smem_apply(d, s, in->mem, err, errlen)))
		return rc;
	return d->flags & MIG_STREAM_F_CHANNELS ? 0 : ready(in, err, errlen);
}

static int on_channels(struct sin *in, const struct mig_ssec *s, char *err, size_t errlen)
{
	int rc;

	if (!in->h->channels)
		return vhm_err(err, errlen, -EPROTO, "a stream over %u connections: this reader "
			       "takes one", s->chan.count);
	if ((rc = in->h->channels(in->ctx, &s->chan, err, errlen)))
		return rc;
	in->nchan = s->chan.count;
	return ready(in, err, errlen);
}

/* A run on the main connection: with several connections, its stripes. */
static int main_run(struct sin *in, struct mig_sdec *d, const struct mig_ssec *s, char *err,
		    size_t errlen)
{
	if (in->nchan > 1 && (mig_smem_owner(s->pfn, in->nchan) != 0 ||
			      s->pfn / MIG_SMEM_STRIPE != (s->pfn + s->npages - 1) / MIG_SMEM_STRIPE))
		return vhm_err(err, errlen, -EPROTO, "%s run at pfn 0x%llx on the main "
			       "connection: another connection's stripe", mig_sec_name(s->type),
			       (unsigned long long)s->pfn);
	return mig_smem_apply(d, s, in->mem, err, errlen);
}

static int on_device(struct sin *in, const struct mig_ssec *s, struct mig_sin_result *res,
		     char *err, size_t errlen)
{
	int rc;

	if (in->h->pages_done && (rc = in->h->pages_done(in->ctx, err, errlen)))
		return rc;
	return keep_device(s, res, err, errlen);
}

static int on_switchover(struct sin *in, const struct mig_ssec *s, struct mig_sin_result *res,
			 char *err, size_t errlen)
{
	int rc = check_digest(s, in->mem, res, err, errlen);

	if (rc || !in->h->switchover)
		return rc;
	return in->h->switchover(in->ctx, res, err, errlen);
}

static int on_go(struct sin *in, struct mig_sin_result *res, char *err, size_t errlen)
{
	int rc = in->h->go ? in->h->go(in->ctx, res, err, errlen) : 0;

	in->switched = rc == 0;
	return rc;
}

static int one_section(struct sin *in, struct mig_sdec *d, const struct mig_ssec *s,
		       struct mig_sin_result *res, char *err, size_t errlen)
{
	switch (s->type) {
	case MIG_SEC_MEMORY:
		return on_memory(in, d, s, err, errlen);
	case MIG_SEC_CHANNELS:
		return on_channels(in, s, err, errlen);
	case MIG_SEC_PAGES:
		res->data_pages += s->npages;
		return main_run(in, d, s, err, errlen);
	case MIG_SEC_ZERO:
		res->zero_pages += s->npages;
		return main_run(in, d, s, err, errlen);
	case MIG_SEC_PASS:
		res->passes++;
		if (in->h->pass)
			in->h->pass(in->ctx, s->pass, res);
		return 0;
	case MIG_SEC_DEVICE:
		return on_device(in, s, res, err, errlen);
	case MIG_SEC_SWITCHOVER:
		return on_switchover(in, s, res, err, errlen);
	case MIG_SEC_GO:
		return on_go(in, res, err, errlen);
	}
	return 0;
}

int mig_sin_run(struct mig_sdec *d, const struct mig_sin_hooks *h, void *ctx,
		struct mig_sin_result *res, bool *switched, char *err, size_t errlen)
{
	struct sin in = { .h = h, .ctx = ctx, .nchan = 1 };
	enum stage st = ST_MEMORY, next;
	struct mig_ssec s;
	int rc;

	memset(res, 0, sizeof(*res));
	*switched = false;
	if ((rc = mig_sdec_header(d)))
		return vhm_err(err, errlen, rc, "%s", d->err);
	while (!d->ended) {
		if ((rc = mig_sdec_next(d, &s)))
			goto fail_dec;
		if (!fits(st, s.type, d->flags & MIG_STREAM_F_CHANNELS, &next)) {
			rc = vhm_err(err, errlen, -EPROTO, "%s section at byte %llu where %s was "
				     "expected", mig_sec_name(s.type),
				     (unsigned long long)s.offset, stage_wants[st]);
			goto fail;
		}
		rc = one_section(&in, d, &s, res, err, errlen);
		*switched = in.switched;
		if (rc)
			goto fail;
		st = next;
	}
	return 0;
fail_dec:
	vhm_err(err, errlen, rc, "%s", d->err);
fail:
	mig_sin_result_free(res);
	return rc;
}

/* mig_sin_receive's hooks: the caller's memory, its pass callback. */
struct fixed {
	struct gmem *mem;
	mig_sin_pass_fn on_pass;
	void *ctx;
};

static int fixed_memory(void *ctx, const struct mig_stream_memory *m, struct gmem **mem,
			char *err, size_t errlen)
{
	(void)m; (void)err; (void)errlen;
	*mem = ((struct fixed *)ctx)->mem;
	return 0;
}

static void fixed_pass(void *ctx, uint32_t pass, const struct mig_sin_result *sofar)
{
	struct fixed *f = ctx;

	if (f->on_pass)
		f->on_pass(f->ctx, pass, sofar);
}

int mig_sin_receive(struct mig_sdec *d, struct gmem *mem, struct mig_sin_result *res,
		    mig_sin_pass_fn on_pass, void *ctx, char *err, size_t errlen)
{
	static const struct mig_sin_hooks hooks = { .memory = fixed_memory, .pass = fixed_pass };
	struct fixed f = { .mem = mem, .on_pass = on_pass, .ctx = ctx };
	bool switched;

	return mig_sin_run(d, &hooks, &f, res, &switched, err, errlen);
}
