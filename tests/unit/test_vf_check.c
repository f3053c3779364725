/*
 * The inventory check of SR-IOV (daemon/core/vf_check.c): a node's live
 * domains against the VFs the replicated state allocated there. States are
 * built from the messages droverd applies (a pool announced, a VM started,
 * a VF attached, a migration started); observations by hand, as
 * obs_on_inventory() fills them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "state.h"
#include "vf_check.h"

#define RUNNING DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING

static int add_vm(struct cluster_state *s, const char *name, const char *pool)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	char xml[256];

	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu></domain>",
		 name);
	vm.name = (char *)name;
	vm.xml = xml;
	vm.memory_mib = 64;
	vm.vcpus = 1;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	vm.vf_pool = (char *)pool;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	return state_apply(s, &env);
}

/* node announces pool "fast" of n devices labelled FMT % index (1-based). */
static int hardware(struct cluster_state *s, uint32_t node, uint32_t n, const char *fmt)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeHardware m = DROVER__NODE_HARDWARE__INIT;
	Drover__VfPool pool = DROVER__VF_POOL__INIT, *pp = &pool;
	char labels[DROVER_MAX_VF_DEVICES][16];
	char *lp[DROVER_MAX_VF_DEVICES];

	for (uint32_t d = 0; d < n && d < DROVER_MAX_VF_DEVICES; d++) {
		snprintf(labels[d], sizeof(labels[d]), fmt, d + 1);
		lp[d] = labels[d];
	}
	pool.name = (char *)"fast";
	pool.labels = lp;
	pool.n_labels = n;
	m.node = node;
	m.vf_pools = &pp;
	m.n_vf_pools = 1;
	env.body_case = DROVER__ENVELOPE__BODY_NODE_HARDWARE;
	env.node_hardware = &m;
	return state_apply(s, &env);
}

static int action(struct cluster_state *s, int kind, const char *vm, uint32_t node)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction m = DROVER__VM_ACTION__INIT;

	m.kind = (Drover__VmActionKind)kind;
	m.vm = (char *)vm;
	m.node = node;
	m.at_ms = 100;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &m;
	return state_apply(s, &env);
}

static int result(struct cluster_state *s, uint64_t id, bool ok)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = id;
	m.ok = ok;
	m.error = (char *)"";
	m.finished_ms = 200;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &m;
	return state_apply(s, &env);
}

/* vm runs on node and, with_vf, holds the pool's first free VF attached there. */
static void run_on(struct cluster_state *s, const char *vm, uint32_t node, bool with_vf)
{
	assert_int_equal(action(s, DROVER__VM_ACTION_KIND__VM_ACTION_START, vm, node), 1);
	assert_int_equal(result(s, s->next_job_id - 1, true), 1);
	if (!with_vf)
		return;
	assert_int_equal(action(s, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, vm, node), 1);
	assert_int_equal(result(s, s->next_job_id - 1, true), 1);
	assert_true(state_vm_find(s, vm)->vf.attached);
}

/* A migration of vm from source to target, started: an operation in flight. */
static void migrate_start(struct cluster_state *s, const char *vm, uint32_t source, uint32_t target)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec sp = DROVER__JOB_SPEC__INIT, *ptr = &sp;
	Drover__JobStart js = DROVER__JOB_START__INIT;

	sp.vm = (char *)vm;
	sp.source = source;
	sp.origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL;
	m.jobs = &ptr;
	m.n_jobs = 1;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	assert_int_equal(state_apply(s, &env), 1);
	js.job_id = s->next_job_id - 1;
	js.target = target;
	js.network = (char *)"default";
	js.started_ms = 300;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &js;
	assert_int_equal(state_apply(s, &env), 1);
}

/* An observation of node: up to 4 running domains, each with its device labels ("a,b"). */
struct fixture {
	struct node_obs o;
	struct obs_domain doms[4];
};

