/* SPDX-License-Identifier: MIT */
/* The migration stream's encoder and decoder (format in mig_stream.h and
 * docs/stream.md). Every section is a small fixed payload, built in a local
 * buffer with the le* helpers and written in one call; a PAGES section's
 * page bytes follow its fixed part, written and read straight from and
 * into guest memory. Both ends keep a CRC32C of every byte they passed: the
 * END section carries the encoder's, the decoder compares its own. */
#include "mig_stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_LEN   16u         /* magic, version, flags */
#define SEC_LEN   8u          /* type, payload length */
#define MEM_FIXED 16u         /* total, n, 0 */
#define DEV_FIXED 24u         /* features, nrings, blob_len, mac, 0 */
#define CHAN_FIXED 16u        /* id, count, 0 */
#define HELLO_LEN 28u         /* magic, version, index, count, id */

/* ---- little-endian fields ----------------------------------------------- */

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p + 4) << 32 | get32(p);
}

/* ---- CRC32C ---------------------------------------------------------------- */

static uint32_t crc_table[256];

static void crc_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0x82f63b78u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_soft(uint32_t c, const uint8_t *p, size_t n)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, crc_table_init);
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
/* The SSE4.2 instruction computes the same CRC32C, 8 bytes at a time. */
__attribute__((target("sse4.2")))
static uint32_t crc_hard(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c64 = c;

	for (; n >= 8; n -= 8, p += 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
	}
	c = (uint32_t)c64;
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t mig_stream_crc(uint32_t crc, const void *p, size_t n)
{
	uint32_t c = ~crc;

#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hard(c, p, n);
#endif
	return ~crc_soft(c, p, n);
}

const char *mig_sec_name(uint32_t type)
{
	static const char *const names[] = {
		[MIG_SEC_MEMORY] = "MEMORY", [MIG_SEC_PAGES] = "PAGES", [MIG_SEC_ZERO] = "ZERO",
		[MIG_SEC_PASS] = "PASS", [MIG_SEC_DEVICE] = "DEVICE",
		[MIG_SEC_SWITCHOVER] = "SWITCHOVER", [MIG_SEC_END] = "END", [MIG_SEC_GO] = "GO",
		[MIG_SEC_CHANNELS] = "CHANNELS",
	};

	return type < sizeof(names) / sizeof(names[0]) && names[type] ? names[type] : "unknown";
}

/* ---- encoder --------------------------------------------------------------- */

void mig_senc_init(struct mig_senc *e, mig_stream_out_fn out, void *ctx)
{
	*e = (struct mig_senc){ .out = out, .ctx = ctx };
}

static int put(struct mig_senc *e, const void *p, size_t n)
{
	int rc = e->out(e->ctx, p, n);

	if (rc)
		return rc;
	e->crc = mig_stream_crc(e->crc, p, n);
	e->bytes += n;
	return 0;
}

/* A section's header and its fixed payload (len bytes of fixed, total
 * payload length `payload`: more bytes follow for PAGES and DEVICE). */
static int put_section(struct mig_senc *e, uint32_t type, const uint8_t *fixed, uint32_t len,
		       uint32_t payload)
{
	uint8_t h[SEC_LEN];
	int rc;

	if (e->ended)
		return -EINVAL;
	le32(h, type);
	le32(h + 4, payload);
	if ((rc = put(e, h, sizeof(h))))
		return rc;
	return len ? put(e, fixed, len) : 0;
}

int mig_senc_header(struct mig_senc *e)
{
	uint8_t h[HDR_LEN];

	memcpy(h, MIG_STREAM_MAGIC, 8);
	le32(h + 8, MIG_STREAM_VERSION);
	le32(h + 12, e->flags);
	return put(e, h, sizeof(h));
}

int mig_senc_channels(struct mig_senc *e, const struct mig_stream_chan *c)
{
	uint8_t b[CHAN_FIXED] = { 0 };

	if (!(e->flags & MIG_STREAM_F_CHANNELS))
		return -EINVAL;
	le64(b, c->id);
	le32(b + 8, c->count);
	return put_section(e, MIG_SEC_CHANNELS, b, sizeof(b), sizeof(b));
}

int mig_senc_hello(struct mig_senc *e, const struct mig_stream_chan *c)
{
	uint8_t h[HELLO_LEN];

	memcpy(h, MIG_STREAM_CHAN_MAGIC, 8);
	le32(h + 8, MIG_STREAM_VERSION);
	le32(h + 12, c->index);
	le32(h + 16, c->count);
	le64(h + 20, c->id);
	return put(e, h, sizeof(h));
}

int mig_senc_memory(struct mig_senc *e, const struct mig_stream_memory *m)
{
	uint8_t b[MEM_FIXED + 16 * MIG_STREAM_REGIONS] = { 0 };

	if (!m->n || m->n > MIG_STREAM_REGIONS)
		return -EINVAL;
	le64(b, m->total);
	le32(b + 8, m->n);
	for (uint32_t i = 0; i < m->n; i++) {
		le64(b + MEM_FIXED + 16 * i, m->r[i].gpa);
		le64(b + MEM_FIXED + 16 * i + 8, m->r[i].size);
	}
	return put_section(e, MIG_SEC_MEMORY, b, MEM_FIXED + 16 * m->n, MEM_FIXED + 16 * m->n);
}

int mig_senc_pages(struct mig_senc *e, uint64_t pfn, uint32_t n, const void *data)
{
	uint8_t b[16] = { 0 };
	int rc;

	if (!n || n > MIG_STREAM_RUN_MAX)
		return -EINVAL;
	le64(b, pfn);
	le32(b + 8, n);
	if ((rc = put_section(e, MIG_SEC_PAGES, b, sizeof(b),
			      (uint32_t)sizeof(b) + n * MIG_STREAM_PAGE)))
		return rc;
	return put(e, data, (size_t)n * MIG_STREAM_PAGE);
}

int mig_senc_zero(struct mig_senc *e, uint64_t pfn, uint64_t n)
{
	uint8_t b[16];

	if (!n)
		return -EINVAL;
	le64(b, pfn);
	le64(b + 8, n);
	return put_section(e, MIG_SEC_ZERO, b, sizeof(b), sizeof(b));
}

int mig_senc_pass(struct mig_senc *e, uint32_t pass)
{
	uint8_t b[8] = { 0 };

	le32(b, pass);
	return put_section(e, MIG_SEC_PASS, b, sizeof(b), sizeof(b));
}

int mig_senc_device(struct mig_senc *e, const struct mig_stream_device *dev)
{
	uint8_t b[DEV_FIXED + 4 * MIG_STREAM_RINGS] = { 0 };
	uint32_t len;
	int rc;

	if (dev->nrings > MIG_STREAM_RINGS || dev->blob_len > MIG_STREAM_BLOB_MAX)
		return -EINVAL;
	le64(b, dev->features);
	le32(b + 8, dev->nrings);
	le32(b + 12, dev->blob_len);
	memcpy(b + 16, dev->mac, 6);
	for (uint32_t i = 0; i < dev->nrings; i++)
		le32(b + DEV_FIXED + 4 * i, dev->bases[i]);
	len = DEV_FIXED + 4 * dev->nrings;
	if ((rc = put_section(e, MIG_SEC_DEVICE, b, len, len + dev->blob_len)))
		return rc;
	return dev->blob_len ? put(e, dev->blob, dev->blob_len) : 0;
}

int mig_senc_switchover(struct mig_senc *e, uint64_t digest)
{
	uint8_t b[8];

	le64(b, digest);
	return put_section(e, MIG_SEC_SWITCHOVER, b, sizeof(b), sizeof(b));
}

int mig_senc_go(struct mig_senc *e)
{
	return put_section(e, MIG_SEC_GO, NULL, 0, 0);
}

int mig_senc_end(struct mig_senc *e)
{
	uint8_t b[4];
	int rc;

	le32(b, e->crc);       /* of everything before END's header */
	rc = put_section(e, MIG_SEC_END, b, sizeof(b), sizeof(b));
	e->ended = rc == 0;
	return rc;
}

/* ---- decoder --------------------------------------------------------------- */

static int derr(struct mig_sdec *d, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int derr(struct mig_sdec *d, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return rc;
}

int mig_sdec_init(struct mig_sdec *d, mig_stream_in_fn in, void *ctx)
{
	*d = (struct mig_sdec){ .in = in, .ctx = ctx };
	d->blob = malloc(MIG_STREAM_BLOB_MAX);
	return d->blob ? 0 : -ENOMEM;
}

void mig_sdec_destroy(struct mig_sdec *d)
{
	free(d->blob);
	d->blob = NULL;
}

/* Exactly n bytes, or an error naming where the stream ended. */
static int get(struct mig_sdec *d, void *p, size_t n)
{
	uint8_t *b = p;
	size_t got = 0;

	while (got < n) {
		long r = d->in(d->ctx, b + got, n - got);

		if (r < 0)
			return derr(d, (int)r, "reading the stream at byte %llu: %s",
				    (unsigned long long)(d->bytes + got), strerror((int)-r));
		if (r == 0)
			return derr(d, -EPIPE, "stream truncated at byte %llu%s%s",
				    (unsigned long long)(d->bytes + got),
				    d->cur ? ", inside section " : " (no END section)",
				    d->cur ? mig_sec_name(d->cur) : "");
		got += (size_t)r;
	}
	d->crc = mig_stream_crc(d->crc, p, n);
	d->bytes += n;
	return 0;
}

int mig_sdec_header(struct mig_sdec *d)
{
	uint8_t h[HDR_LEN];
	uint32_t v;
	int rc;

	if ((rc = get(d, h, sizeof(h))))
		return rc;
	if (memcmp(h, MIG_STREAM_MAGIC, 8))
		return derr(d, -EPROTO, "not a vhm migration stream (bad magic)");
	v = get32(h + 8);
	if (v != MIG_STREAM_VERSION)
		return derr(d, -EPROTO, "migration stream version %u; this vhm reads version %u",
			    v, MIG_STREAM_VERSION);
	if (get32(h + 12) & ~MIG_STREAM_F_CHANNELS)
		return derr(d, -EPROTO, "migration stream flags 0x%x: this vhm knows 0x%x",
			    get32(h + 12), MIG_STREAM_F_CHANNELS);
	d->flags = get32(h + 12);
	d->have_header = true;
	return 0;
}

int mig_sdec_hello(struct mig_sdec *d, const struct mig_stream_memory *m,
		   struct mig_stream_chan *c)
{
	uint8_t h[HELLO_LEN];
	int rc;

	if ((rc = get(d, h, sizeof(h))))
		return rc;
	if (memcmp(h, MIG_STREAM_CHAN_MAGIC, 8))
		return derr(d, -EPROTO, "not a vhm page connection (bad hello)");
	if (get32(h + 8) != MIG_STREAM_VERSION)
		return derr(d, -EPROTO, "page connection version %u; this vhm reads version %u",
			    get32(h + 8), MIG_STREAM_VERSION);
	c->index = get32(h + 12);
	c->count = get32(h + 16);
	c->id = get64(h + 20);
	d->memory = *m;
	d->have_memory = d->have_header = true;
	return 0;
}

static int dec_channels(struct mig_sdec *d, struct mig_ssec *s, uint32_t len)
{
	uint8_t b[CHAN_FIXED];
	int rc;

	if (!(d->flags & MIG_STREAM_F_CHANNELS))
		return derr(d, -EPROTO, "CHANNELS section in a stream whose header does not "
			    "announce it");
	if (len != CHAN_FIXED)
		return derr(d, -EPROTO, "CHANNELS section of %u bytes, not %u", len, CHAN_FIXED);
	if ((rc = get(d, b, sizeof(b))))
		return rc;
	s->chan = (struct mig_stream_chan){ .id = get64(b), .count = get32(b + 8) };
	return 0;
}

/* Does the run [pfn, pfn + n) lie inside one region the stream announced? */
static bool run_inside(const struct mig_stream_memory *m, uint64_t pfn, uint64_t n)
{
	for (uint32_t i = 0; i < m->n; i++) {
		uint64_t lo = m->r[i].gpa / MIG_STREAM_PAGE, pages = m->r[i].size / MIG_STREAM_PAGE;

		if (pfn >= lo && pfn - lo < pages && n <= pages - (pfn - lo))
			return true;
	}
	return false;
}

static int dec_memory(struct mig_sdec *d, struct mig_ssec *s, uint32_t len)
{
	uint8_t b[MEM_FIXED + 16 * MIG_STREAM_REGIONS];
	struct mig_stream_memory *m = &s->memory;
	uint64_t sum = 0;
	int rc;

	if (len < MEM_FIXED || len > sizeof(b) || (len - MEM_FIXED) % 16)
		return derr(d, -EPROTO, "MEMORY section of %u bytes", len);
	if ((rc = get(d, b, len)))
		return rc;
	m->total = get64(b);
	m->n = get32(b + 8);
	if (m->n != (len - MEM_FIXED) / 16 || !m->n)
		return derr(d, -EPROTO, "MEMORY section lists %u regions in %u bytes", m->n, len);
	for (uint32_t i = 0; i < m->n; i++) {
		m->r[i].gpa = get64(b + MEM_FIXED + 16 * i);
		m->r[i].size = get64(b + MEM_FIXED + 16 * i + 8);
		if ((m->r[i].gpa | m->r[i].size) % MIG_STREAM_PAGE || !m->r[i].size ||
		    m->r[i].gpa + m->r[i].size < m->r[i].gpa)
			return derr(d, -EPROTO, "MEMORY region %u: 0x%llx+0x%llx is not page-aligned "
				    "memory", i, (unsigned long long)m->r[i].gpa,
				    (unsigned long long)m->r[i].size);
		sum += m->r[i].size;
	}
	if (sum != m->total)
		return derr(d, -EPROTO, "MEMORY regions add up to %llu bytes, not %llu",
			    (unsigned long long)sum, (unsigned long long)m->total);
	d->memory = *m;
	d->have_memory = true;
	return 0;
}

/* PAGES and ZERO: a run inside the announced memory. */
static int dec_run(struct mig_sdec *d, struct mig_ssec *s, uint32_t len)
{
	uint8_t b[16];
	int rc;

	if (!d->have_memory)
		return derr(d, -EPROTO, "%s section before the MEMORY section",
			    mig_sec_name(s->type));
	if (len < sizeof(b))
		return derr(d, -EPROTO, "%s section of %u bytes", mig_sec_name(s->type), len);
	if ((rc = get(d, b, sizeof(b))))
		return rc;
	s->pfn = get64(b);
	s->npages = s->type == MIG_SEC_ZERO ? get64(b + 8) : get32(b + 8);
	if (s->type == MIG_SEC_ZERO && len != sizeof(b))
		return derr(d, -EPROTO, "ZERO section of %u bytes, not 16", len);
	if (s->type == MIG_SEC_PAGES &&
	    (s->npages > MIG_STREAM_RUN_MAX || len != sizeof(b) + s->npages * MIG_STREAM_PAGE))
		return derr(d, -EPROTO, "PAGES section of %u bytes for %llu pages", len,
			    (unsigned long long)s->npages);
	if (!s->npages || !run_inside(&d->memory, s->pfn, s->npages))
		return derr(d, -EPROTO, "%s run of %llu pages at pfn 0x%llx is outside guest memory",
			    mig_sec_name(s->type), (unsigned long long)s->npages,
			    (unsigned long long)s->pfn);
	if (s->type == MIG_SEC_PAGES)
		d->data_left = s->npages * MIG_STREAM_PAGE;
	return 0;
}

static int dec_device(struct mig_sdec *d, struct mig_ssec *s, uint32_t len)
{
	uint8_t b[DEV_FIXED + 4 * MIG_STREAM_RINGS];
	struct mig_stream_device *v = &s->device;
	int rc;

	if (len < DEV_FIXED)
		return derr(d, -EPROTO, "DEVICE section of %u bytes", len);
	if ((rc = get(d, b, DEV_FIXED)))
		return rc;
	v->features = get64(b);
	v->nrings = get32(b + 8);
	v->blob_len = get32(b + 12);
	memcpy(v->mac, b + 16, 6);
	if (v->nrings > MIG_STREAM_RINGS || v->blob_len > MIG_STREAM_BLOB_MAX ||
	    len != DEV_FIXED + 4 * v->nrings + v->blob_len)
		return derr(d, -EPROTO, "DEVICE section of %u bytes for %u rings and a %u-byte "
			    "state", len, v->nrings, v->blob_len);
	if ((rc = get(d, b + DEV_FIXED, 4 * v->nrings)) || (rc = get(d, d->blob, v->blob_len)))
		return rc;
	for (uint32_t i = 0; i < v->nrings; i++)
		v->bases[i] = get32(b + DEV_FIXED + 4 * i);
	v->blob = d->blob;
	return 0;
}

/* A fixed payload of exactly `want` bytes into b. */
static int dec_fixed(struct mig_sdec *d, uint32_t type, uint32_t len, uint8_t *b, uint32_t want)
{
	if (len != want)
		return derr(d, -EPROTO, "%s section of %u bytes, not %u", mig_sec_name(type), len,
			    want);
	return get(d, b, want);
}

static int dec_end(struct mig_sdec *d, uint32_t len, uint32_t crc_before)
{
	uint8_t b[4];
	int rc;

	if ((rc = dec_fixed(d, MIG_SEC_END, len, b, 4)))
		return rc;
	if (get32(b) != crc_before)
		return derr(d, -EBADMSG, "migration stream checksum 0x%08x, the bytes received "
			    "give 0x%08x", get32(b), crc_before);
	d->ended = true;
	return 0;
}

int mig_sdec_next(struct mig_sdec *d, struct mig_ssec *s)
{
	uint32_t crc_before = d->crc, len;
	uint8_t h[SEC_LEN], b[8];
	int rc;

	if (!d->have_header || d->ended)
		return derr(d, -EINVAL, d->ended ? "nothing follows END" : "header not read");
	if (d->data_left)
		return derr(d, -EINVAL, "%llu page bytes of a PAGES section not read",
			    (unsigned long long)d->data_left);
	memset(s, 0, sizeof(*s));
	s->offset = d->bytes;
	d->cur = 0;
	if ((rc = get(d, h, sizeof(h))))
		return rc;
	s->type = d->cur = get32(h);
	len = get32(h + 4);
	switch (s->type) {
	case MIG_SEC_MEMORY: return dec_memory(d, s, len);
	case MIG_SEC_PAGES:
	case MIG_SEC_ZERO: return dec_run(d, s, len);
	case MIG_SEC_DEVICE: return dec_device(d, s, len);
	case MIG_SEC_END: return dec_end(d, len, crc_before);
	case MIG_SEC_CHANNELS: return dec_channels(d, s, len);
	case MIG_SEC_PASS:
		if ((rc = dec_fixed(d, s->type, len, b, 8)))
			return rc;
		s->pass = get32(b);
		return 0;
	case MIG_SEC_SWITCHOVER:
		if ((rc = dec_fixed(d, s->type, len, b, 8)))
			return rc;
		s->digest = get64(b);
		return 0;
	case MIG_SEC_GO:
		return dec_fixed(d, s->type, len, b, 0);
	}
	return derr(d, -EPROTO, "unknown section type %u at byte %llu", s->type,
		    (unsigned long long)s->offset);
}

int mig_sdec_data(struct mig_sdec *d, void *p, size_t n)
{
	int rc;

	if (n > d->data_left)
		return derr(d, -EINVAL, "%zu page bytes asked, %llu left in the PAGES section", n,
			    (unsigned long long)d->data_left);
	if ((rc = get(d, p, n)))
		return rc;
	d->data_left -= n;
	if (!d->data_left)
		d->cur = 0;
	return 0;
}

/* ---- answers ----------------------------------------------------------------- */

#define ACK_MAGIC "VHMA"
#define ACK_FIXED 12u

const char *mig_ack_name(uint32_t code)
{
	switch (code) {
	case MIG_ACK_READY: return "READY";
	case MIG_ACK_RUNNING: return "RUNNING";
	case MIG_ACK_FAILED: return "FAILED";
	}
	return "unknown";
}

int mig_ack_send(mig_stream_out_fn out, void *ctx, uint32_t code, const char *text)
{
	uint8_t b[ACK_FIXED + MIG_ACK_TEXT_MAX];
	size_t n = text ? strlen(text) : 0;

	if (n > MIG_ACK_TEXT_MAX)
		return -EINVAL;
	memcpy(b, ACK_MAGIC, 4);
	le32(b + 4, code);
	le32(b + 8, (uint32_t)n);
	if (n)
		memcpy(b + ACK_FIXED, text, n);
	return out(ctx, b, ACK_FIXED + n);
}

/* Exactly n bytes of an answer: 0, -EPIPE at the peer's close, or -errno. */
static int ack_get(mig_stream_in_fn in, void *ctx, uint8_t *p, size_t n)
{
	for (size_t got = 0; got < n;) {
		long r = in(ctx, p + got, n - got);

		if (r <= 0)
			return r ? (int)r : -EPIPE;
		got += (size_t)r;
	}
	return 0;
}

int mig_ack_recv(mig_stream_in_fn in, void *ctx, uint32_t *code, char *text, size_t textlen,
		 char *err, size_t errlen)
{
	uint8_t b[ACK_FIXED + MIG_ACK_TEXT_MAX];
	uint32_t n;
	int rc;

	if ((rc = ack_get(in, ctx, b, ACK_FIXED)))
		goto io;
	n = get32(b + 8);
	*code = get32(b + 4);
	if (memcmp(b, ACK_MAGIC, 4) || n > MIG_ACK_TEXT_MAX || !strcmp(mig_ack_name(*code),
								       "unknown")) {
		snprintf(err, errlen, "the destination's answer is not one (code %u, %u bytes)",
			 *code, n);
		return -EPROTO;
	}
	if ((rc = ack_get(in, ctx, b + ACK_FIXED, n)))
		goto io;
	snprintf(text, textlen, "%.*s", (int)n, (const char *)b + ACK_FIXED);
	return 0;
io:
	snprintf(err, errlen, rc == -EPIPE ? "the destination closed the connection" :
		 "reading the destination's answer: %s", strerror(-rc));
	return rc;
}
