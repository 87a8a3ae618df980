/* gmem — see gmem.h. */
#include "gmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int region_create(struct gmem_region *r, uint64_t gpa, uint64_t size, const char *name,
			 char *err, size_t errlen)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	void *p;

	r->gpa = gpa;
	r->size = size;
	r->fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->fd < 0) {
		snprintf(err, errlen, "memfd_create %s: %s", name, strerror(errno));
		return -errno;
	}
	if (ftruncate(r->fd, (off_t)size) < 0 || fcntl(r->fd, F_ADD_SEALS, seals) < 0) {
		snprintf(err, errlen, "sizing/sealing %s (%llu bytes): %s", name,
			 (unsigned long long)size, strerror(errno));
		goto fail;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, r->fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap %s (%llu bytes): %s", name, (unsigned long long)size,
			 strerror(errno));
		goto fail;
	}
	r->hva = p;
	return 0;
fail:
	close(r->fd);
	r->fd = -1;
	return -errno;
}

int gmem_create(struct gmem *m, uint64_t total, const char *tag, char *err, size_t errlen)
{
	uint64_t low = total < GMEM_LOW_TOP ? total : GMEM_LOW_TOP;
	char name[64];
	int rc;

	memset(m, 0, sizeof(*m));
	if (total % GMEM_PAGE_SIZE || total < GMEM_MIN_SIZE || total > GMEM_MAX_SIZE) {
		snprintf(err, errlen, "guest memory %llu bytes: must be a multiple of 4 KiB "
			 "between 32 MiB and 1 TiB", (unsigned long long)total);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "vhm-guest-%s-low", tag);
	if ((rc = region_create(&m->r[0], 0, low, name, err, errlen)))
		return rc;
	m->n = 1;
	m->top = low;
	if (total > low) {
		snprintf(name, sizeof(name), "vhm-guest-%s-high", tag);
		rc = region_create(&m->r[1], GMEM_HIGH_BASE, total - low, name, err, errlen);
		if (rc) {
			gmem_destroy(m);
			return rc;
		}
		m->n = 2;
		m->top = GMEM_HIGH_BASE + total - low;
	}
	m->total = total;
	return 0;
}

void gmem_destroy(struct gmem *m)
{
	for (int i = 0; i < m->n; i++) {
		munmap(m->r[i].hva, m->r[i].size);
		close(m->r[i].fd);
	}
	m->n = 0;
}

int gmem_region_of(const struct gmem *m, uint64_t gpa)
{
	for (int i = 0; i < m->n; i++)
		if (gpa >= m->r[i].gpa && gpa - m->r[i].gpa < m->r[i].size)
			return i;
	return -1;
}

void *gmem_hva(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	int i = gmem_region_of(m, gpa);

	if (i < 0 || len > m->r[i].size - (gpa - m->r[i].gpa))
		return NULL;
	return m->r[i].hva + (gpa - m->r[i].gpa);
}

int gmem_gpa(const struct gmem *m, const void *hva, uint64_t *gpa)
{
	const uint8_t *p = hva;

	for (int i = 0; i < m->n; i++) {
		if (p >= m->r[i].hva && (uint64_t)(p - m->r[i].hva) < m->r[i].size) {
			*gpa = m->r[i].gpa + (uint64_t)(p - m->r[i].hva);
			return 0;
		}
	}
	return -EFAULT;
}

void gmem_vhu_regions(const struct gmem *m, struct vhu_mem_region *out, int *fds)
{
	for (int i = 0; i < m->n; i++) {
		out[i].guest_phys_addr = m->r[i].gpa;
		out[i].memory_size = m->r[i].size;
		out[i].userspace_addr = (uint64_t)(uintptr_t)m->r[i].hva;
		out[i].mmap_offset = 0;
		fds[i] = m->r[i].fd;
	}
}
