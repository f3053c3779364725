/*
 * dirty: keeps MIB of guest memory dirty so that a live migration has real
 * work to do (a guest that only runs a shell loop dirties almost nothing, and
 * its migration moves a few MiB whatever its size).
 *
 * Usage: dirty MIB [INTERVAL_MS|once]
 * Writes one word into every 4 KiB page of an MIB-sized buffer, then sleeps
 * INTERVAL_MS (default 100), forever. With "once" it writes the buffer once and
 * then only holds it: the guest's memory is full of non-zero pages (QEMU sends
 * zero pages as a flag only) but nothing is dirtied during a migration. The sleep bounds the dirty rate to about
 * MIB * 1000 / INTERVAL_MS MiB/s and keeps the (TCG-emulated) vCPU mostly idle,
 * so a lab on two host cores is not eaten by one guest. MIB is clamped to what
 * the guest has free (see below).
 *
 * Built statically by lab/guest/build-guest at image build time (busybox has
 * no tool that dirties memory in place without also churning a file system).
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, MAP_POPULATE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: dirty MIB [INTERVAL_MS|once]\n");
		return 2;
	}
	long mib = strtol(argv[1], NULL, 10);
	int once = argc == 3 && strcmp(argv[2], "once") == 0;
	long interval_ms = argc == 3 && !once ? strtol(argv[2], NULL, 10) : 100;
	if (mib <= 0 || interval_ms < 0) {
		fprintf(stderr, "dirty: bad MIB or INTERVAL_MS\n");
		return 2;
	}
	/* A Debian kernel keeps ~58 MiB of a small guest for itself (128 MiB
	 * guest: ~70 MiB available). Asking for more than is free would get us
	 * OOM-killed, so clamp to MemAvailable less a margin for the shell, and
	 * say so on the console. */
	long avail_kib = -1;
	FILE *mi = fopen("/proc/meminfo", "r");
	if (mi) {
		char line[128];
		while (fgets(line, sizeof line, mi))
			if (sscanf(line, "MemAvailable: %ld kB", &avail_kib) == 1)
				break;
		fclose(mi);
	}
	long limit = avail_kib / 1024 - 16;
	if (avail_kib >= 0 && mib > limit) {
		printf("DROVER-GUEST dirty %ld MiB requested, only %ld MiB available: using %ld\n",
		       mib, avail_kib / 1024, limit > 0 ? limit : 0);
		mib = limit;
		if (mib <= 0)
			return 1;
	}
	size_t len = (size_t)mib << 20;
	/* MAP_POPULATE: fault the whole buffer in now, so a too-large MIB fails
	 * here with a message instead of the OOM killer later. */
	unsigned char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED) {
		perror("dirty: mmap");
		return 1;
	}
	if (once) {
		for (size_t off = 0; off < len; off += 4096)
			*(volatile unsigned long *)(buf + off) = 1;
		printf("DROVER-GUEST fill %ld MiB done\n", mib);
		fflush(stdout);
		for (;;)
			pause();
	}
	printf("DROVER-GUEST dirty %ld MiB every %ld ms\n", mib, interval_ms);
	fflush(stdout);
	struct timespec pause = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
	for (unsigned long pass = 1;; pass++) {
		for (size_t off = 0; off < len; off += 4096)
			*(volatile unsigned long *)(buf + off) = pass;
		if (interval_ms > 0)
			nanosleep(&pause, NULL);
	}
}
