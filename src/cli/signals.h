// Waits for SIGINT/SIGTERM synchronously (sigwait), so shutdown runs on the main thread and not
// in a signal handler. Construct before starting threads: they inherit the blocked mask.
#pragma once

#include <pthread.h>

#include <csignal>

namespace hodos::cli {

class SignalWaiter {
 public:
  SignalWaiter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  int wait() {
    int sig = 0;
    sigwait(&set_, &sig);
    return sig;
  }

 private:
  sigset_t set_;
};

}  // namespace hodos::cli
