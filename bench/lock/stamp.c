/* Tiny job command for bench/lock: records CLOCK_MONOTONIC timestamps.
 *
 *   stamp [-w FIFO] [-t SECONDS] LOG TAG
 *
 * First action: append "S <ns> <tag> <pid> <$CUDA_VISIBLE_DEVICES>" to LOG.
 * Then optionally block until FIFO reaches EOF (-w) and/or sleep (-t).
 * Last action before exit: append "E <ns> <tag> <own cpu ns>" to LOG.
 * Built by bench.py into its temp dir; not part of gpuci. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void append(const char *log, const char *line)
{
	int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(log);
		exit(111);
	}
	size_t n = strlen(line);
	if (write(fd, line, n) != (ssize_t)n) {
		perror("write");
		exit(111);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	long long t0 = now_ns();
	const char *fifo = NULL;
	double sleep_s = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			break;
		if (!strcmp(argv[i], "-w"))
			fifo = argv[i + 1];
		else if (!strcmp(argv[i], "-t"))
			sleep_s = atof(argv[i + 1]);
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: stamp [-w FIFO] [-t SEC] LOG TAG\n");
		return 2;
	}
	const char *log = argv[i], *tag = argv[i + 1];
	const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
	char line[512];
	snprintf(line, sizeof line, "S %lld %s %d %s\n", t0, tag, (int)getpid(),
	         cvd && *cvd ? cvd : "-");
	append(log, line);

	if (fifo) {
		int fd = open(fifo, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			char buf[64];
			while (read(fd, buf, sizeof buf) > 0) {
			}
			close(fd);
		}
	}
	if (sleep_s > 0) {
		struct timespec ts = {(time_t)sleep_s, (long)((sleep_s - (time_t)sleep_s) * 1e9)};
		while (nanosleep(&ts, &ts) != 0) {
		}
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long long cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	                (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
	snprintf(line, sizeof line, "E %lld %s %lld\n", now_ns(), tag, cpu);
	append(log, line);
	return 0;
}
