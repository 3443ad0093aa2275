// Precision policy: maps precision.dtype to a compute dtype, wires it into the model and
// builds the loss scaler for fp16.
#include "ptune/precision/precision.h"

#include "ptune/core/cpu.h"
#include "ptune/core/error.h"
#include "ptune/core/log.h"

namespace ptune {

PrecisionPolicy make_precision_policy(const PrecisionConfig& p) {
  PrecisionPolicy out;
  out.dtype = p.dtype;
  out.compute = scalar_type(p.dtype);
  out.loss_scaling = out.compute == torch::kHalf;
  return out;
}

void apply_precision(const PrecisionPolicy& policy, Transformer& model,
                     const NamedTensors& trainable) {
  for (const auto& [name, t] : trainable)
    if (t.scalar_type() != torch::kFloat)
      runtime_error("precision {}: trainable parameter '{}' is {}, expected fp32 master weights",
                    name_of(policy.dtype), name, c10::toString(t.scalar_type()));
  model->set_compute_dtype(policy.compute);
  const bool on_cpu = trainable.empty() || !trainable.begin()->second.is_cuda();
  if (policy.compute == torch::kBFloat16 && on_cpu && !cpu_info().native_bf16())
    PTUNE_WARN(
        "bf16 is emulated on this CPU ({}; no AVX512_BF16 or AMX-BF16): its GEMMs run in "
        "fp32 on the bf16 values, rounded to bf16 once; precision.dtype: auto picks fp32 here",
        cpu_info().model);
}

std::unique_ptr<LossScaler> make_loss_scaler(const PrecisionConfig& p) {
  if (p.dtype != DType::kFp16) return nullptr;
  return std::make_unique<LossScaler>(p.loss_scale);
}

}  // namespace ptune
