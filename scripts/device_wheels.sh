#!/usr/bin/env bash
# The wheels the lent GPU machine needs for `python3 -m bench selfcheck`, downloaded here into ./.whl
# (ignored by git; the device tool carries it with carry=[".whl"]). The device image has numpy, pandas,
# pyarrow, scipy, seaborn, matplotlib, rich, ml-dtypes, nvidia-ml-py, cuda-bindings 13 and NVRTC, and no
# TensorRT of any kind. Python 3.12, manylinux x86_64, --no-deps, one version of each.
#
#   scripts/device_wheels.sh        TensorRT's lean runtime 11.4.0.106 (CUDA 13): 43 MiB
#   scripts/device_wheels.sh rtx    TensorRT-RTX 1.7.1.116 for CUDA 12 (its library links no CUDA runtime
#                                   library, so a CUDA 13 driver runs it), the 85 MiB library wheel rewritten
#                                   with LZMA (scripts/recompress_wheel.py, ~3 min here): 59.5 MiB
#
# The device's working tree (this checkout plus .whl) may hold 64 MiB in all, so the two cannot travel
# together: TensorRT-RTX's smallest library wheel is 85 MiB as shipped (cu12; cu13: 91 MiB), 58 MiB
# recompressed; the lean runtime's is 42 MiB. Each set is for a device call of its own; the script empties
# .whl first, so only one set is there at a time (two versions of a package stop the device's install).
# The last line says whether the set fits beside this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-lean}"
case "$what" in
  lean) wheels=(tensorrt-lean-cu13-libs==11.4.0.106 tensorrt-lean-cu13-bindings==11.4.0.106) ;;
  rtx) wheels=(tensorrt-rtx-cu12-libs==1.7.1.116 tensorrt-rtx-cu12-bindings==1.7.1.116) ;;
  *) echo "usage: $0 [lean|rtx]" >&2; exit 2 ;;
esac

rm -rf .whl
mkdir -p .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${wheels[@]}"
if [ "$what" = rtx ]; then
  # `import tensorrt_rtx` comes from the metapackage, published as an sdist only: build its wheel here
  python3 -m pip wheel --quiet --no-deps -w .whl tensorrt-rtx-cu12==1.7.1.116
  python3 scripts/recompress_wheel.py .whl/tensorrt_rtx_cu12_libs-*.whl
fi

tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
python3 - "$tree" .whl/*.whl <<'PY'
import os, sys
tree, wheels = int(sys.argv[1]), sys.argv[2:]
for w in wheels:
    print(f"{os.path.getsize(w) / 2**20:8.1f} MiB  {os.path.basename(w)}")
total = sum(os.path.getsize(w) for w in wheels)
print(f"{total / 2**20:8.1f} MiB  in .whl; with the working tree ({tree / 2**20:.1f} MiB): "
      f"{(total + tree) / 2**20:.1f} MiB of the 64 MiB a device call may carry")
PY
