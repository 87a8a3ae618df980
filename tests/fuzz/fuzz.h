/* SPDX-License-Identifier: MIT */
/* fuzz — what vhm's libFuzzer harnesses share: the "peer stream" input
 * format, which replays bytes and fds into a socket the way a peer process
 * would, and the seed writer.
 *
 * Peer stream: a sequence of chunks, each sent by its own sendmsg() so that
 * its fds arrive with its first byte (the kernel does not merge data across
 * SCM_RIGHTS boundaries on a Unix stream socket):
 *
 *   byte  h      bits 0-1: fds to attach (0-3); bit 2: their kind
 *                (0: a 1 MiB memfd, 1: an eventfd)
 *   u16   len    little endian; cut to what is left of the input
 *   len bytes    the data
 *
 * A vhost-user message is a chunk: fz_msg() builds one for the seeds.
 *
 * Seeds: run a harness with VHM_FUZZ_SEEDS=DIR and it writes its seed inputs
 * there and exits (make fuzz-seeds); the committed corpora under
 * tests/fuzz/corpus/ started from those. */
#ifndef VHM_FUZZ_H
#define VHM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define FZ_MEMFD_SIZE (1u << 20)
#define FZ_SEED_MAX   8192

/* A seed being built. */
struct fz_seed {
	uint8_t b[FZ_SEED_MAX];
	size_t n;
};

/* Write the chunks of data[0..len) to sock (the peer's end), then shut its
 * sending side so the reader sees end of file after the last chunk.  Stops
 * early if the socket will not take more.  Returns the chunks sent. */
int fz_replay(int sock, const uint8_t *data, size_t len);

/* Append raw bytes; append one chunk; append a vhost-user message chunk. */
void fz_put(struct fz_seed *s, const void *p, size_t n);
void fz_chunk(struct fz_seed *s, int nfds, int eventfds, const void *p, uint16_t n);
void fz_msg(struct fz_seed *s, uint32_t request, uint32_t flags, const void *payload,
	    uint32_t size, int nfds, int eventfds);

/* In seed mode (VHM_FUZZ_SEEDS set): write s as DIR/name. */
void fz_seed_save(const struct fz_seed *s, const char *name);
/* The seed directory, or NULL outside seed mode. */
const char *fz_seed_dir(void);

#endif
