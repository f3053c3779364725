/*
 * The device templates of [vf_pool NAME] (config.c) as droverd hands them to
 * its agent, as pure string work: the label the node announces for each
 * device (its PCI address, its host device), and the device element with the
 * VM's MAC put in, so that the VF NIC carries the MAC of the VM's standby
 * virtio NIC, as net_failover and libvirt's <teaming> expect.
 */
#ifndef DROVER_CORE_VF_DEVICE_H
#define DROVER_CORE_VF_DEVICE_H

#include <stddef.h>

/*
 * A short name for a device template: "0000:03:10.1" for a PCI address,
 * the dev='…' of a <source> (a macvtap parent, a host device), else
 * "deviceN" (n is 1-based). Always writes a NUL-terminated string.
 */
void vf_device_label(const char *tmpl, unsigned n, char *buf, size_t len);

/*
 * The element to attach: tmpl with <mac address='MAC'/> inserted right
 * after the opening <interface ...> tag when it has no <mac> of its own and
 * the VM's domain XML has one (its first interface's). A <hostdev> or a
 * template with a MAC is copied as it is. -ENOSPC when buf is too small.
 */
int vf_device_xml(const char *tmpl, const char *domain_xml, char *buf, size_t len);

#endif
