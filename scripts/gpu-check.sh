#!/usr/bin/env bash
# GPU check for mixed precision: builds ptune against a CUDA LibTorch into
# build-gpu/, runs the CUDA fp16 training smoke test (gtest PrecisionCuda.*, plus the loss
# scaler unit tests) and `ptune bench` on CUDA in fp32 / bf16 / fp16 at shape (b).
#   CMAKE_PREFIX_PATH=/path/to/torch/share/cmake scripts/gpu-check.sh
# Without CMAKE_PREFIX_PATH it asks the first python3 with a CUDA torch for
# torch.utils.cmake_prefix_path (a pip torch wheel ships LibTorch and its CMake files).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CMAKE_PREFIX_PATH:-}" ]; then
  for py in python3 /usr/bin/python3; do
    if p=$("$py" -c 'import torch; assert torch.cuda.is_available(); print(torch.utils.cmake_prefix_path)' 2>/dev/null); then
      export CMAKE_PREFIX_PATH=$p
      abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
      [ "$abi" = 1 ] || echo "gpu-check: warning: this torch wheel uses the pre-C++11 string ABI;" \
        "linking with the system yaml-cpp/spdlog may fail" >&2
      break
    fi
  done
fi
[ -n "${CMAKE_PREFIX_PATH:-}" ] || { echo "gpu-check: set CMAKE_PREFIX_PATH to a CUDA LibTorch" >&2; exit 2; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >&2

# A CUDA LibTorch's CMake config runs enable_language(CUDA): it needs nvcc, of the toolkit's version.
command -v nvcc >/dev/null || { [ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH; }
echo "gpu-check: building build-gpu against $CMAKE_PREFIX_PATH" >&2
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH" >/dev/null
cmake --build build-gpu -j"$(nproc)" --target ptune test_unit test_gpu

echo "gpu-check: fp16 training smoke test on CUDA" >&2
build-gpu/bin/test_gpu
build-gpu/bin/test_unit --gtest_filter='LossScaler.*:Precision.*'

echo "gpu-check: bench, shape (b)" >&2
shape=(--hidden 512 --layers 8 --heads 8 --vocab 8192 --seq 256 --batch 4 --steps 10 --warmup 3)
for dtype in fp32 bf16 fp16; do
  build-gpu/bin/ptune bench --device cuda --dtype "$dtype" "${shape[@]}"
done
