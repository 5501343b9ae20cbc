"""`bench versions SPEC SPEC ...`: one sweep on several TensorRT releases, one report.

Only one `tensorrt` (or `tensorrt_rtx`) module fits in a Python environment, so each SPEC (a pip
requirement such as `tensorrt-cu12==10.16.1.11`, or a wheel file) gets an environment of its own, cached
under .cache/bench/versions and reused by later invocations. Everything else is shared, so the
environments differ in the SPEC and nothing else:

- harness: one snapshot of the harness's code and one folder of its packages (the versions the invoking
  environment has, installed once), which every environment reads;
- envs: a venv per SPEC holding the SPEC and what it pulls in, with the harness folder on its path;
- probe: run inside each environment: the TensorRT flavour and version it imports, whether its engines
  can run on this machine, and what the environment is (checked alike across environments);
- session: selfcheck in each environment, then the same sweep `--builds` times in each, interleaved,
  timing cache off, all runs into one folder with a manifest naming which run is which SPEC;
- report: per point, build time with its spread over the builds, engine size, the layers and tactics
  each version chose, and where the engines ran, times with verdicts against the first SPEC (verdicts).
"""
