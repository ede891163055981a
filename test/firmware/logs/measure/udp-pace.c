/*
 * udp-pace: sends datagrams open-loop at a fixed rate (a measurement tool, not a test).
 * usage: udp-pace HOST PORT RATE SECONDS FILE
 * FILE holds one payload per line (sent without the newline), used round robin.
 * Every millisecond it sends what the schedule owes with sendmmsg, so a slow receiver
 * cannot slow it down (open loop). Prints {"sent":N,"errors":E,"seconds":S} on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAYLOADS 4096
#define BATCH 256

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s HOST PORT RATE SECONDS FILE\n", argv[0]);
    return 2;
  }
  double rate = atof(argv[3]), seconds = atof(argv[4]);
  FILE *f = fopen(argv[5], "r");
  if (!f) { perror("payload file"); return 2; }
  static char *payloads[MAX_PAYLOADS];
  static size_t lengths[MAX_PAYLOADS];
  int n = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while (n < MAX_PAYLOADS && (len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') len--;
    if (len == 0) continue;
    payloads[n] = malloc(len);
    memcpy(payloads[n], line, len);
    lengths[n++] = len;
  }
  fclose(f);
  if (n == 0) { fprintf(stderr, "no payloads\n"); return 2; }

  int fd = socket(strchr(argv[1], ':') ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_storage ss = {0};
  socklen_t sl;
  if (strchr(argv[1], ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(atoi(argv[2]));
    inet_pton(AF_INET6, argv[1], &a->sin6_addr);
    sl = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &a->sin_addr);
    sl = sizeof *a;
  }
  if (connect(fd, (struct sockaddr *)&ss, sl) != 0) { perror("connect"); return 2; }

  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  long long sent = 0, errors = 0, next = 0;
  double start = now(), end = start + seconds;
  for (;;) {
    double t = now();
    if (t >= end) break;
    long long due = (long long)((t - start) * rate);
    while (sent + errors < due) {
      int k = due - sent - errors > BATCH ? BATCH : (int)(due - sent - errors);
      for (int i = 0; i < k; i++) {
        int p = (int)(next++ % n);
        iov[i].iov_base = payloads[p];
        iov[i].iov_len = lengths[p];
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int r = sendmmsg(fd, msgs, k, 0);
      if (r < 0) { errors += 1; continue; } /* ECONNREFUSED after an ICMP error: count and go on */
      sent += r;
      if (r < k) errors += k - r;
    }
    struct timespec pause = {0, 1000000}; /* 1 ms */
    nanosleep(&pause, NULL);
  }
  printf("{\"sent\":%lld,\"errors\":%lld,\"seconds\":%.3f}\n", sent, errors, now() - start);
  return 0;
}
