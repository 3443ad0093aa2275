// Default wiring (see builder.h).
#include "ptune/model/builder.h"

namespace ptune {

Projection make_projection(const ModelBuilder& b, const std::string& path, int64_t in, int64_t out,
                           bool bias) {
  Projection p = b.projection ? b.projection(path, in, out, bias) : nullptr;
  return p ? p : std::make_shared<LinearImpl>(in, out, torch::kFloat, bias);
}

}  // namespace ptune
