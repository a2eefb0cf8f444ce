// Reproducible CPU linear algebra (see core/numerics.h).
#include "grpo/core/numerics.h"

#include <cstdlib>

namespace grpo::core {

void use_reproducible_blas() { ::setenv("MKL_CBWR", "AUTO,STRICT", /*overwrite=*/0); }

}  // namespace grpo::core
