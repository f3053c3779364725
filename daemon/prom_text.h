/*
 * The Prometheus text exposition format (version 0.0.4), written into a
 * growing buffer: a family's # HELP and # TYPE lines, then its samples with
 * their labels. Pure code, no droverd.h: metrics.c says what is measured.
 *
 * A caller must know: every sample of a family follows its prom_family()
 * at once (the format requires a family's lines to be together); label
 * values are escaped here (\\, \" and \n), names are the caller's and must
 * match [a-zA-Z_:][a-zA-Z0-9_:]* (checked with assert: they are constants).
 */
#ifndef DROVER_PROM_TEXT_H
#define DROVER_PROM_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct prom_buf {
	char *text; /* NUL-terminated; owned */
	size_t len, cap;
};

enum prom_type { PROM_GAUGE, PROM_COUNTER };

void prom_init(struct prom_buf *b);
void prom_free(struct prom_buf *b);
/* Hand the text out (the caller frees it) and leave b empty. */
char *prom_take(struct prom_buf *b, size_t *ret_len);

void prom_family(struct prom_buf *b, const char *name, enum prom_type type, const char *help);
/*
 * One sample: name{k1="v1",k2="v2"} value. labels holds n_labels pairs
 * (name, value), flattened: { "node", "n1", "state", "active" }.
 */
void prom_sample(struct prom_buf *b, const char *name, const char *const *labels,
		 size_t n_labels, double value);
/* The same for integer values (exact up to 2^64, where a double is not). */
void prom_sample_u64(struct prom_buf *b, const char *name, const char *const *labels,
		     size_t n_labels, uint64_t value);

#endif
