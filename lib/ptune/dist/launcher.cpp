// Local worker launcher (see launcher.h).
#include "ptune/dist/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "ptune/core/error.h"
#include "ptune/core/log.h"

namespace ptune {

namespace {

// The workers, for the signal handler (which may only call async-signal-safe functions).
constexpr int kMaxWorkers = 1024;
pid_t g_workers[kMaxWorkers];
volatile sig_atomic_t g_n_workers = 0;

void forward_signal(int sig) {
  for (int i = 0; i < g_n_workers; ++i)
    if (g_workers[i] > 0) kill(g_workers[i], sig);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
  return "stopped";
}

}  // namespace

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) runtime_error("--nproc: cannot open a socket: {}", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const int err = errno;
    close(fd);
    runtime_error("--nproc: cannot find a free port on 127.0.0.1: {}", std::strerror(err));
  }
  close(fd);
  return ntohs(a.sin_port);
}

int run_local_workers(int nproc, const std::vector<std::string>& argv, double grace_s) {
  if (nproc < 1 || nproc > kMaxWorkers)
    usage_error("--nproc: {} is not in [1, {}]", nproc, kMaxWorkers);
  const int port = free_local_port();
  PTUNE_INFO("--nproc {}: starting {} workers, rendezvous at 127.0.0.1:{}", nproc, nproc, port);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

  const pid_t parent = getpid();
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = fork();
    if (pid < 0) {
      const int err = errno;
      forward_signal(SIGTERM);
      runtime_error("--nproc: cannot start worker {}: {}", rank, std::strerror(err));
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // a launcher that dies takes its workers along
      if (getppid() != parent) _exit(1);
      for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
      const std::string r = std::to_string(rank), n = std::to_string(nproc);
      const std::string p = std::to_string(port);
      setenv("RANK", r.c_str(), 1);
      setenv("LOCAL_RANK", r.c_str(), 1);
      setenv("GROUP_RANK", "0", 1);
      setenv("WORLD_SIZE", n.c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", n.c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", p.c_str(), 1);
      unsetenv("TORCHELASTIC_USE_AGENT_STORE");
      execv("/proc/self/exe", cargv.data());
      std::fprintf(stderr, "error: --nproc: cannot run /proc/self/exe: %s\n", std::strerror(errno));
      _exit(127);
    }
    g_workers[rank] = pid;
    g_n_workers = rank + 1;
  }

  using Clock = std::chrono::steady_clock;
  int running = nproc, first_failure = 0;
  Clock::time_point failed_at{};
  bool termed = false, killed = false;
  while (running > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, first_failure ? WNOHANG : 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pid == 0) {  // after a failure: the others get grace_s, then SIGTERM, then SIGKILL
      const double waited = std::chrono::duration<double>(Clock::now() - failed_at).count();
      if (!termed && waited > grace_s) {
        PTUNE_WARN("--nproc: {} worker{} still running {:.0f} s after the failure: SIGTERM",
                   running, running > 1 ? "s" : "", waited);
        forward_signal(SIGTERM);
        forward_signal(SIGCONT);  // a stopped worker acts on SIGTERM only once continued
        termed = true;
      } else if (!killed && waited > grace_s + 5) {
        forward_signal(SIGKILL);
        killed = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int rank = 0;
    while (rank < nproc && g_workers[rank] != pid) ++rank;
    if (rank == nproc) continue;
    g_workers[rank] = -1;
    --running;
    const int code = exit_code_of(status);
    if (code != 0 && !first_failure) {
      first_failure = code;
      failed_at = Clock::now();
      PTUNE_ERROR("--nproc: worker rank {} (pid {}) {}{}", rank, pid, describe(status),
                  running > 0
                      ? fmt::format("; waiting up to {:.0f} s for the other {}", grace_s, running)
                      : "");
    } else if (code != 0) {
      PTUNE_DEBUG("--nproc: worker rank {} (pid {}) {}", rank, pid, describe(status));
    }
  }
  g_n_workers = 0;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
  return first_failure;
}

}  // namespace ptune
