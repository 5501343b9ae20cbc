"""Benchmark harness for TensorRT's Scale layer (IScaleLayer): y = (x*scale + shift)^power.

Pipeline, data flowing one way:
sweep (points) -> backend (build, run) -> timing -> results store -> analysis -> report.
"""

__version__ = "0.1.0"
