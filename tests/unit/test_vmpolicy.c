/*
 * The domain XML policy: what reaches into the host is refused with a reason
 * naming the element and the key that allows it, and allowed by that key;
 * what stays inside the guest passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmpolicy.h"

static char err[2048];

/* A domain with DEVICES (and OS items) pasted in. */
static int check_with(const struct vm_policy *p, const char *os, const char *devices)
{
	char xml[8192];

	snprintf(xml, sizeof(xml),
		 "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		 "<name>t</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
		 "<os><type arch='x86_64' machine='q35'>hvm</type>%s</os>"
		 "<devices>%s</devices></domain>",
		 os, devices);
	err[0] = '\0';
	return vmpolicy_check(p, xml, strlen(xml), err, sizeof(err));
}

static int check(const char *devices)
{
	struct vm_policy p;

	vmpolicy_defaults(&p);
	return check_with(&p, "", devices);
}

static void expect_refused(const char *devices, const char *part)
{
	int r = check(devices);

	if (r != -EPERM)
		fail_msg("not refused (%d): %s", r, devices);
	if (!strstr(err, part))
		fail_msg("reason '%s' does not mention '%s'", err, part);
}

static void expect_allowed(const char *devices)
{
	int r = check(devices);

	if (r != 0)
		fail_msg("refused (%d: %s): %s", r, err, devices);
}

static void test_guest_only(void **unused)
{
	(void)unused;
	/* The lab's firmware-only guest, and ordinary devices. */
	expect_allowed("<controller type='usb' model='none'/>"
		       "<controller type='pci' index='0' model='pcie-root'/>"
		       "<controller type='pci' model='pcie-root-port'/>"
		       "<interface type='network'><source network='default'/><model type='virtio'/>"
		       "</interface>"
		       "<interface type='bridge'><source bridge='br0'/></interface>"
		       "<interface type='direct'><source dev='eth0' mode='bridge'/></interface>"
		       "<interface type='ethernet'><target dev='tap7'/>"
		       "<backend tap='/dev/net/tun' vhost='/dev/vhost-net'/></interface>"
		       "<disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>"
		       "<disk type='network' device='disk'><source protocol='rbd' name='pool/img'>"
		       "<host name='mon1' port='6789'/></source><target dev='vda'/></disk>"
		       "<serial type='pty'><source path='/dev/pts/3'/><target port='0'/></serial>"
		       "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>"
		       "</channel>"
		       "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
		       "<graphics type='vnc' port='-1' autoport='yes'><listen type='address'/>"
		       "</graphics>"
		       "<emulator>/usr/bin/qemu-system-x86_64</emulator>"
		       "<memballoon model='none'/>");
}

static void test_qemu_passthrough(void **unused)
{
	static const char cmdline[] = "<qemu:commandline><qemu:arg value='-fw_cfg'/>"
				      "<qemu:arg value='name=opt/x,file=/etc/shadow'/>"
				      "</qemu:commandline>";
	struct vm_policy p;
	char xml[1024];

	(void)unused;
	vmpolicy_defaults(&p);
	snprintf(xml, sizeof(xml),
		 "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		 "<name>t</name><memory>65536</memory><vcpu>1</vcpu>%s</domain>",
		 cmdline);
	assert_int_equal(vmpolicy_check(&p, xml, strlen(xml), err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "<qemu:commandline>"));
	assert_non_null(strstr(err, "allow_qemu_passthrough = yes"));
	p.allow_qemu_passthrough = true;
	assert_int_equal(vmpolicy_check(&p, xml, strlen(xml), err, sizeof(err)), 0);

	/* The namespace counts, not the prefix; anywhere in the tree. */
	vmpolicy_defaults(&p);
	snprintf(xml, sizeof(xml),
		 "<domain><name>t</name><memory>65536</memory><vcpu>1</vcpu><devices>"
		 "<disk type='file'><x:override xmlns:x='http://libvirt.org/schemas/domain/qemu/1.0'/>"
		 "</disk></devices></domain>");
	assert_int_equal(vmpolicy_check(&p, xml, strlen(xml), err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "<x:override>"));
	/* <metadata> is the applications' own: anything goes there. */
	snprintf(xml, sizeof(xml),
		 "<domain><name>t</name><memory>65536</memory><vcpu>1</vcpu><metadata>"
		 "<app:x xmlns:app='urn:app'><disk type='file'><source file='/etc/shadow'/></disk>"
		 "</app:x></metadata></domain>");
	assert_int_equal(vmpolicy_check(&p, xml, strlen(xml), err, sizeof(err)), 0);
}

