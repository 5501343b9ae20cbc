"""Sweep files and command-line axes: expansion, skips, sharding, and refusals before any work."""

from pathlib import Path

import pytest

from bench.backends.base import BackendOptions
from bench.errors import UserError
from bench.planning import expand, make_backends, parse_shard, plan, shard
from bench.sweepfile import SWEEPS_DIR, cli_sweep, load_sweep, with_cli_axes


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", sorted(p.stem for p in SWEEPS_DIR.glob("*.toml")))
def test_every_shipped_sweep_loads_and_expands(name):
    points = expand(load_sweep(name))
    assert points
    assert len({(p.key, p.backend) for p in points}) == len(points)


def test_cartesian_expansion_counts_every_combination(tmp_path):
    sweep = load_sweep(
        write(
            tmp_path,
            """
[axes]
shape = ["1x3x3x3", "2x4x4x4"]
mode = ["uniform", "channel"]
precision = ["fp32", "fp16"]
channel_axis = ["default", -1]
backend = ["numpy"]
""",
        )
    )
    assert len(expand(sweep)) == 2 * 2 * 2 * 2


def test_default_sweep_spans_tiny_to_256_mib_every_mode_precision_and_axis():
    points = expand(load_sweep("default"))
    assert min(p.numel for p in points) == 27
    assert max(p.tensor_bytes for p in points if p.precision == "fp32") == 256 * 2**20
    assert {p.mode for p in points} == {"uniform", "channel", "elementwise"}
    assert {p.precision for p in points} == {"fp32", "fp16", "bf16", "int8"}
    assert {p.channel_axis for p in points} == {None, 0, 1, 2, -1}


def test_uniform_with_an_axis_is_skipped_with_a_reason():
    sweep = cli_sweep({"shape": ["1x3x3x3"], "mode": ["uniform"], "channel_axis": ["default", "0"]})
    planned = plan(expand(sweep), make_backends({"numpy"}, BackendOptions()))
    assert [pp.runs for pp in planned] == [True, False]
    assert "UNIFORM" in planned[1].skip_reason


def test_axis_out_of_range_is_skipped_with_the_valid_range():
    sweep = cli_sweep({"shape": ["3x4"], "mode": ["channel"], "channel_axis": ["2"]})
    (pp,) = plan(expand(sweep), make_backends({"numpy"}, BackendOptions()))
    assert not pp.runs and "-2 <= channel_axis < 2" in pp.skip_reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[axes]\nshape = ["1x3"]\ncolour = ["red"]',
            r"s\.toml: \[axes\]: unknown key 'colour'; allowed keys: backend, channel_axis",
        ),
        ('bogus = 1\n[axes]\nshape = ["1x3"]', r"s\.toml: unknown key 'bogus'"),
        ('[axes]\nshape = ["2x3y"]', r"s\.toml: \[axes\]: shape\[0\] '2x3y' is malformed.*e\.g\. 1x3x224x224"),
        ('[axes]\nshape = ["2x0x3"]', r"shape\[0\] .*positive integer"),
        (
            '[axes]\nshape = ["1x3"]\nmode = ["diagonal"]',
            r"mode\[0\] 'diagonal' is not a mode; allowed: uniform, channel, elementwise",
        ),
        (
            '[axes]\nshape = ["1x3"]\nprecision = ["fp12"]',
            r"precision\[0\] 'fp12' is not a precision; allowed: fp32, fp16, bf16, int8",
        ),
        (
            '[axes]\nshape = ["1x3"]\nchannel_axis = ["first"]',
            r"channel_axis\[0\] 'first' is not a channel axis; allowed: 'default' or an integer",
        ),
        (
            '[axes]\nshape = ["1x3"]\nbackend = ["opencl"]',
            r"backend\[0\] 'opencl' is not a backend; allowed: numpy, cuda, memcpy",
        ),
        (
            '[axes]\nshape = ["1x3"]\n[measure]\nmethod = "cupti"',
            r"\[measure\]: method 'cupti' is not allowed; use graph or events",
        ),
        (
            '[axes]\nshape = ["1x3"]\n[measure]\nmax_time_s = -1',
            r"\[measure\]: max_time_s must be a finite, non-negative number",
        ),
        ('[axes]\nshape = ["1x3"]\n[measure]\ntarget_noise = 5', r"target_noise must be a fraction"),
        (
            '[axes]\nshape = ["1x3"]\n[measure]\nl2_flush = true\nrotate_buffers = true',
            r"l2_flush and rotate_buffers exclude each other .*; set one of them to false",
        ),
        (
            '[axes]\nshape = ["1x3"]\n[weights]\nkind = "gaussian"',
            r"\[weights\]: kind 'gaussian' is not allowed; use 'constant' or 'random'",
        ),
        (
            '[axes]\nshape = ["1x3"]\n[weights]\nshift = "a lot"',
            r"\[weights\]: shift must be a finite number or a non-empty list of finite numbers",
        ),
        (
            '[axes]\nshape = ["1x3"]\n[[case]]\nname = "x"\nprecisions = ["fp16"]',
            r"\[\[case\]\] #1: unknown key 'precisions'",
        ),
        ("[axes]\nmode = ['uniform']", r"has no shape; set shape in \[axes\] or in the case"),
        ("[axes\nshape=", r"not valid TOML"),
    ],
)
def test_bad_sweep_files_are_refused_naming_file_key_and_allowed_values(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        load_sweep(write(tmp_path, text))


def test_asking_for_a_flushed_l2_times_one_buffer_set(tmp_path):
    assert load_sweep(write(tmp_path, '[axes]\nshape = ["1x3"]')).measure.rotate_buffers is True
    flushed = load_sweep(write(tmp_path, '[axes]\nshape = ["1x3"]\n[measure]\nl2_flush = true')).measure
    assert flushed.l2_flush and not flushed.rotate_buffers


def test_sweep_by_name_or_path_and_unknown_names():
    assert load_sweep("smoke").name == "smoke"
    assert load_sweep(str(SWEEPS_DIR / "smoke.toml")).name == "smoke"
    with pytest.raises(UserError, match="no sweep of that name; known: bandwidth, default, seed, smoke"):
        load_sweep("nightly")


def test_command_line_axes_replace_the_sweeps():
    sweep = with_cli_axes(load_sweep("smoke"), {"precision": ["FP16"], "shape": ["2x3x4x5"]})
    points = expand(sweep)
    assert {p.precision for p in points} == {"fp16"}
    assert {p.shape for p in points} == {(2, 3, 4, 5)}


def test_command_line_values_are_validated_naming_the_flag():
    with pytest.raises(UserError, match=r"--channel-axis: channel_axis\[0\] 'x'"):
        cli_sweep({"shape": ["1x3x3x3"], "channel_axis": ["x"]})
    with pytest.raises(UserError, match="give --sweep NAME"):
        cli_sweep({"mode": ["uniform"]})


def test_shards_partition_the_points_deterministically():
    points = expand(load_sweep("smoke"))
    shards = [shard(points, i, 4) for i in range(1, 5)]
    keys = [{(p.key, p.backend) for p in s} for s in shards]
    assert sum(len(k) for k in keys) == len(points)
    assert set().union(*keys) == {(p.key, p.backend) for p in points}
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    # independent of the order the sweep lists points in
    assert {(p.key, p.backend) for p in shard(list(reversed(points)), 2, 4)} == keys[1]


@pytest.mark.parametrize("text", ["0/4", "5/4", "1-4", "a/b"])
def test_bad_shard_is_refused(text):
    with pytest.raises(UserError, match="--shard"):
        parse_shard(text)