static void observe(struct fixture *f, uint32_t node)
{
	memset(f, 0, sizeof(*f));
	f->o.node_id = node;
	f->o.current = true;
	f->o.agent_ok = true;
	f->o.has_record = true;
	f->o.domains = f->doms;
}

static void domain(struct fixture *f, const char *name, const char *labels)
{
	struct obs_domain *d = &f->doms[f->o.n_domains++];
	char copy[256], *save = NULL;

	snprintf(d->name, sizeof(d->name), "%s", name);
	d->state = RUNNING;
	d->vf_known = true;
	snprintf(copy, sizeof(copy), "%s", labels);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		snprintf(d->vf_devices[d->n_vf_devices++], DROVER_VF_LABEL_MAX, "%s", t);
}

/* n1 with pool fast = vf1, vf2, vf3; vm1 on n1 with a VF (vf1); vm2 on n1 without. */
static void setup(struct cluster_state *s)
{
	state_init(s);
	assert_int_equal(hardware(s, 1, 3, "vf%u"), 1);
	assert_int_equal(add_vm(s, "vm1", "fast"), 1);
	assert_int_equal(add_vm(s, "vm2", "fast"), 1);
	run_on(s, "vm1", 1, true);
	run_on(s, "vm2", 1, false);
	assert_int_equal(state_vm_find(s, "vm1")->vf.device, 1);
}

static void test_agree(void **unused)
{
	struct cluster_state s;
	struct fixture f;
	struct vf_check_result r;

	(void)unused;
	setup(&s);
	observe(&f, 1);
	/* Devices that are no pool's (a standby's bridge has none; a tap) do not count. */
	domain(&f, "vm1", "vf1,tap7");
	domain(&f, "vm2", "");
	vf_check_node(&s, &f.o, &r);
	assert_true(r.checked);
	assert_int_equal(r.n_checked, 2);
	assert_int_equal(r.n, 0);
	state_free(&s);
}

static void test_allocated_but_absent(void **unused)
{
	struct cluster_state s;
	struct fixture f;
	struct vf_check_result r;
	char text[200];

	(void)unused;
	setup(&s);
	observe(&f, 1);
	domain(&f, "vm1", "");
	domain(&f, "vm2", "");
	vf_check_node(&s, &f.o, &r);
	assert_true(r.checked);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.issues[0].kind, VF_CHECK_ABSENT);
	assert_string_equal(r.issues[0].vm, "vm1");
	assert_string_equal(r.issues[0].want, "vf1");
	assert_string_equal(r.issues[0].found, "");
	vf_check_issue_text(&r.issues[0], text, sizeof(text));
	assert_string_equal(text, "vm1: VF 'vf1' allocated, absent from the live XML");
	assert_ptr_equal(vf_check_find(&r, "vm1"), &r.issues[0]);
	assert_null(vf_check_find(&r, "vm2"));
	state_free(&s);
}

static void test_present_but_not_allocated(void **unused)
{
	struct cluster_state s;
	struct fixture f;
	struct vf_check_result r;
	char text[200];

	(void)unused;
	setup(&s);
	observe(&f, 1);
	domain(&f, "vm1", "vf1");
	domain(&f, "vm2", "vf2");
	/* A domain drover does not manage, holding a pool device: the pool thinks it free. */
	domain(&f, "stray", "vf3");
	vf_check_node(&s, &f.o, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.issues[0].kind, VF_CHECK_UNALLOCATED);
	assert_string_equal(r.issues[0].vm, "vm2");
	assert_string_equal(r.issues[0].found, "vf2");
	assert_int_equal(r.issues[1].kind, VF_CHECK_UNALLOCATED);
	assert_string_equal(r.issues[1].vm, "stray");
	assert_string_equal(r.issues[1].found, "vf3");
	vf_check_issue_text(&r.issues[0], text, sizeof(text));
	assert_string_equal(text, "vm2: VF 'vf2' in the live XML, not allocated to it");
	state_free(&s);
}

