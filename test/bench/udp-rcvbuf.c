/*
 * udp-rcvbuf: gives another process's UDP socket a receive buffer of BYTES, as
 * net.core.rmem_default=BYTES would have at its creation (a measurement tool for the
 * `ingest-why` bench, not firmware).
 * usage: udp-rcvbuf PID PORT BYTES   (as root, in the socket's network namespace)
 *
 * Why: the box image sets net.core.rmem_default=4194304 because Deno's datagram socket has no
 * buffer option, but rmem_default cannot be set inside a network namespace (EINVAL), and
 * setting it on the host would change every other process's sockets. So the bench takes a
 * duplicate of the socket (pidfd_getfd, Linux 5.6+) and sets SO_RCVBUFFORCE on it: the same
 * socket, the same sk_rcvbuf the box would give it, and the same tool for every receiver
 * compared. SO_RCVBUFFORCE doubles its argument (as SO_RCVBUF does), so BYTES/2 is passed.
 * Prints {"fd":N,"rcvbuf":BYTES} (the kernel's value read back) on stdout.
 *
 * usage: udp-rcvbuf --truesize FILE COUNT
 * How much receive buffer one datagram takes: sends COUNT payloads of FILE (one per line, as
 * udp-pace sends them) over loopback to a socket that does not read, and prints
 * {"datagrams":N,"rmemAlloc":BYTES,"perDatagram":BYTES} from SO_MEMINFO. A receive buffer of
 * B bytes holds about B / perDatagram datagrams: what a receiver that stops reading for a
 * while (a commit, a GC pause) can absorb.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* The inode of the UDP socket bound to `port` in /proc/PID/net/udp or udp6, or 0. */
static unsigned long find_inode(int pid, int port) {
  const char *files[] = {"udp", "udp6"};
  for (int f = 0; f < 2; f++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/net/%s", pid, files[f]);
    FILE *in = fopen(path, "r");
    if (!in) continue;
    char line[512];
    while (fgets(line, sizeof line, in)) {
      char local[128];
      unsigned long inode;
      /* sl local rem st queues tr retrnsmt uid timeout inode */
      if (sscanf(line, " %*d: %127s %*s %*s %*s %*s %*s %*s %*s %lu", local, &inode) != 2) continue;
      char *colon = strrchr(local, ':');
      if (colon && (int)strtol(colon + 1, NULL, 16) == port) {
        fclose(in);
        return inode;
      }
    }
    fclose(in);
  }
  return 0;
}

/* The process's fd that refers to socket:[inode], or -1. */
static int find_fd(int pid, unsigned long inode) {
  char dir[64], want[64];
  snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
  snprintf(want, sizeof want, "socket:[%lu]", inode);
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  int found = -1;
  while ((e = readdir(d)) != NULL) {
    char link[512], target[128];
    snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    if (strcmp(target, want) == 0) {
      found = atoi(e->d_name);
      break;
    }
  }
  closedir(d);
  return found;
}

static int truesize(const char *file, int count) {
  FILE *f = fopen(file, "r");
  if (!f) { perror(file); return 2; }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len = getline(&line, &cap, f);
  fclose(f);
  if (len <= 1) { fprintf(stderr, "no payload in %s\n", file); return 2; }
  if (line[len - 1] == '\n') len--;
  int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(rx, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(rx, (struct sockaddr *)&a, &al) != 0) { perror("bind"); return 1; }
  int sent = 0;
  for (int i = 0; i < count; i++) {
    if (sendto(tx, line, len, 0, (struct sockaddr *)&a, sizeof a) == len) sent++;
  }
  __u32 mem[SK_MEMINFO_VARS] = {0};
  socklen_t ml = sizeof mem;
  if (getsockopt(rx, SOL_SOCKET, SO_MEMINFO, mem, &ml) != 0) { perror("SO_MEMINFO"); return 1; }
  printf("{\"datagrams\":%d,\"payloadBytes\":%zd,\"rmemAlloc\":%u,\"rcvbuf\":%u,\"perDatagram\":%u}\n",
         sent, len, mem[SK_MEMINFO_RMEM_ALLOC], mem[SK_MEMINFO_RCVBUF], sent > 0 ? mem[SK_MEMINFO_RMEM_ALLOC] / sent : 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--truesize") == 0) return truesize(argv[2], atoi(argv[3]));
  if (argc != 4) {
    fprintf(stderr, "usage: %s PID PORT BYTES | --truesize FILE COUNT\n", argv[0]);
    return 2;
  }
  int pid = atoi(argv[1]), port = atoi(argv[2]);
  int bytes = atoi(argv[3]);
  unsigned long inode = find_inode(pid, port);
  if (inode == 0) { fprintf(stderr, "no UDP socket on port %d in process %d\n", port, pid); return 1; }
  int fd = find_fd(pid, inode);
  if (fd < 0) { fprintf(stderr, "process %d has no fd for socket inode %lu\n", pid, inode); return 1; }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) { perror("pidfd_open"); return 1; }
  int sock = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
  if (sock < 0) { perror("pidfd_getfd"); return 1; }
  int half = bytes / 2;
  if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof half) != 0) { perror("SO_RCVBUFFORCE"); return 1; }
  int got = 0;
  socklen_t len = sizeof got;
  if (getsockopt(sock, SOL_SOCKET, SO_RCVBUF, &got, &len) != 0) { perror("SO_RCVBUF"); return 1; }
  printf("{\"fd\":%d,\"rcvbuf\":%d}\n", fd, got);
  close(sock);
  close(pidfd);
  return 0;
}
