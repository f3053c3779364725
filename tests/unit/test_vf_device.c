/*
 * VF device templates (daemon/core/vf_device.c): the labels a node announces
 * for its devices, and the element its agent attaches, with the VM's MAC put
 * into an <interface> that has none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vf_device.h"

#define HOSTDEV                                                                                    \
	"<interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' "     \
	"bus='0x03' slot='0x10' function='0x1'/></source></interface>"
#define DIRECT "<interface type='direct'><source dev='vfp0' mode='passthrough'/></interface>"
#define DOMAIN                                                                                     \
	"<domain><name>a</name><devices><interface type='bridge'><mac "                            \
	"address='52:54:00:aa:bb:01'/><source bridge='br0'/></interface></devices></domain>"

static void test_labels(void **unused)
{
	char buf[48];

	(void)unused;
	vf_device_label(HOSTDEV, 1, buf, sizeof(buf));
	assert_string_equal(buf, "0000:03:10.1");
	vf_device_label(DIRECT, 2, buf, sizeof(buf));
	assert_string_equal(buf, "vfp0");
	vf_device_label("<hostdev mode='subsystem' type='pci'/>", 3, buf, sizeof(buf));
	assert_string_equal(buf, "device3");
	/* An attribute whose name merely ends like the one looked for is not it. */
	vf_device_label("<interface type='direct'><source xdev='no'/></interface>", 4, buf, sizeof(buf));
	assert_string_equal(buf, "device4");
}

static void test_mac_put_in(void **unused)
{
	char buf[512];

	(void)unused;
	assert_int_equal(vf_device_xml(DIRECT, DOMAIN, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "<interface type='direct'><mac address='52:54:00:aa:bb:01'/><source "
				 "dev='vfp0' mode='passthrough'/></interface>");
	/* A template with its own MAC, a hostdev element, a domain without a MAC: as they are. */
	assert_int_equal(vf_device_xml("<interface type='direct'><mac address='x'/></interface>",
				       DOMAIN, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "<interface type='direct'><mac address='x'/></interface>");
	assert_int_equal(vf_device_xml("<hostdev mode='subsystem'/>", DOMAIN, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "<hostdev mode='subsystem'/>");
	assert_int_equal(vf_device_xml(DIRECT, "<domain/>", buf, sizeof(buf)), 0);
	assert_string_equal(buf, DIRECT);
	assert_int_equal(vf_device_xml(DIRECT, DOMAIN, buf, 20), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_mac_put_in),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
