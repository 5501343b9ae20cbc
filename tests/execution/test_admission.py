"""Which workers a run uses: one GPU model unless told otherwise, the client's own code, a GPU each."""

from __future__ import annotations

import pytest

from bench.errors import UserError
from bench.execution import admission

H100, A100 = "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB"


def test_one_model_is_the_runs_model():
    assert admission.choose_models([H100, H100], None, False) == {H100}
    assert admission.choose_models([None, None], None, False) == {None}  # CPU workers


def test_several_models_are_refused_unless_one_is_named_or_mixing_is_allowed():
    with pytest.raises(UserError) as info:
        admission.choose_models([H100, A100, H100], None, False)
    assert str(info.value).startswith(f"the workers have 2 GPU models ({H100} (2 workers), {A100} (1 worker))")
    assert "--gpu-model NAME" in str(info.value) and "--mixed-gpus" in str(info.value)
    assert admission.choose_models([H100, A100], "h100", False) == {H100}
    assert admission.choose_models([H100, A100], None, True) is None
    assert admission.choose_models([H100, A100], "NVIDIA", True) == {H100, A100}
    with pytest.raises(UserError, match=r"--gpu-model 'H200': no worker has such a GPU; the workers have"):
        admission.choose_models([H100, A100], "H200", False)
    with pytest.raises(UserError, match="2 GPU models"):
        admission.choose_models([H100, A100], "NVIDIA", False)


def test_workers_of_another_model_are_left_alone():
    assert admission.fits_model({"gpu_name": H100}, {H100})
    assert not admission.fits_model({"gpu_name": A100}, {H100})
    assert admission.fits_model({"gpu_name": A100}, None)


def test_a_worker_with_other_code_or_a_backend_that_cannot_start_is_unfit():
    ok = {"run_columns": {"code_digest": "abc"}}
    assert admission.unfit(ok, "abc") is None
    assert "other harness code (code digest def, this checkout's abc)" in admission.unfit(
        {"run_columns": {"code_digest": "def"}}, "abc"
    )
    assert admission.unfit({"error": "backend cuda cannot start on this machine: no GPU"}, "abc").startswith("backend")


def test_two_workers_on_one_gpu_are_named():
    facts = {"tcp://a:1": {"gpu_uuid": "GPU-1", "host": "h"}, "tcp://b:2": {"gpu_uuid": "GPU-1", "host": "h"}}
    message = admission.shared_gpu(facts)
    assert message.startswith("workers tcp://a:1 and tcp://b:2 both time on GPU GPU-1 (h)")
    assert admission.shared_gpu({"tcp://a:1": {"gpu_uuid": "GPU-1"}, "tcp://b:2": {"gpu_uuid": "GPU-2"}}) is None
    assert admission.shared_gpu({"tcp://a:1": {}, "tcp://b:2": {}}) is None  # CPU workers
