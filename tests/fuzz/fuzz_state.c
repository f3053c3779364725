/*
 * Fuzz target: the reader of a whole replicated state, a packed ClusterState
 * as the state file holds it after its header (daemon/persist.c) and as the
 * state exchange reassembles it from StateChunks (core/state_xfer.c):
 * state_xfer_decode(), which unpacks and validates with state_from_proto().
 *
 * Invariants: a state that validates encodes again, decodes to the same
 * hash, counts and registry size, and re-encodes to the same bytes (the
 * exchange and the file carry exactly what was validated); its deep copy
 * hashes the same.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "state.h"
#include "state_xfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_state s, back, copy;
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	uint64_t h;
	int r;

	r = state_xfer_decode(data, size, &s);
	if (r < 0) {
		fuzz_check(r == -EBADMSG || r == -EINVAL || r == -EFBIG,
			   "state_xfer_decode returned an undocumented %d", r);
		return 0;
	}
	h = state_hash(&s);
	r = state_xfer_encode(&s, &a, &alen);
	fuzz_check(r == 0, "a valid state does not encode: %d", r);
	r = state_xfer_decode(a, alen, &back);
	fuzz_check(r == 0, "an encoded valid state does not decode: %d", r);
	fuzz_check(state_hash(&back) == h, "the state changed through encode and decode");
	fuzz_check(back.n_vms == s.n_vms && back.n_jobs == s.n_jobs && back.n_nodes == s.n_nodes &&
			   back.n_history == s.n_history && back.registry_bytes == s.registry_bytes,
		   "encode and decode changed the state's counts");
	r = state_xfer_encode(&back, &b, &blen);
	fuzz_check(r == 0 && alen == blen && memcmp(a, b, alen) == 0,
		   "a decoded state re-encodes to other bytes");
	state_copy(&s, &copy);
	fuzz_check(state_hash(&copy) == h, "a copy of the state hashes differently");
	state_free(&copy);
	state_free(&back);
	state_free(&s);
	free(a);
	free(b);
	return 0;
}
