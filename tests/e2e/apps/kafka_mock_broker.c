// A one-broker Kafka "cluster" for the tests: librdkafka's mock cluster, which speaks the real
// Kafka wire protocol (ApiVersions, Metadata, Produce, Fetch, the consumer-group APIs, ...) on a
// 127.0.0.1 port. Debian packages no Kafka broker (and a JVM broker would be slow to start); the
// mock is in librdkafka1, and real clients (kafkajs, librdkafka itself) work against it.
//
//   gcc -o kafka_mock_broker kafka_mock_broker.c -lrdkafka      (librdkafka-dev)
//   kafka_mock_broker orders:1 payments:2                        (topic:partitions ...)
//
// Creates the topics (replication factor 1), prints `bootstrap 127.0.0.1:PORT` on stdout and
// runs until SIGTERM/SIGINT or until its stdin reaches end of file, so that a parent which dies
// never leaves it running: give it a pipe as stdin (with stdin at /dev/null it exits at once).
// Lines read from stdin inject errors; each is acknowledged with a line on stdout once in place:
//
//   produce-error N CODE         the next N Produce requests fail with CODE   -> "ok"
//                                (e.g. `produce-error 1 6`: NOT_LEADER_OR_FOLLOWER)
//   request-error KEY N CODE     the same for the requests of API key KEY     -> "ok"
//   anything else                                                             -> "error ..."
#define _GNU_SOURCE  // ppoll
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kApiProduce = 0 };  // RD_KAFKAP_Produce; librdkafka does not install rdkafka_protocol.h

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

// The producer handle only hosts the mock cluster and has no bootstrap.servers: librdkafka would
// log "No bootstrap.servers configured" and the like. Keep errors only.
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  (void)rk;
  if (level <= 3) fprintf(stderr, "kafka_mock_broker: %s: %s\n", fac, buf);
}

static void reply(const char *line) {
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void push_errors(rd_kafka_mock_cluster_t *mc, long api_key, long n, long code) {
  if (api_key < 0 || api_key > 32767 || n < 1 || n > 1000) {
    reply("error bad arguments");
    return;
  }
  rd_kafka_resp_err_t *errors = calloc((size_t)n, sizeof *errors);
  if (!errors) {
    reply("error out of memory");
    return;
  }
  for (long i = 0; i < n; ++i) errors[i] = (rd_kafka_resp_err_t)code;
  rd_kafka_mock_push_request_errors_array(mc, (int16_t)api_key, (size_t)n, errors);
  free(errors);
  reply("ok");
}

static void handle_command(rd_kafka_mock_cluster_t *mc, char *line) {
  long a, b, c;
  char extra;
  if (sscanf(line, "produce-error %ld %ld %c", &a, &b, &extra) == 2) {
    push_errors(mc, kApiProduce, a, b);
  } else if (sscanf(line, "request-error %ld %ld %ld %c", &a, &b, &c, &extra) == 3) {
    push_errors(mc, a, b, c);
  } else if (line[strspn(line, " \t\r")] != '\0') {
    reply("error unknown command");
  }
}

int main(int argc, char **argv) {
  // SIGTERM and SIGINT stay blocked in every thread (librdkafka's inherit the mask) and are taken
  // only inside ppoll() below, so a signal always interrupts the wait on stdin.
  sigset_t blocked, waiting;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  pthread_sigmask(SIG_BLOCK, &blocked, &waiting);
  sigdelset(&waiting, SIGTERM);
  sigdelset(&waiting, SIGINT);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);  // a parent gone while we reply

  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, on_log);
  if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "kafka_mock_broker: %s\n", err);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "kafka_mock_broker: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
  if (!mc) {
    fprintf(stderr, "kafka_mock_broker: cannot create the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }

  for (int i = 1; i < argc; ++i) {
    char topic[256];
    int partitions = 1;
    const char *colon = strrchr(argv[i], ':');
    size_t len = colon ? (size_t)(colon - argv[i]) : strlen(argv[i]);
    if (colon) partitions = atoi(colon + 1);
    if (len == 0 || len >= sizeof topic || partitions < 1) {
      fprintf(stderr, "kafka_mock_broker: bad topic %s (want name:partitions)\n", argv[i]);
      rd_kafka_mock_cluster_destroy(mc);
      rd_kafka_destroy(rk);
      return 2;
    }
    memcpy(topic, argv[i], len);
    topic[len] = '\0';
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, partitions, 1);
    if (e) {
      fprintf(stderr, "kafka_mock_broker: topic %s: %s\n", topic, rd_kafka_err2str(e));
      rd_kafka_mock_cluster_destroy(mc);
      rd_kafka_destroy(rk);
      return 1;
    }
  }

  printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);

  // Stdin, read a line at a time by hand (stdio would block past a signal).
  char line[512];
  size_t used = 0;
  while (!stop_requested) {
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    int r = ppoll(&pfd, 1, NULL, &waiting);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    ssize_t n = read(0, line + used, sizeof line - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of file (or an error): the parent is gone
    used += (size_t)n;
    line[used] = '\0';
    char *start = line;
    char *nl;
    while ((nl = strchr(start, '\n')) != NULL) {
      *nl = '\0';
      handle_command(mc, start);
      start = nl + 1;
    }
    used = strlen(start);
    memmove(line, start, used + 1);
    if (used == sizeof line - 1) used = 0;  // an overlong line: dropped
  }

  // No rd_kafka_mock_cluster_destroy()/rd_kafka_destroy(): in librdkafka 2.0 the former often
  // takes a full second (the mock thread's poll timeout), and nothing outlives the process; the
  // kernel closes the listening and client sockets.
  fflush(stdout);
  _exit(0);
}
