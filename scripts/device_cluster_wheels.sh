#!/usr/bin/env bash
# Wheels the GPU machine lacks for the cluster path (python 3.12, manylinux x86_64), into ./.whl: Dask and
# the few of its dependencies that the device image does not have (it has cloudpickle, msgpack, psutil,
# sortedcontainers, toolz, click, pyyaml, jinja2, fsspec, packaging, numpy, pandas, pyarrow). One version
# each, the versions the CPU tests ran with; --no-deps, so each dependency is named here.
# Run here, in the repository root; the device command installs them with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
set -euo pipefail
cd "$(dirname "$0")/.."
EXCLUDE=$(git rev-parse --git-path info/exclude)  # the wheels travel to the device but are never committed
grep -qxF '/.whl/' "$EXCLUDE" 2>/dev/null || echo '/.whl/' >> "$EXCLUDE"
rm -rf .whl && mkdir -p .whl
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" \
  -d .whl dask==2026.8.0 distributed==2026.8.0 tornado==6.6.1 tblib==3.2.2 zict==3.0.0 locket==1.0.0 partd==1.4.2
ls -l .whl
du -ch .whl/*.whl | tail -1
