"""TensorRT backends (`tensorrt` for 8.6 / 10.x / 11.x, `tensorrt-rtx` for TensorRT-RTX) behind one adapter.

Modules, one job each:
- importer: the only place that imports `tensorrt`, `tensorrt_rtx` (and the lean runtime, which is no backend);
- features: what the imported module offers (detected by attribute, never by version string) and the
  pure decisions that follow from it (flags, precision recipe, run API, timing cache);
- network: the one-layer network (input -> IScaleLayer -> output) for a point;
- build: builder config, error capture, timing cache, engine cache, layer information, deserialisation;
- startup: what the adapter refuses before any point (cache folder, GPU, a runtime that refuses this GPU);
- backend: the Backend classes the registry names, and execution through the shared GPU layer.

Nothing here imports TensorRT at module import time, so `import bench.backends.tensorrt.backend` works
without it (the registry and `--help` rely on that).
"""
