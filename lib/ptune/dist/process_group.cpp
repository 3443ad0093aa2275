// c10d rendezvous and collectives (see process_group.h). ProcessGroupGloo derives from
// c10d::ProcessGroup in LibTorch 1.13 and from c10d::Backend from 2.0 on: the concrete types
// are held, so the calls read the same against both.
#include "ptune/dist/process_group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "ptune/core/error.h"
#include "ptune/core/log.h"

namespace ptune {

namespace {

using Ms = std::chrono::milliseconds;

Ms millis(double s) {
  return Ms(static_cast<int64_t>(s * 1000.0));
}

std::string message_of(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::shared_ptr<::gloo::transport::Device> gloo_device(const LaunchEnv& env) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(env.master_addr))
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

bool have_nccl() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace

struct DistGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;  // this attempt's keys (a PrefixStore)
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef USE_C10D_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  std::vector<c10::intrusive_ptr<c10d::Work>> started;
  torch::Device comm_device = torch::kCPU;  // NCCL reduces CUDA tensors only

  template <class F>
  c10::intrusive_ptr<c10d::Work> call(F&& f) {
#ifdef USE_C10D_NCCL
    if (nccl) return f(*nccl);
#endif
    return f(*gloo);
  }
};

DistGroup::~DistGroup() = default;

std::unique_ptr<DistGroup> DistGroup::connect(const LaunchEnv& env, DistBackend backend,
                                              torch::Device device, double timeout_s) {
  std::unique_ptr<DistGroup> g(new DistGroup());
  g->impl_ = std::make_unique<Impl>();
  g->rank_ = env.rank;
  g->size_ = env.world_size;
  g->timeout_s_ = timeout_s;
  const Ms timeout = millis(timeout_s);
  if (backend == DistBackend::kAuto)
    backend = device.is_cuda() && have_nccl() ? DistBackend::kNccl : DistBackend::kGloo;
  if (backend == DistBackend::kNccl && !have_nccl())
    usage_error(
        "train.distributed.backend: nccl, but this ptune's LibTorch has no NCCL (a CPU build); "
        "use gloo (or auto), or build ptune against a CUDA LibTorch");
  if (backend == DistBackend::kNccl && !device.is_cuda())
    usage_error("train.distributed.backend: nccl needs train.device: cuda; use gloo on the CPU");
  g->backend_name_ = name_of(backend);
  if (backend == DistBackend::kNccl) g->impl_->comm_device = device;

  // The store: rank 0 serves it unless torchrun's agent already does.
  const std::string where = fmt::format("{}:{}", env.master_addr, env.master_port);
  const bool serve = env.rank == 0 && !env.agent_store;
  c10::intrusive_ptr<c10d::Store> tcp;
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = serve;
    so.numWorkers = env.world_size;
    so.waitWorkers = false;  // the arrival count below says who is missing
    so.timeout = timeout;
    tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    if (serve)
      runtime_error(
          "distributed: rank 0 cannot serve the rendezvous store on port {} of {}: {}; choose "
          "another MASTER_PORT (or stop what listens there)",
          env.master_port, env.master_addr, message_of(e));
    runtime_error(
        "distributed: rank {} cannot reach the rendezvous store at {} within {} s: {}; check "
        "MASTER_ADDR and MASTER_PORT, and that rank 0 is running",
        env.rank, where, timeout_s, message_of(e));
  }
  g->impl_->store =
      c10::make_intrusive<c10d::PrefixStore>(fmt::format("ptune/{}", env.restart_count), tcp);
  c10d::Store& store = *g->impl_->store;

  // Arrival: every rank counts itself in, then waits for the rest.
  try {
    store.add("arrived", 1);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const int64_t arrived = store.add("arrived", 0);
      if (arrived >= env.world_size) break;
      if (std::chrono::steady_clock::now() > deadline)
        runtime_error(
            "distributed: rank {}: only {} of {} ranks reached the rendezvous at {} within "
            "train.distributed.timeout_s = {} s; start every rank (WORLD_SIZE={}) or raise the "
            "timeout",
            env.rank, arrived, env.world_size, where, timeout_s, env.world_size);
      std::this_thread::sleep_for(Ms(20));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    runtime_error("distributed: rank {}: rendezvous at {} failed: {}", env.rank, where,
                  message_of(e));
  }

