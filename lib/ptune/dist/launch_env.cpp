// torchrun's environment (see launch_env.h).
#include "ptune/dist/launch_env.h"

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "ptune/core/error.h"

namespace ptune {

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// An integer variable in [lo, hi], or `fallback` when unset.
int int_var(const char* name, int fallback, int lo, int hi) {
  const char* v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (errno != 0 || *end != '\0' || x < lo || x > hi)
    usage_error("environment: {}='{}' is not an integer in [{}, {}]", name, v, lo, hi);
  return static_cast<int>(x);
}

}  // namespace

LaunchEnv launch_env() {
  LaunchEnv e;
  constexpr int kMaxWorld = 1 << 20;
  e.world_size = int_var("WORLD_SIZE", 1, 1, kMaxWorld);
  if (!e.distributed()) return e;
  if (!env("RANK")) usage_error("environment: WORLD_SIZE={} is set but RANK is not", e.world_size);
  e.rank = int_var("RANK", 0, 0, e.world_size - 1);
  e.local_world_size = int_var("LOCAL_WORLD_SIZE", 1, 1, e.world_size);
  e.local_rank = int_var("LOCAL_RANK", 0, 0, e.local_world_size - 1);
  const char* addr = env("MASTER_ADDR");
  if (!addr)
    usage_error("environment: WORLD_SIZE={} needs MASTER_ADDR (the host of rank 0)", e.world_size);
  e.master_addr = addr;
  if (!env("MASTER_PORT"))
    usage_error("environment: WORLD_SIZE={} needs MASTER_PORT (a free TCP port on {})",
                e.world_size, e.master_addr);
  e.master_port = int_var("MASTER_PORT", 0, 1, 65535);
  const char* agent = env("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent && (std::string_view(agent) == "True" || std::string_view(agent) == "1");
  e.restart_count = int_var("TORCHELASTIC_RESTART_COUNT", 0, 0, 1 << 30);
  return e;
}

}  // namespace ptune
