"""Property: whatever records a journal holds after its header (bytes a checksum accepts, written by another
run, another version or by hand), resuming it either takes a record as one of the run's rows or reports it by
line, never raises; and the rows it takes always make a results file that reads back. A journal is the
run's own input at `--resume`, and hostile input is still input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.backends.base import BackendOptions
from bench.execution.task import PointTask, RunSpec
from bench.execution.worker import PointWorker
from bench.point import Point
from bench.results import load
from bench.results.journal import Journal
from bench.results.schema import COLUMNS
from bench.results.store import RunWriter, journal_path, point_id
from bench.timing.settings import TimingSettings

RUN_ID = "20261204T000000Z-fuzz-0123456789ab"
TIMING = TimingSettings(warmup_s=0.0005, min_samples=3, min_time_s=0.001, max_time_s=0.005, rounds=2)


@pytest.fixture(scope="module")
def real_records() -> list[dict]:
    """Records as a run writes them: the rows and first rounds of three numpy points (one skipped)."""
    spec = RunSpec(RUN_ID, "fuzz", "plan", TIMING, False, BackendOptions(), ("numpy",))
    worker = PointWorker(spec)
    worker.start()
    out = []
    try:
        for i, shape in enumerate([(1, 3, 3, 3), (2, 3, 4, 5)]):
            point = Point(shape, "channel", "fp16", None, "numpy")
            first = worker.execute(PointTask(i, point, round=0, rounds=2)).row
            out.append({"kind": "round", "round": 0, "row": first})
            out.append({"kind": "row", "row": worker.execute(PointTask(i, point, round=1, rounds=2)).row})
        skipped = Point((1, 3), "channel", "fp32", 7, "numpy")
        out.append({"kind": "row", "row": worker.execute(PointTask(2, skipped, "axis 7 is out of range")).row})
    finally:
        worker.close()
    return json.loads(json.dumps(out))  # as the journal holds them: JSON values


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["ok", "skipped", "bogus", RUN_ID, "2026-11-26T07:45:08+00:00", "not a time", "numpy"]),
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
COLUMN_NAMES = st.sampled_from([*COLUMNS, "kind", "round", "row", "bogus"])


@st.composite
def mutated(draw, base: list[dict]) -> dict:
    """A real record with a few values replaced, removed, added, or its envelope changed."""
    record = json.loads(json.dumps(draw(st.sampled_from(base))))
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(["row", "row", "row", "envelope"]))
        where = record["row"] if target == "row" and isinstance(record.get("row"), dict) else record
        key = draw(COLUMN_NAMES)
        action = draw(st.sampled_from(["set", "set", "drop"]))
        if action == "drop":
            where.pop(key, None)
        else:
            where[key] = draw(VALUES)
    return record


def _json_safe(record: dict) -> bool:
    """The journal's JSON holds what json.dumps writes; hypothesis may draw floats JSON has no text for."""
    try:
        json.loads(json.dumps(record))
    except (ValueError, TypeError):
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_records_are_taken_or_reported_and_what_is_taken_makes_a_results_file(real_records, tmp_path_factory, data):
    records = data.draw(st.lists(mutated(real_records), min_size=1, max_size=6))
    records = [r for r in records if _json_safe(r)]
    out = tmp_path_factory.mktemp("journal")
    with Journal.create(journal_path(out, RUN_ID), {"run_id": RUN_ID, "identity": {}}) as journal:
        for record in records:
            journal.append(record)
    writer, contents = RunWriter.resume(out, RUN_ID)  # must not raise, whatever the records say
    try:
        taken = writer.finished()
        reported = {int(m.split(":")[0].removeprefix("line ")) for m in contents.damaged}
        assert reported <= set(range(2, len(records) + 2))  # by the line that holds the record
        for line, record in enumerate(records, start=2):
            if record in real_records:  # a record as a run writes it is never reported
                assert line not in reported, (line, contents.damaged)
        for pid in taken:
            row = writer.rows[pid]
            assert row["run_id"] == RUN_ID and row["status"] in ("ok", "built", "mismatch", "failed", "skipped")
        if taken:
            path = writer.finalize(sorted(taken))
            df = load(path)
            assert sorted(zip(df["point_key"], df["backend"], strict=True)) == sorted(taken)
    finally:
        writer.close()


def test_an_integer_no_column_can_hold_is_reported_and_its_point_runs_again(real_records, tmp_path):
    """Found by the property above: a count past int64 (valid JSON, valid checksum) broke resume."""
    rows = [r for r in real_records if r["kind"] == "row"]
    bad = json.loads(json.dumps(rows[0]))
    bad["row"]["numel"] = 2**70
    with Journal.create(journal_path(tmp_path, RUN_ID), {"run_id": RUN_ID, "identity": {}}) as journal:
        journal.append(bad)
        journal.append(rows[1])
    writer, contents = RunWriter.resume(tmp_path, RUN_ID)
    writer.close()
    assert [m.split(":")[0] for m in contents.damaged] == ["line 2"]
    assert writer.finished() == {point_id(rows[1]["row"])}


def test_the_records_a_run_writes_are_all_taken(real_records, tmp_path):
    """The other side of the property: nothing a real run writes is reported as damaged."""
    with Journal.create(journal_path(tmp_path, RUN_ID), {"run_id": RUN_ID, "identity": {}}) as journal:
        for record in real_records:
            journal.append(record)
    writer, contents = RunWriter.resume(tmp_path, RUN_ID)
    writer.close()
    assert not contents.problems()
    assert writer.finished() == {point_id(r["row"]) for r in real_records if r["kind"] == "row"}
    assert len(writer.rounds) == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=5))
def test_any_bytes_after_the_header_are_records_or_reported_damage(tmp_path_factory, lines):
    out = tmp_path_factory.mktemp("bytes")
    path = journal_path(out, RUN_ID)
    with Journal.create(path, {"run_id": RUN_ID, "identity": {}}):
        pass
    written = b"\n".join(lines)  # lines of any bytes, the last perhaps torn
    with path.open("ab") as fh:
        fh.write(written)
    writer, contents = RunWriter.resume(out, RUN_ID)
    writer.close()
    assert not writer.finished() and len(contents.damaged) <= written.count(b"\n")
    assert path.read_bytes().endswith(b"\n")  # a torn last line is cut off before anything is appended
