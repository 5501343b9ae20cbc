"""`python -m bench selfcheck`: what this machine can run of the harness, run, in well under a minute.

- machine: what is here (GPU, cuda-python, TensorRT, TensorRT-RTX, the lean runtime) and why not;
- cookbook: the cookbook page's printed outputs, which the seed's networks must reproduce exactly;
- checks: the checks, grouped by what they need, each passed / failed / not run with the reason;
- report: the outcome as console lines and as markdown a user can paste into a bug report.

It uses the backends' public interface (prepare / output / measure) and bench.timing, never the
runner or the results store, so it checks the parts a run is made of rather than a run's bookkeeping.
"""
