// The floating-point formats ptune computes and stores in, with their recipe / config names.
#pragma once

#include <c10/core/ScalarType.h>

#include "ptune/core/choice.h"

namespace ptune {

enum class DType { kFp32, kBf16, kFp16 };

inline constexpr Choice<DType> kDTypeNames[] = {
    {DType::kFp32, "fp32"}, {DType::kBf16, "bf16"}, {DType::kFp16, "fp16"}};
constexpr const auto& choices(DType) {
  return kDTypeNames;
}

inline c10::ScalarType scalar_type(DType d) {
  switch (d) {
    case DType::kBf16:
      return c10::kBFloat16;
    case DType::kFp16:
      return c10::kHalf;
    case DType::kFp32:
      break;
  }
  return c10::kFloat;
}

}  // namespace ptune