static void test_other_device_and_extra(void **unused)
{
	struct cluster_state s;
	struct fixture f;
	struct vf_check_result r;
	char text[200];

	(void)unused;
	setup(&s);
	observe(&f, 1);
	domain(&f, "vm1", "vf2");
	vf_check_node(&s, &f.o, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.issues[0].kind, VF_CHECK_OTHER_DEVICE);
	assert_string_equal(r.issues[0].want, "vf1");
	assert_string_equal(r.issues[0].found, "vf2");
	vf_check_issue_text(&r.issues[0], text, sizeof(text));
	assert_string_equal(text, "vm1: VF 'vf1' allocated, the live XML has 'vf2'");

	/* Its own VF and one more: the one more is not allocated to it. */
	observe(&f, 1);
	domain(&f, "vm1", "vf3,vf1");
	vf_check_node(&s, &f.o, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.issues[0].kind, VF_CHECK_UNALLOCATED);
	assert_string_equal(r.issues[0].found, "vf3");

	/* Another device and a second one: the first is "the other", the second extra. */
	observe(&f, 1);
	domain(&f, "vm1", "vf2,vf3");
	vf_check_node(&s, &f.o, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.issues[0].kind, VF_CHECK_UNALLOCATED);
	assert_string_equal(r.issues[0].found, "vf3");
	assert_int_equal(r.issues[1].kind, VF_CHECK_OTHER_DEVICE);
	assert_string_equal(r.issues[1].found, "vf2");
	state_free(&s);
}

static void test_in_flight_not_flagged(void **unused)
{
	struct cluster_state s;
	struct fixture f;
	struct vf_check_result r;

	(void)unused;
	setup(&s);
	assert_int_equal(hardware(&s, 2, 1, "vf%u"), 1);
	/* vm1's migration to n2 started: its detach is under way on n1. */
	migrate_start(&s, "vm1", 1, 2);
	observe(&f, 1);
	domain(&f, "vm1", "");
	domain(&f, "vm2", "");
	vf_check_node(&s, &f.o, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.n_in_flight, 1);
	assert_int_equal(r.n_checked, 1);
	/* On the target, the VF reserved there and not attached yet: nothing either. */
	observe(&f, 2);
	domain(&f, "vm1", "vf1");
	vf_check_node(&s, &f.o, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.n_in_flight, 1);
	assert_true(r.checked);
	state_free(&s);
}

static void test_not_checked(void **unused)
{
	struct cluster_state s;
	struct fixture f;
	struct vf_check_result r;

	(void)unused;
	setup(&s);
	/* Not current: what the node said is a record, not the truth now. */
	observe(&f, 1);
	f.o.current = false;
	domain(&f, "vm1", "");
	vf_check_node(&s, &f.o, &r);
	assert_false(r.checked);
	assert_int_equal(r.n, 0);
	/* Its agent fails. */
	observe(&f, 1);
	f.o.agent_ok = false;
	domain(&f, "vm1", "");
	vf_check_node(&s, &f.o, &r);
	assert_false(r.checked);
	/* The plugin did not report devices (an older one): nothing to compare. */
	observe(&f, 1);
	domain(&f, "vm1", "");
	f.doms[0].vf_known = false;
	vf_check_node(&s, &f.o, &r);
	assert_false(r.checked);
	assert_int_equal(r.n_unreported, 1);
	assert_int_equal(r.n, 0);
	/* A node that runs nothing agrees. */
	observe(&f, 1);
	vf_check_node(&s, &f.o, &r);
	assert_true(r.checked);
	assert_int_equal(r.n, 0);
	/* Not running (paused, an incoming migration's copy): not compared. */
	observe(&f, 1);
	domain(&f, "vm1", "");
	f.doms[0].state = DROVER__VM_RUN_STATE__VM_RUN_STATE_PAUSED;
	vf_check_node(&s, &f.o, &r);
	assert_int_equal(r.n, 0);
	/* A node the state has no entry for. */
	observe(&f, 9);
	domain(&f, "vm1", "vf1");
	vf_check_node(&s, &f.o, &r);
	assert_false(r.checked);
	vf_check_node(&s, NULL, &r);
	assert_false(r.checked);
	state_free(&s);
}