  try {
    auto pg_store = c10::make_intrusive<c10d::PrefixStore>(g->backend_name_, g->impl_->store);
#ifdef USE_C10D_NCCL
    if (backend == DistBackend::kNccl) {
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      g->impl_->nccl =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(pg_store, env.rank, env.world_size, o);
    }
#endif
    if (backend == DistBackend::kGloo) {
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      o->devices.push_back(gloo_device(env));
      g->impl_->gloo =
          c10::make_intrusive<c10d::ProcessGroupGloo>(pg_store, env.rank, env.world_size, o);
    }
  } catch (const std::exception& e) {
    runtime_error("distributed: rank {}: cannot connect the {} process group through {}: {}",
                  env.rank, g->backend_name_, where, message_of(e));
  }
  return g;
}

void DistGroup::fail(const std::string& what, const std::exception& e) {
  // Which peers stopped answering: every rank that sees a collective fail signs in under
  // failed/<rank>; after a short grace the ranks that did not are the ones that exited or hang.
  std::string peers;
  try {
    impl_->store->set(fmt::format("failed/{}", rank_), std::vector<uint8_t>{1});
    std::vector<int> missing;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    do {
      missing.clear();
      for (int r = 0; r < size_; ++r)
        if (r != rank_ && !impl_->store->check({fmt::format("failed/{}", r)})) missing.push_back(r);
      if (missing.empty()) break;
      std::this_thread::sleep_for(Ms(50));
    } while (std::chrono::steady_clock::now() < deadline);
    if (!missing.empty())
      peers = fmt::format("; rank{} {} stopped answering (exited or hung)",
                          missing.size() > 1 ? "s" : "", fmt::join(missing, ", "));
  } catch (const std::exception&) {
    peers = "; the rendezvous store is gone too, so rank 0 (which serves it) exited";
  }
  runtime_error(
      "distributed: rank {} of {}: {} failed: {}{} (peers wait at most "
      "train.distributed.timeout_s = {} s)",
      rank_, size_, what, message_of(e), peers, timeout_s_);
}

void DistGroup::all_reduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what) {
  try {
    impl_->call([&](auto& pg) { return pg.allreduce(tensors); })->wait();
  } catch (const std::exception& e) {
    fail(what, e);
  }
}

void DistGroup::all_reduce_max(std::vector<torch::Tensor>& tensors, const std::string& what) {
  try {
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::MAX;
    impl_->call([&](auto& pg) { return pg.allreduce(tensors, o); })->wait();
  } catch (const std::exception& e) {
    fail(what, e);
  }
}

void DistGroup::broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) {
  try {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    // Gloo broadcasts one tensor per call (a list means one per device).
    for (auto& t : tensors) {
      std::vector<torch::Tensor> one{t};
      impl_->call([&](auto& pg) { return pg.broadcast(one, o); })->wait();
    }
  } catch (const std::exception& e) {
    fail(what, e);
  }
}

std::vector<torch::Tensor> DistGroup::all_gather(const torch::Tensor& t, const std::string& what) {
  std::vector<torch::Tensor> in{t.to(impl_->comm_device).contiguous()};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < size_; ++r) out[0].push_back(torch::empty_like(in[0]));
  try {
    impl_->call([&](auto& pg) { return pg.allgather(out, in); })->wait();
  } catch (const std::exception& e) {
    fail(what, e);
  }
  for (auto& x : out[0]) x = x.to(t.device());
  return out[0];
}

void DistGroup::barrier(const std::string& what) {
  try {
    impl_->call([&](auto& pg) { return pg.barrier(); })->wait();
  } catch (const std::exception& e) {
    fail(what, e);
  }
}

std::vector<double> DistGroup::sum(const std::vector<double>& values, const std::string& what) {
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kFloat64).to(impl_->comm_device)};
  all_reduce_sum(t, what);
  t[0] = t[0].cpu();
  return std::vector<double>(t[0].data_ptr<double>(), t[0].data_ptr<double>() + t[0].numel());
}

void DistGroup::start_all_reduce_sum(torch::Tensor& t) {
  std::vector<torch::Tensor> one{t};
  // A failure to start shows at wait_started, with its operation's name.
  impl_->started.push_back(impl_->call([&](auto& pg) { return pg.allreduce(one); }));
}

void DistGroup::wait_started(const std::string& what) {
  try {
    for (auto& w : impl_->started) w->wait();
    impl_->started.clear();
  } catch (const std::exception& e) {
    impl_->started.clear();
    fail(what, e);
  }
}

}  // namespace ptune
