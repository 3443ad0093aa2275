// Where this process stands among its peers, read from the environment torchrun gives its
// workers (and `ptune train --nproc` gives its own): RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. Without WORLD_SIZE (or with 1) the process is
// alone and nothing distributed is set up.
#pragma once

#include <string>

namespace ptune {

struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr;
  int master_port = 0;
  // torchrun's agent already serves the rendezvous store at MASTER_ADDR:MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True, its static rendezvous); otherwise rank 0 serves it.
  bool agent_store = false;
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: each restart's store keys apart

  bool distributed() const { return world_size > 1; }
};

// Reads the variables; a malformed or inconsistent one is a usage error naming it.
LaunchEnv launch_env();

}  // namespace ptune
