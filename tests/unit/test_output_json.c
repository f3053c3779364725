/*
 * The versioned envelope of the CLI's JSON documents (cli/output.c):
 * "format" and "command" first, the command's members after them in their
 * order and unchanged, and the odd shapes (no document, not an object) kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "output.h"

/* The document's keys in order, joined by spaces. */
static void keys_of(struct json_object *o, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? " " : "", key);
	}
}

static void test_envelope_comes_first(void **unused)
{
	struct json_object *doc = json_object_new_object(), *env, *arr = json_object_new_array();
	char keys[256];

	(void)unused;
	json_object_array_add(arr, json_object_new_string("vm1"));
	json_object_object_add(doc, "vms", arr);
	json_object_object_add(doc, "node", NULL);
	json_object_object_add(doc, "count", json_object_new_int(3));
	env = output_json_envelope(doc, "vm list");
	keys_of(env, keys, sizeof(keys));
	assert_string_equal(keys, "format command vms node count");
	assert_string_equal(json_object_get_string(json_object_object_get(env, "format")), "drover/1");
	assert_string_equal(json_object_get_string(json_object_object_get(env, "command")), "vm list");
	/* The members are the document's own (shared, not copied), nulls included. */
	assert_ptr_equal(json_object_object_get(env, "vms"), arr);
	assert_true(json_object_object_get_ex(env, "node", NULL));
	assert_int_equal(json_object_get_int(json_object_object_get(env, "count")), 3);
	/* The caller still owns doc: both can be put, in either order. */
	json_object_put(doc);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
				json_object_object_get(env, "vms"), 0)),
			    "vm1");
	json_object_put(env);
}

static void test_envelope_alone_and_odd_shapes(void **unused)
{
	struct json_object *env, *arr = json_object_new_array(), *doc = json_object_new_object();
	char keys[256];

	(void)unused;
	env = output_json_envelope(NULL, "status");
	keys_of(env, keys, sizeof(keys));
	assert_string_equal(keys, "format command");
	json_object_put(env);

	env = output_json_envelope(arr, "queue");
	keys_of(env, keys, sizeof(keys));
	assert_string_equal(keys, "format command result");
	json_object_put(env);
	json_object_put(arr);

	/* A document's own "format" or "command" never hides the envelope's. */
	json_object_object_add(doc, "format", json_object_new_string("mine"));
	json_object_object_add(doc, "x", json_object_new_int(1));
	env = output_json_envelope(doc, "history");
	keys_of(env, keys, sizeof(keys));
	assert_string_equal(keys, "format command x");
	assert_string_equal(json_object_get_string(json_object_object_get(env, "format")), "drover/1");
	json_object_put(env);
	json_object_put(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_comes_first),
		cmocka_unit_test(test_envelope_alone_and_odd_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
