/*
 * Domain XML facts for the VM registry: name, memory in MiB (libvirt's unit
 * rules), vCPUs; malformed or hostile XML gives an error, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vmxml.h"

static int parse(const char *xml, struct vm_xml_info *ret, char *err)
{
	return vmxml_parse(xml, strlen(xml), ret, err, 256);
}

static void test_good(void **unused)
{
	struct vm_xml_info i;
	char err[256];

	(void)unused;
	assert_int_equal(parse("<domain type='kvm'><name>vm1</name>"
			       "<memory unit='MiB'>128</memory><vcpu placement='static'>2</vcpu>"
			       "<os><type>hvm</type></os></domain>",
			       &i, err),
			 0);
	assert_string_equal(i.name, "vm1");
	assert_int_equal(i.memory_mib, 128);
	assert_int_equal(i.vcpus, 2);

	/* Default unit is KiB; partial MiB rounds up. */
	assert_int_equal(parse("<domain><name>a.b-c_d</name><memory>131072</memory>"
			       "<vcpu> 1 </vcpu></domain>", &i, err), 0);
	assert_int_equal(i.memory_mib, 128);
	assert_int_equal(parse("<domain><name>x</name><memory>1</memory><vcpu>1</vcpu></domain>",
			       &i, err), 0);
	assert_int_equal(i.memory_mib, 1);
	assert_int_equal(parse("<domain><name>x</name><memory unit='GiB'>2</memory>"
			       "<vcpu>1</vcpu></domain>", &i, err), 0);
	assert_int_equal(i.memory_mib, 2048);
	assert_int_equal(parse("<domain><name>x</name><memory unit='MB'>1000</memory>"
			       "<vcpu>1</vcpu></domain>", &i, err), 0);
	assert_int_equal(i.memory_mib, 954); /* 10^9 bytes, rounded up */

	/* The largest sizes round up without wrapping to 0 MiB. */
	assert_int_equal(parse("<domain><name>x</name><memory unit='KiB'>18014398509481983</memory>"
			       "<vcpu>1</vcpu></domain>", &i, err), 0);
	assert_int_equal(i.memory_mib, 17592186044416ull);
	assert_int_equal(parse("<domain><name>x</name><memory unit='b'>18014398509481983</memory>"
			       "<vcpu>1</vcpu></domain>", &i, err), 0);
	assert_int_equal(i.memory_mib, 17179869184ull);
}

static void expect_bad(const char *xml, const char *msg_part)
{
	struct vm_xml_info i;
	char err[256] = "";

	memset(&i, 0x5a, sizeof(i));
	assert_int_equal(parse(xml, &i, err), -EINVAL);
	if (!strstr(err, msg_part))
		fail_msg("error '%s' does not mention '%s'", err, msg_part);
	for (size_t k = 0; k < sizeof(i); k++)
		assert_int_equal(((unsigned char *)&i)[k], 0x5a);
}

static void test_bad(void **unused)
{
	(void)unused;
	expect_bad("", "malformed XML");
	expect_bad("<domain><name>x</name>", "malformed XML");
	expect_bad("not xml at all", "malformed XML");
	expect_bad("<network><name>x</name></network>", "root element must be <domain>");
	expect_bad("<domain><memory>1</memory><vcpu>1</vcpu></domain>", "<name>");
	expect_bad("<domain><name>bad name</name><memory>1</memory><vcpu>1</vcpu></domain>",
		   "<name>");
	expect_bad("<domain><name>-x</name><memory>1</memory><vcpu>1</vcpu></domain>", "<name>");
	expect_bad("<domain><name>x</name><vcpu>1</vcpu></domain>", "<memory>");
	expect_bad("<domain><name>x</name><memory>-5</memory><vcpu>1</vcpu></domain>", "<memory>");
	expect_bad("<domain><name>x</name><memory>0</memory><vcpu>1</vcpu></domain>", "<memory>");
	expect_bad("<domain><name>x</name><memory>12abc</memory><vcpu>1</vcpu></domain>",
		   "<memory>");
	expect_bad("<domain><name>x</name><memory unit='parsecs'>1</memory><vcpu>1</vcpu>"
		   "</domain>", "unknown unit");
	expect_bad("<domain><name>x</name><memory unit='TiB'>99999999999</memory><vcpu>1</vcpu>"
		   "</domain>", "out of range");
	expect_bad("<domain><name>x</name><memory>1</memory></domain>", "<vcpu>");
	expect_bad("<domain><name>x</name><memory>1</memory><vcpu>0</vcpu></domain>", "<vcpu>");
	expect_bad("<domain><name>x</name><memory>1</memory><vcpu>5000</vcpu></domain>", "<vcpu>");
}

static void test_hostile(void **unused)
{
	struct vm_xml_info i;
	char err[256];
	char *big;

	(void)unused;
	/* An external entity is neither fetched nor expanded into the name. */
	assert_int_equal(parse("<?xml version='1.0'?><!DOCTYPE d [<!ENTITY e SYSTEM "
			       "'file:///etc/passwd'>]><domain><name>&e;</name><memory>1</memory>"
			       "<vcpu>1</vcpu></domain>", &i, err), -EINVAL);
	/* Over the size cap: refused before parsing. */
	big = calloc(1, VM_XML_MAX + 2);
	memset(big, ' ', VM_XML_MAX + 1);
	assert_int_equal(vmxml_parse(big, VM_XML_MAX + 1, &i, err, sizeof(err)), -EMSGSIZE);
	free(big);
	/* Not NUL-terminated input is read only up to len. */
	assert_int_equal(vmxml_parse("<domain><name>y</name><memory>1</memory><vcpu>1</vcpu>"
				     "</domain>GARBAGE", 63, &i, err, sizeof(err)), 0);
	assert_string_equal(i.name, "y");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