static void test_host_devices(void **unused)
{
	static const char *const devs[] = {
		"<hostdev mode='subsystem' type='pci' managed='yes'><source>"
		"<address domain='0' bus='3' slot='0' function='1'/></source></hostdev>",
		"<interface type='hostdev'><source><address type='pci' bus='3'/></source></interface>",
		"<interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/></interface>",
		"<interface type='direct'><source dev='eth1' mode='passthrough'/></interface>",
		"<disk type='nvme' device='disk'><source type='pci' managed='yes' namespace='1'>"
		"<address domain='0' bus='1'/></source><target dev='vde'/></disk>",
		"<disk type='block' device='lun'><source dev='/var/lib/libvirt/images/lun'/>"
		"<target dev='sdb'/></disk>",
		"<input type='passthrough' bus='virtio'><source evdev='/dev/input/event1'/></input>",
		"<input type='evdev'><source dev='/dev/input/event2'/></input>",
		"<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/>"
		"</backend></tpm>",
		"<smartcard mode='host'/>",
		"<graphics type='egl-headless'><gl rendernode='/dev/dri/renderD128'/></graphics>",
	};
	struct vm_policy p;

	(void)unused;
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		expect_refused(devs[i], "allow_host_devices = yes");
		vmpolicy_defaults(&p);
		p.allow_host_devices = true;
		if (check_with(&p, "", devs[i]) != 0)
			fail_msg("allowed host devices, still refused (%s): %s", err, devs[i]);
	}
	expect_refused(devs[0], "<hostdev>");
	/* A LUN of a network disk is the storage server's, not the host's. */
	expect_allowed("<disk type='network' device='lun'><source protocol='iscsi' name='iqn.x/1'>"
		       "<host name='san'/></source><target dev='sdc'/></disk>");
}

