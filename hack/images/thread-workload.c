/* thread-workload: the incident's workload for the real-node e2e (internal/images).
 *   thread-workload N                 starts N threads that sleep, then sleeps itself;
 *   thread-workload N GROW_TO AFTER   starts N, and AFTER seconds later grows to GROW_TO threads,
 * as a service that starts small and builds its pools under load does. When pthread_create
 * fails it writes
 *   pthread_create failed for thread <i> of <N>: <strerror>
 * on stderr and exits 1, as a runtime that cannot get a native thread does (with a pids limit
 * reached the error is EAGAIN, "Resource temporarily unavailable"). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 100000
#define MAX_AFTER 86400

static void *sleeper(void *arg) { (void)arg; for (;;) pause(); return NULL; }
static void stop(int sig) { (void)sig; _exit(0); }

/* arg parses a whole decimal number in [lo, hi], or returns -1. */
static long arg(const char *s, long lo, long hi) {
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

/* start creates threads from+1 .. to, or reports the first failure and exits 1. */
static void start(pthread_attr_t *attr, long from, long to) {
	for (long i = from + 1; i <= to; i++) {
		pthread_t t;
		int err = pthread_create(&t, attr, sleeper, NULL);
		if (err != 0) {
			fprintf(stderr, "pthread_create failed for thread %ld of %ld: %s\n", i, to, strerror(err));
			exit(1);
		}
	}
}

int main(int argc, char **argv) {
	long n = argc > 1 ? arg(argv[1], 1, MAX_THREADS) : -1;
	long grow = argc > 3 ? arg(argv[2], 1, MAX_THREADS) : n;
	long after = argc > 3 ? arg(argv[3], 0, MAX_AFTER) : 0;
	if ((argc != 2 && argc != 4) || n < 0 || grow < n || after < 0) {
		fprintf(stderr, "usage: thread-workload N [GROW_TO AFTER_SECONDS] (1 <= N <= GROW_TO <= %d, 0 <= AFTER_SECONDS <= %d)\n",
			MAX_THREADS, MAX_AFTER);
		return 2;
	}
	struct sigaction sa = {0};
	sa.sa_handler = stop;
	sigaction(SIGTERM, &sa, NULL);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024); /* tasks are what this tests, not memory */
	start(&attr, 0, n);
	printf("started %ld threads\n", n);
	fflush(stdout);
	if (grow > n) {
		sleep((unsigned)after);
		start(&attr, n, grow);
		printf("grew to %ld threads\n", grow);
		fflush(stdout);
	}
	for (;;) pause();
}
