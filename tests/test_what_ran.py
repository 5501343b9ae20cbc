"""What ran: the label two rows are compared by, for every backend, and None where nothing ran."""

from __future__ import annotations

import json

import pandas as pd

from bench import what_ran

CUDA = {
    "status": "ok",
    "backend": "cuda",
    "kernel_config": {"variant": "vector", "block": "256", "vectors_per_thread": "4", "grid": "reuse",
                      "cache_hint": "streaming", "grid_blocks": "528", "source": "tuned", "tuning_key": "k"},
    "environment": json.dumps({"kernel_generator": "ca75dc7d0011aabb"}),
}  # fmt: skip


def test_a_cuda_row_is_named_by_generator_and_launch_not_by_how_it_was_chosen():
    assert what_ran.label(CUDA) == "kernel ca75dc7d b256 v4 reuse streaming"
    cached = {**CUDA, "kernel_config": {**CUDA["kernel_config"], "source": "cached", "grid_blocks": "264"}}
    assert what_ran.label(cached) == what_ran.label(CUDA)


def test_another_launch_or_another_generator_is_another_label():
    other_block = {**CUDA, "kernel_config": {**CUDA["kernel_config"], "block": "128"}}
    other_gen = {**CUDA, "environment": json.dumps({"kernel_generator": "ffff0000"})}
    assert len({what_ran.label(r) for r in (CUDA, other_block, other_gen)}) == 3


def test_direct_variant_and_kernel_config_given_as_pairs():
    row = {**CUDA, "kernel_config": [("variant", "direct"), ("block", "32")]}
    assert what_ran.label(row) == "kernel ca75dc7d direct b32"


def test_tensorrt_rows_use_the_engine_digest_else_the_layer_information():
    trt = {"status": "ok", "backend": "tensorrt", "builder_settings": json.dumps({"engine_digest": "ab" * 32})}
    assert what_ran.label(trt) == "engine " + ("ab" * 6)
    layers = {"status": "ok", "backend": "tensorrt-rtx", "builder_settings": "{}", "layer_info": '{"Layers": []}'}
    other = {**layers, "layer_info": '{"Layers": [1]}'}
    assert what_ran.label(layers).startswith("layers ") and what_ran.label(layers) != what_ran.label(other)


def test_rows_that_ran_nothing_have_no_label_and_copies_say_which_copy():
    assert what_ran.label({**CUDA, "status": "skipped"}) is None
    assert what_ran.label({**CUDA, "status": "built"}) is None
    assert what_ran.label({"status": "ok", "backend": "memcpy", "kernel_config": None}) == "cudaMemcpyAsync"
    assert what_ran.label({"status": "ok", "backend": "numpy"}) == "numpy"


def test_column_labels_a_results_frame_in_index_order():
    frame = pd.DataFrame([CUDA, {"status": "ok", "backend": "numpy"}], index=[7, 3])
    col = what_ran.column(frame)
    assert list(col.index) == [7, 3] and col[3] == "numpy" and col[7].startswith("kernel ")
    assert what_ran.column(frame.iloc[:0]).empty