static void test_paths(void **unused)
{
	(void)unused;
	expect_allowed("<disk type='file'><source file='/var/lib/libvirt/images/a.qcow2'/>"
		       "<backingStore type='file'><source file='/var/lib/libvirt/images/base'/>"
		       "</backingStore><target dev='vda'/></disk>");
	expect_refused("<disk type='file'><source file='/etc/shadow'/><target dev='vda'/></disk>",
		       "<disk> <source file='/etc/shadow'>: a host path outside allow_paths");
	expect_refused("<disk type='file'><source file='/var/lib/libvirt/images/../../../etc/x'/>"
		       "</disk>",
		       "not an absolute path of printable ASCII without '.' or '..'");
	expect_refused("<disk type='file'><source file='/var/lib/libvirt/images2/a'/></disk>",
		       "outside allow_paths");
	expect_refused("<disk type='file'><source file='a.qcow2'/></disk>", "not an absolute path");
	expect_refused("<disk type='file'><source file='json:{\"file\":{}}'/></disk>",
		       "not an absolute path");
	/* A backing file named in the XML is checked like the disk. */
	expect_refused("<disk type='file'><source file='/var/lib/libvirt/images/a'/>"
		       "<backingStore type='block'><source dev='/dev/sda'/></backingStore></disk>",
		       "<source dev='/dev/sda'>");
	expect_refused("<disk type='dir'><source dir='/etc'/></disk>", "<source dir='/etc'>");
	expect_refused("<disk type='network'><source protocol='nbd' name='x'>"
		       "<host transport='unix' socket='/run/evil.sock'/></source></disk>",
		       "<host socket='/run/evil.sock'>");
	expect_refused("<disk type='vhostuser'><source type='unix' path='/run/vhost.sock'/></disk>",
		       "<source path='/run/vhost.sock'>");
	expect_refused("<disk type='file'><source file='/var/lib/libvirt/images/a'>"
		       "<reservations managed='no'><source type='unix' path='/run/pr.sock'/>"
		       "</reservations></source></disk>",
		       "'/run/pr.sock'");

	/* Chardevs: files are written, sockets connected to. */
	expect_refused("<serial type='file'><source path='/etc/passwd'/></serial>",
		       "<serial> <source path='/etc/passwd'>");
	expect_refused("<console type='pty'><log file='/root/.bashrc' append='on'/></console>",
		       "<log file='/root/.bashrc'>");
	expect_refused("<channel type='unix'><source mode='connect' "
		       "path='/run/libvirt/libvirt-sock'/></channel>",
		       "libvirt-sock");
	expect_refused("<serial type='dev'><source path='/dev/ttyS0'/></serial>", "/dev/ttyS0");
	expect_allowed("<serial type='file'><source path='/var/lib/libvirt/images/t.log'/></serial>");

	/* A filesystem's source is a host directory; its target dir is the guest's tag. */
	expect_refused("<filesystem type='mount'><source dir='/'/><target dir='root'/></filesystem>",
		       "<source dir='/'>");
	expect_allowed("<filesystem type='mount'><driver type='virtiofs'/>"
		       "<binary path='/usr/lib/qemu/virtiofsd'/>"
		       "<source dir='/var/lib/libvirt/images/share'/><target dir='/'/></filesystem>");

	expect_refused("<memory model='nvdimm'><source><path>/dev/pmem0</path></source>"
		       "<target><size unit='MiB'>64</size></target></memory>",
		       "<memory> <path>/dev/pmem0</path>");
	expect_refused("<shmem name='s'><server path='/tmp/ivshmem'/></shmem>", "/tmp/ivshmem");
	expect_refused("<lease><lockspace>x</lockspace><key>k</key>"
		       "<target path='/etc/crontab'/></lease>",
		       "/etc/crontab");
	expect_refused("<graphics type='vnc' socket='/etc/x.sock'/>", "<graphics socket='/etc/x.sock'>");
	expect_refused("<graphics type='vnc'><listen type='socket' socket='/etc/y.sock'/></graphics>",
		       "/etc/y.sock");
	expect_refused("<audio id='1' type='file' path='/etc/motd'/>", "/etc/motd");
	expect_refused("<rng model='virtio'><backend model='random'>/dev/sda</backend></rng>",
		       "/dev/sda");
	expect_refused("<interface type='ethernet'><backend tap='/dev/sdb'/></interface>",
		       "tap='/dev/sdb'");
	expect_refused("<interface type='user'><backend type='passt' logFile='/etc/issue'/>"
		       "</interface>",
		       "logFile='/etc/issue'");
}

static void test_os_paths(void **unused)
{
	struct vm_policy p;
	char e[256];

	(void)unused;
	vmpolicy_defaults(&p);
	assert_int_equal(check_with(&p, "<kernel>/boot/vmlinuz</kernel><initrd>/etc/shadow</initrd>",
				    ""),
			 -EPERM);
	assert_non_null(strstr(err, "<kernel>/boot/vmlinuz</kernel>"));
	assert_non_null(strstr(err, "<initrd>/etc/shadow</initrd>"));
	/* The lab's guests: kernel, initrd and serial log under its directories. */
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PATHS, "/var/cache/drover-lab/guest "
				       "/var/tmp/drover-lab/vms/", e, sizeof(e)), 0);
	assert_int_equal(check_with(&p,
				    "<kernel>/var/cache/drover-lab/guest/vmlinuz</kernel>"
				    "<initrd>/var/cache/drover-lab/guest/initrd.gz</initrd>"
				    "<cmdline>console=ttyS0</cmdline>",
				    "<serial type='file'><source path='/var/tmp/drover-lab/vms/vm1.serial' "
				    "append='on'/></serial>"),
			 0);

	/* Firmware: read-only under /usr/share, NVRAM where libvirt keeps it. */
	vmpolicy_defaults(&p);
	assert_int_equal(check_with(&p,
				    "<loader readonly='yes' type='pflash'>"
				    "/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
				    "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>"
				    "/var/lib/libvirt/qemu/nvram/t_VARS.fd</nvram>",
				    ""),
			 0);
	assert_int_equal(check_with(&p, "<loader type='pflash'>/usr/share/OVMF/x.fd</loader>", ""),
			 -EPERM);
	assert_int_equal(check_with(&p, "<nvram>/usr/share/OVMF/OVMF_CODE_4M.fd</nvram>", ""),
			 -EPERM);
	assert_int_equal(check_with(&p, "<acpi><table type='slic'>/etc/shadow</table></acpi>", ""),
			 -EPERM);
	assert_int_equal(check_with(&p, "<dtb>/etc/shadow</dtb>", ""), -EPERM);
	/* allow_paths = / allows every path (and nothing else). */
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PATHS, "/", e, sizeof(e)), 0);
	assert_int_equal(check_with(&p, "<kernel>/boot/vmlinuz</kernel>",
				    "<disk type='block'><source dev='/dev/sda'/></disk>"),
			 0);
	assert_int_equal(check_with(&p, "", "<emulator>/bin/sh</emulator>"), -EPERM);
}

