/*
 * Small helpers every drover binary uses: aborting allocators, cleanup
 * attributes and string helpers.
 *
 * Allocation failure aborts (as chrony and libvirt do): a daemon that
 * half-applied a replicated state change is worse than one that died and is
 * fenced. Cleanup attributes (after systemd's cleanup-fundamental.h) keep early
 * returns from leaking.
 */
#ifndef DROVER_UTIL_H
#define DROVER_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Copy src into dst of size n, always NUL-terminated; -ENAMETOOLONG if cut. */
int strscpy(char *dst, const char *src, size_t n);

/* Parse a whole decimal unsigned number in [min, max]; -EINVAL / -ERANGE. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand a pointer out of a cleanup scope. */
#define TAKE_PTR(p)                                                                \
	({                                                                         \
		__typeof__(p) _tp = (p);                                           \
		(p) = NULL;                                                        \
		_tp;                                                               \
	})

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                    \
	static inline void func##p(type *p)                                        \
	{                                                                          \
		if (*p)                                                            \
			func(*p);                                                  \
	}

/* Monotonic clock in milliseconds: the only time the decision code sees. */
uint64_t now_ms(void);
/* Wall-clock milliseconds since the epoch: for times that travel between nodes and into logs. */
uint64_t wall_ms(void);

#endif
