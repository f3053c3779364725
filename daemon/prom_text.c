/*
 * Prometheus' text format (prom_text.h), written by hand: the format is a
 * few lines of rules and a library (prometheus-client-c) would bring its
 * own registry, threads and allocator for what is a string builder here.
 */
#include "prom_text.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

void prom_init(struct prom_buf *b)
{
	b->cap = 4096;
	b->text = xmalloc(b->cap);
	b->text[0] = '\0';
	b->len = 0;
}

void prom_free(struct prom_buf *b)
{
	free(b->text);
	b->text = NULL;
	b->len = b->cap = 0;
}

char *prom_take(struct prom_buf *b, size_t *ret_len)
{
	char *t = b->text;

	*ret_len = b->len;
	b->text = NULL;
	b->len = b->cap = 0;
	return t;
}

static void grow(struct prom_buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	while (b->len + more + 1 > b->cap)
		b->cap *= 2;
	b->text = xrealloc(b->text, b->cap);
}

static void add(struct prom_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct prom_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert(n >= 0);
	grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static bool valid_name(const char *n)
{
	if (!n || !*n || !(n[0] == '_' || n[0] == ':' || (n[0] >= 'a' && n[0] <= 'z') ||
			   (n[0] >= 'A' && n[0] <= 'Z')))
		return false;
	return strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:") ==
	       strlen(n);
}

/* HELP text escapes \ and newline; label values also ". */
static void add_escaped(struct prom_buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			add(b, "\\\\");
		else if (*s == '\n')
			add(b, "\\n");
		else if (quote && *s == '"')
			add(b, "\\\"");
		else
			add(b, "%c", *s);
	}
}

void prom_family(struct prom_buf *b, const char *name, enum prom_type type, const char *help)
{
	assert(valid_name(name));
	add(b, "# HELP %s ", name);
	add_escaped(b, help, false);
	add(b, "\n# TYPE %s %s\n", name, type == PROM_COUNTER ? "counter" : "gauge");
}

static void add_labels(struct prom_buf *b, const char *name, const char *const *labels,
		       size_t n_labels)
{
	assert(valid_name(name));
	add(b, "%s", name);
	if (!n_labels)
		return;
	add(b, "{");
	for (size_t i = 0; i < n_labels; i++) {
		/* Label names starting with __ are Prometheus' own. */
		assert(valid_name(labels[2 * i]) && strncmp(labels[2 * i], "__", 2) != 0);
		add(b, "%s%s=\"", i ? "," : "", labels[2 * i]);
		add_escaped(b, labels[2 * i + 1] ? labels[2 * i + 1] : "", true);
		add(b, "\"");
	}
	add(b, "}");
}

/* The shortest of %.15g and %.17g that reads back as the same double. */
static const char *shortest(double v, char *buf, size_t len)
{
	snprintf(buf, len, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, len, "%.17g", v);
	return buf;
}

void prom_sample(struct prom_buf *b, const char *name, const char *const *labels,
		 size_t n_labels, double value)
{
	char num[40];

	add_labels(b, name, labels, n_labels);
	if (isnan(value))
		add(b, " NaN\n");
	else if (isinf(value))
		add(b, " %sInf\n", value > 0 ? "+" : "-");
	else
		add(b, " %s\n", shortest(value, num, sizeof(num)));
}

void prom_sample_u64(struct prom_buf *b, const char *name, const char *const *labels,
		     size_t n_labels, uint64_t value)
{
	add_labels(b, name, labels, n_labels);
	add(b, " %" PRIu64 "\n", value);
}