static void test_programs_and_pools(void **unused)
{
	struct vm_policy p;
	char e[256];

	(void)unused;
	expect_refused("<emulator>/bin/sh</emulator>",
		       "<emulator> runs '/bin/sh' on the host: a program not in allow_programs");
	expect_refused("<interface type='ethernet'><script path='/tmp/x.sh'/></interface>",
		       "'/tmp/x.sh'");
	expect_refused("<interface type='ethernet'><downscript path='/tmp/y.sh'/></interface>",
		       "'/tmp/y.sh'");
	expect_refused("<filesystem><binary path='/usr/bin/python3'/>"
		       "<source dir='/var/lib/libvirt/images/s'/><target dir='t'/></filesystem>",
		       "/usr/bin/python3");
	expect_allowed("<emulator>/usr/libexec/qemu-kvm</emulator>");
	expect_refused("<disk type='volume'><source pool='default' volume='a.qcow2'/></disk>",
		       "storage pool 'default': a pool not in allow_pools");

	vmpolicy_defaults(&p);
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_POOLS, "default ssd", e, sizeof(e)), 0);
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PROGRAMS, "/opt/qemu/bin/qemu", e, sizeof(e)),
			 0);
	assert_int_equal(check_with(&p, "",
				    "<disk type='volume'><source pool='ssd' volume='a'/></disk>"
				    "<emulator>/opt/qemu/bin/qemu</emulator>"),
			 0);
	assert_int_equal(check_with(&p, "<bootloader>/usr/bin/pygrub</bootloader>", ""),
			 -EPERM);
}

static void test_reasons_counted(void **unused)
{
	(void)unused;
	assert_int_equal(check("<disk type='file'><source file='/a1'/></disk>"
			       "<disk type='file'><source file='/a2'/></disk>"
			       "<disk type='file'><source file='/a3'/></disk>"
			       "<disk type='file'><source file='/a4'/></disk>"
			       "<disk type='file'><source file='/a5'/></disk>"
			       "<hostdev/><emulator>/bin/sh</emulator>"),
			 -EPERM);
	assert_non_null(strstr(err, "'/a1'"));
	assert_non_null(strstr(err, "'/a4'"));
	assert_null(strstr(err, "'/a5'"));
	assert_non_null(strstr(err, "; and 3 more"));

	/* A small buffer is cut, never overrun. */
	{
		struct vm_policy p;
		char small[40];
		const char *xml = "<domain><name>t</name><devices><hostdev/><hostdev/></devices>"
				  "</domain>";

		vmpolicy_defaults(&p);
		memset(small, 'x', sizeof(small));
		assert_int_equal(vmpolicy_check(&p, xml, strlen(xml), small, sizeof(small)), -EPERM);
		assert_int_equal(strlen(small), sizeof(small) - 1);
	}
}

