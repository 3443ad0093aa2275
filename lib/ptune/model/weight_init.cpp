// Skipping the base model's weight initialisation (see weight_init.h).
#include "ptune/model/weight_init.h"

namespace ptune {

namespace {
thread_local bool skip_init = false;
}  // namespace

SkipWeightInit::SkipWeightInit() : was_(skip_init) {
  skip_init = true;
}
SkipWeightInit::~SkipWeightInit() {
  skip_init = was_;
}
bool weight_init_skipped() {
  return skip_init;
}

}  // namespace ptune