static void test_unidentifiable_template_skipped(void **unused)
{
	struct cluster_state s;
	struct fixture f;
	struct vf_check_result r;

	(void)unused;
	state_init(&s);
	/* A libvirt hostdev network: the templates name no device, labelled deviceN. */
	assert_int_equal(hardware(&s, 1, 2, "device%u"), 1);
	assert_int_equal(add_vm(&s, "vm1", "fast"), 1);
	run_on(&s, "vm1", 1, true);
	observe(&f, 1);
	domain(&f, "vm1", "0000:41:02.0");
	vf_check_node(&s, &f.o, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.n_checked, 0);
	state_free(&s);
}

static void test_confirm_needs_two_in_a_row(void **unused)
{
	struct cluster_state s;
	struct fixture f;
	struct vf_check_result first, second, shown;

	(void)unused;
	setup(&s);
	observe(&f, 1);
	domain(&f, "vm1", "");
	domain(&f, "vm2", "vf2");
	vf_check_node(&s, &f.o, &first);
	assert_int_equal(first.n, 2);
	/* The first inventory alone confirms nothing (it may predate an operation's end). */
	vf_check_confirm(NULL, &first, &shown);
	assert_true(shown.checked);
	assert_int_equal(shown.n, 0);
	/* The next one saw vm1's VF again but still vm2's extra: only vm2 stays. */
	observe(&f, 1);
	domain(&f, "vm1", "vf1");
	domain(&f, "vm2", "vf2");
	vf_check_node(&s, &f.o, &second);
	vf_check_confirm(&first, &second, &shown);
	assert_int_equal(shown.n, 1);
	assert_string_equal(shown.issues[0].vm, "vm2");
	assert_int_equal(shown.n_checked, 2);
	/* A different finding about the same VM is not the same finding. */
	observe(&f, 1);
	domain(&f, "vm1", "vf1");
	domain(&f, "vm2", "vf3");
	vf_check_node(&s, &f.o, &first);
	vf_check_confirm(&second, &first, &shown);
	assert_int_equal(shown.n, 0);
	state_free(&s);
}

static void test_many_findings_bounded(void **unused)
{
	struct cluster_state s;
	struct node_obs o = {0};
	struct obs_domain doms[VF_CHECK_MAX + 3];
	struct vf_check_result r;

	(void)unused;
	setup(&s);
	memset(doms, 0, sizeof(doms));
	o.node_id = 1;
	o.current = true;
	o.agent_ok = true;
	o.domains = doms;
	o.n_domains = VF_CHECK_MAX + 3;
	for (size_t i = 0; i < o.n_domains; i++) {
		snprintf(doms[i].name, sizeof(doms[i].name), "stray%zu", i);
		doms[i].state = RUNNING;
		doms[i].vf_known = true;
		doms[i].n_vf_devices = 1;
		snprintf(doms[i].vf_devices[0], DROVER_VF_LABEL_MAX, "vf3");
	}
	vf_check_node(&s, &o, &r);
	assert_int_equal(r.n, VF_CHECK_MAX);
	assert_int_equal(r.n_dropped, 3);
	state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agree),
	    cmocka_unit_test(test_allocated_but_absent),
	    cmocka_unit_test(test_present_but_not_allocated),
	    cmocka_unit_test(test_other_device_and_extra),
	    cmocka_unit_test(test_in_flight_not_flagged),
	    cmocka_unit_test(test_not_checked),
	    cmocka_unit_test(test_unidentifiable_template_skipped),
	    cmocka_unit_test(test_confirm_needs_two_in_a_row),
	    cmocka_unit_test(test_many_findings_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
