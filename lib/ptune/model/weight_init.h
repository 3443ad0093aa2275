// Whether the base model's weights are initialised when they are built. A model about to
// be loaded from a checkpoint skips it (as HF's low_cpu_mem_usage): its projections and
// embeddings are allocated and never written before the checkpoint's tensors replace or fill
// them, so untouched pages cost neither time nor resident memory.
#pragma once

namespace ptune {

// While one is alive on this thread, LinearImpl, LoRALinearImpl's base weight and the token
// embedding are allocated uninitialised (norms are still ones; LoRA's A and B, adapters and
// prefixes are initialised as always, since no checkpoint holds them).
class SkipWeightInit {
 public:
  SkipWeightInit();
  ~SkipWeightInit();
  SkipWeightInit(const SkipWeightInit&) = delete;
  SkipWeightInit& operator=(const SkipWeightInit&) = delete;

 private:
  bool was_;
};

bool weight_init_skipped();

}  // namespace ptune
