/*
 * The Prometheus text format as daemon/prom_text.c writes it: HELP and TYPE
 * lines, labels with escaped values, integer and floating values.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "prom_text.h"

static void test_families_and_samples(void **st)
{
	struct prom_buf b;
	const char *labels[] = { "node", "n1", "state", "active" };
	const char *res[] = { "result", "ok" };
	char *text;
	size_t len;

	(void)st;
	prom_init(&b);
	prom_family(&b, "drover_quorate", PROM_GAUGE, "Whether this node's partition is quorate.");
	prom_sample_u64(&b, "drover_quorate", NULL, 0, 1);
	prom_family(&b, "drover_node_state", PROM_GAUGE, "A node's state (1 for its state).");
	prom_sample_u64(&b, "drover_node_state", labels, 2, 1);
	prom_family(&b, "drover_migrations_total", PROM_COUNTER, "Finished migrations.");
	prom_sample_u64(&b, "drover_migrations_total", res, 1, UINT64_MAX);
	prom_family(&b, "drover_rate", PROM_GAUGE, "A rate.");
	prom_sample(&b, "drover_rate", NULL, 0, 0.1);
	prom_sample(&b, "drover_rate", NULL, 0, 1.5e9);
	prom_sample(&b, "drover_rate", NULL, 0, NAN);
	prom_sample(&b, "drover_rate", NULL, 0, -INFINITY);
	text = prom_take(&b, &len);
	assert_int_equal(strlen(text), len);
	assert_string_equal(text,
			    "# HELP drover_quorate Whether this node's partition is quorate.\n"
			    "# TYPE drover_quorate gauge\n"
			    "drover_quorate 1\n"
			    "# HELP drover_node_state A node's state (1 for its state).\n"
			    "# TYPE drover_node_state gauge\n"
			    "drover_node_state{node=\"n1\",state=\"active\"} 1\n"
			    "# HELP drover_migrations_total Finished migrations.\n"
			    "# TYPE drover_migrations_total counter\n"
			    "drover_migrations_total{result=\"ok\"} 18446744073709551615\n"
			    "# HELP drover_rate A rate.\n"
			    "# TYPE drover_rate gauge\n"
			    "drover_rate 0.1\n"
			    "drover_rate 1500000000\n"
			    "drover_rate NaN\n"
			    "drover_rate -Inf\n");
	free(text);
	prom_free(&b);
}

static void test_escaping(void **st)
{
	struct prom_buf b;
	const char *labels[] = { "vm", "a\"b\\c\nd" };

	(void)st;
	prom_init(&b);
	prom_family(&b, "drover_x", PROM_GAUGE, "back\\slash and\nnewline \"kept\"");
	prom_sample_u64(&b, "drover_x", labels, 1, 0);
	assert_string_equal(b.text, "# HELP drover_x back\\\\slash and\\nnewline \"kept\"\n"
				    "# TYPE drover_x gauge\n"
				    "drover_x{vm=\"a\\\"b\\\\c\\nd\"} 0\n");
	prom_free(&b);
}

static void test_grows(void **st)
{
	struct prom_buf b;
	char name[8];
	const char *labels[] = { "vm", name };

	(void)st;
	prom_init(&b);
	prom_family(&b, "drover_many", PROM_GAUGE, "Many.");
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		prom_sample_u64(&b, "drover_many", labels, 1, (uint64_t)i);
	}
	assert_non_null(strstr(b.text, "drover_many{vm=\"vm4999\"} 4999\n"));
	assert_int_equal(strlen(b.text), b.len);
	prom_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families_and_samples),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
