/* thread-workload: the incident's workload for the real-node e2e (internal/images). It starts
 * N threads (argv[1]) that sleep, then sleeps itself. When pthread_create fails it writes
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

static void *sleeper(void *arg) { (void)arg; for (;;) pause(); return NULL; }
static void stop(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv) {
	char *end;
	long n = argc > 1 ? strtol(argv[1], &end, 10) : 0;
	if (argc != 2 || *end != '\0' || n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "usage: thread-workload N (1 <= N <= %d)\n", MAX_THREADS);
		return 2;
	}
	struct sigaction sa = {0};
	sa.sa_handler = stop;
	sigaction(SIGTERM, &sa, NULL);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024); /* tasks are what this tests, not memory */
	for (long i = 1; i <= n; i++) {
		pthread_t t;
		int err = pthread_create(&t, &attr, sleeper, NULL);
		if (err != 0) {
			fprintf(stderr, "pthread_create failed for thread %ld of %ld: %s\n", i, n, strerror(err));
			return 1;
		}
	}
	printf("started %ld threads\n", n);
	fflush(stdout);
	for (;;) pause();
}
