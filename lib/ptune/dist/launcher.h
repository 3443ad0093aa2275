// `ptune train --nproc N`: N workers of this same program on this machine, each with the
// environment torchrun would give it (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1, MASTER_PORT: a free port). SIGINT, SIGTERM and SIGHUP are passed on
// to the workers. When one fails, the others get `grace_s` to notice and exit on their own
// (their error names who stopped answering), then SIGTERM, and SIGKILL 5 s later.
#pragma once

#include <string>
#include <vector>

namespace ptune {

// Runs the workers (argv: the worker's command line, argv[0] included) and returns the exit
// code of the first one that failed (128 + signal for a signal), or 0.
int run_local_workers(int nproc, const std::vector<std::string>& argv, double grace_s);

// A TCP port of 127.0.0.1 that nothing listens on now.
int free_local_port();

}  // namespace ptune