static void test_malformed(void **unused)
{
	struct vm_policy p;
	char *big;

	(void)unused;
	vmpolicy_defaults(&p);
	assert_int_equal(vmpolicy_check(&p, "<domain><name>", 14, err, sizeof(err)), -EINVAL);
	assert_int_equal(vmpolicy_check(&p, "", 0, err, sizeof(err)), -EINVAL);
	big = calloc(1, 300 * 1024);
	memset(big, ' ', 300 * 1024 - 1);
	assert_int_equal(vmpolicy_check(&p, big, strlen(big), err, sizeof(err)), -EMSGSIZE);
	free(big);
	/* An entity could carry an element past the policy: no DOCTYPE at all. */
	{
		const char *ent = "<!DOCTYPE domain [<!ENTITY h '<hostdev/>'>]>"
				  "<domain><name>t</name><devices>&h;</devices></domain>";

		assert_int_equal(vmpolicy_check(&p, ent, strlen(ent), err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "DOCTYPE"));
		ent = "<!DOCTYPE domain SYSTEM 'file:///etc/passwd'><domain><name>t</name></domain>";
		assert_int_equal(vmpolicy_check(&p, ent, strlen(ent), err, sizeof(err)), -EINVAL);
	}
	/* A root element in a namespace is not libvirt's domain. */
	assert_int_equal(vmpolicy_check(&p, "<d:domain xmlns:d='urn:x'/>", 27, err, sizeof(err)),
			 -EPERM);
}

static void test_lists(void **unused)
{
	struct vm_policy p;
	char e[256];
	char many[4096] = "";

	(void)unused;
	vmpolicy_defaults(&p);
	assert_int_equal(p.list[VMPOLICY_PATHS].n, 2);
	assert_string_equal(p.list[VMPOLICY_PATHS].item[0], "/var/lib/libvirt/images");
	assert_false(p.allow_qemu_passthrough);
	assert_false(p.allow_host_devices);
	assert_int_equal(p.list[VMPOLICY_POOLS].n, 0);
	assert_string_equal(vmpolicy_list_key(VMPOLICY_PROGRAMS), "allow_programs");

	/* Trailing slashes go; duplicates are ignored. */
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PATHS, "  /srv/vm///  /var/lib/libvirt/images/",
				       e, sizeof(e)), 0);
	assert_int_equal(p.list[VMPOLICY_PATHS].n, 3);
	assert_string_equal(p.list[VMPOLICY_PATHS].item[2], "/srv/vm");

	/* A bad entry names itself and changes nothing. */
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PATHS, "/ok relative", e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "'relative'"));
	assert_int_equal(p.list[VMPOLICY_PATHS].n, 3);
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PATHS, "/srv/../etc", e, sizeof(e)), -EINVAL);
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PATHS, "/srv/./x", e, sizeof(e)), -EINVAL);
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PROGRAMS, "/usr/bin/", e, sizeof(e)), -EINVAL);
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_POOLS, "a/b", e, sizeof(e)), -EINVAL);
	/* "/.." hides in the middle of a longer name: "/..x" is a name, "/x/.." is not. */
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PATHS, "/srv/..x", e, sizeof(e)), 0);
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PATHS, "/srv/x/..", e, sizeof(e)), -EINVAL);

	for (int i = 0; i < 20; i++) {
		char one[16];

		snprintf(one, sizeof(one), " /d%d", i);
		strcat(many, one);
	}
	vmpolicy_defaults(&p);
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_PATHS, many, e, sizeof(e)), -E2BIG);
	assert_int_equal(p.list[VMPOLICY_PATHS].n, 2);
	/* An empty value adds nothing (the config's way to say "none"). */
	assert_int_equal(vmpolicy_list_add(&p, VMPOLICY_POOLS, "", e, sizeof(e)), 0);
	assert_int_equal(p.list[VMPOLICY_POOLS].n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_only),     cmocka_unit_test(test_qemu_passthrough),
		cmocka_unit_test(test_host_devices),   cmocka_unit_test(test_paths),
		cmocka_unit_test(test_os_paths),       cmocka_unit_test(test_programs_and_pools),
		cmocka_unit_test(test_reasons_counted), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
