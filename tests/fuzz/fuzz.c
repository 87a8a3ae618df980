/* SPDX-License-Identifier: MIT */
/* fuzz — the peer-stream replay and the seed writer shared by the harnesses
 * (the format is described in fuzz.h). */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static int make_fd(int eventfds)
{
	int fd;

	if (eventfds)
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fd = memfd_create("vhm-fuzz", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, FZ_MEMFD_SIZE)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_chunk(int sock, const uint8_t *p, size_t n, int nfds, int eventfds)
{
	union { char buf[CMSG_SPACE(3 * sizeof(int))]; struct cmsghdr align; } u;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[3], made = 0, rc;

	for (; made < nfds; made++)
		if ((fds[made] = make_fd(eventfds)) < 0)
			break;
	if (made) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(made * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(made * sizeof(int));
		memcpy(CMSG_DATA(c), fds, made * sizeof(int));
	}
	rc = (int)sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (int i = 0; i < made; i++)
		close(fds[i]);   /* the receiver holds its own copies now */
	return rc == (int)n ? 0 : -1;
}

int fz_replay(int sock, const uint8_t *data, size_t len)
{
	int chunks = 0;

	while (len >= 3) {
		uint8_t h = data[0];
		size_t n = (size_t)data[1] | (size_t)data[2] << 8;

		data += 3;
		len -= 3;
		if (n > len)
			n = len;
		if (!n || send_chunk(sock, data, n, h & 3, (h >> 2) & 1))
			break;
		chunks++;
		data += n;
		len -= n;
	}
	shutdown(sock, SHUT_WR);
	return chunks;
}

void fz_put(struct fz_seed *s, const void *p, size_t n)
{
	if (s->n + n > sizeof(s->b))
		abort();   /* a seed written wrong: fix the harness */
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

void fz_chunk(struct fz_seed *s, int nfds, int eventfds, const void *p, uint16_t n)
{
	uint8_t h[3] = { (uint8_t)((nfds & 3) | (eventfds ? 4 : 0)), (uint8_t)n,
			 (uint8_t)(n >> 8) };

	fz_put(s, h, 3);
	fz_put(s, p, n);
}

void fz_msg(struct fz_seed *s, uint32_t request, uint32_t flags, const void *payload,
	    uint32_t size, int nfds, int eventfds)
{
	uint8_t m[12 + 256];
	uint32_t hdr[3] = { request, flags, size };

	if (size > sizeof(m) - 12)
		abort();
	memcpy(m, hdr, 12);
	if (size)
		memcpy(m + 12, payload, size);
	fz_chunk(s, nfds, eventfds, m, (uint16_t)(12 + size));
}

const char *fz_seed_dir(void)
{
	return getenv("VHM_FUZZ_SEEDS");
}

void fz_seed_save(const struct fz_seed *s, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fz_seed_dir(), name);
	f = fopen(path, "wbx");   /* never replace a file: a corpus entry is kept */
	if (!f) {
		fprintf(stderr, "fuzz seeds: %s: %s\n", path, strerror(errno));
		return;
	}
	fwrite(s->b, 1, s->n, f);
	fclose(f);
}
