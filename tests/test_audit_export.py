"""The export format and its offline verification, without any database: any single
edited, deleted, repeated, swapped or inserted line, and a file cut short, is caught and
named by its line number."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseflow import i18n
from caseflow.audit import GENESIS, Checkpoint, Entry, canonical_json, chain_hash
from caseflow.audit_export import (
    ExportVerification,
    checkpoint_line,
    event_line,
    verify_export,
)


def chain(count: int, *, start_seq: int = 1, start_hash: str = GENESIS) -> list[str]:
    """An export of ``count`` events as its lines (each with its newline)."""
    lines = []
    prev = start_hash
    for seq in range(start_seq, start_seq + count):
        entry = Entry(
            seq=seq,
            recorded_at=f"2026-11-{seq % 28 + 1:02d}T02:00:00.000000+00:00",
            occurred_on=None if seq % 3 == 0 else f"2026-11-{seq % 28 + 1:02d}",
            operator="陈老师",
            os_user="chen",
            action="case.note" if seq % 2 else "case.transition",
            case_id=None if seq % 5 == 0 else seq % 4 + 1,
            payload={"text": f"第{seq}次入户劝返", "method": "visit", "n": seq},
        )
        digest = chain_hash(prev, entry)
        lines.append(
            event_line(
                seq=seq,
                recorded_at=entry.recorded_at,
                occurred_on=entry.occurred_on,
                operator=entry.operator,
                os_user=entry.os_user,
                action=entry.action,
                case_id=entry.case_id,
                payload=canonical_json(entry.payload),
                prev_hash=prev,
                hash=digest,
            )
            + "\n"
        )
        prev = digest
    lines.append(
        checkpoint_line(
            first_seq=start_seq,
            first_prev_hash=start_hash,
            last=Checkpoint(start_seq + count - 1, prev),
            events=count,
        )
        + "\n"
    )
    return lines


def check(lines: list[str], checkpoint: Checkpoint | None = None) -> ExportVerification:
    """Verify the lines as a file holding them would be read."""
    return verify_export(io.BytesIO("".join(lines).encode("utf-8")), checkpoint)


def test_an_intact_export_verifies_with_its_range() -> None:
    result = check(chain(6))
    assert result.intact, result.problem
    assert (result.events, result.first_seq, result.last.seq) == (6, 1, 6)  # type: ignore[union-attr]
    assert result.from_genesis


def test_an_export_line_without_its_hashes_is_the_canonical_event_that_was_hashed() -> None:
    first = json.loads(chain(1)[0])
    prev_hash, digest = first.pop("prev_hash"), first.pop("hash")
    text = json.dumps(first, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest() == digest


def test_a_mid_chain_export_takes_its_first_prev_hash_as_given() -> None:
    start = "ab" * 32
    result = check(chain(4, start_seq=40, start_hash=start))
    assert result.intact, result.problem
    assert (result.first_seq, result.start_hash, result.from_genesis) == (40, start, False)


def test_an_export_that_claims_to_start_the_chain_must_start_from_genesis() -> None:
    lines = chain(3, start_hash="ab" * 32)
    result = check(lines)
    assert (result.bad_line, result.intact) == (1, False)
    assert "genesis" in (result.problem or "")


def test_a_checkpoint_held_outside_must_be_in_the_export_unchanged() -> None:
    lines = chain(5)
    third = json.loads(lines[2])
    assert check(lines, Checkpoint(3, third["hash"][:16])).intact
    wrong = check(lines, Checkpoint(3, "0" * 16))
    assert (wrong.bad_line, wrong.intact) == (3, False)
    assert "rewritten" in (wrong.problem or "")
    outside = check(lines, Checkpoint(9, "0" * 16))
    assert not outside.intact and "does not hold" in (outside.problem or "")


def test_windows_line_endings_are_reported_as_a_change() -> None:
    lines = [line.replace("\n", "\r\n") for line in chain(2)]
    result = check(lines)
    assert result.bad_line == 1 and "carriage return" in (result.problem or "")


def test_a_changed_export_is_named_in_chinese_by_its_line() -> None:
    i18n.set_language("zh")
    try:
        result = check([line.replace("\n", "\r\n") for line in chain(2)])
    finally:
        i18n.set_language(None)
    assert result.problem == (
        "第 1 行以回车符结尾：文件已被改动（可能被转换为 Windows 换行符）；请核验原样导出的文件"
    )


def test_an_empty_file_is_not_an_export() -> None:
    result = check([])
    assert (result.bad_line, result.intact) == (1, False)


def test_a_missing_final_newline_is_accepted() -> None:
    lines = chain(2)
    lines[-1] = lines[-1].rstrip("\n")
    assert check(lines).intact


@pytest.mark.parametrize(
    ("name", "mutate", "line"),
    [
        ("a field edited", lambda ls: ls.__setitem__(1, ls[1].replace("陈老师", "王老师")), 2),
        ("a line deleted", lambda ls: ls.pop(2), 3),
        ("two lines swapped", lambda ls: ls.insert(1, ls.pop(2)), 2),
        ("a line repeated", lambda ls: ls.insert(3, ls[2]), 4),
        ("the first line deleted", lambda ls: ls.pop(0), 5),
        ("the last event deleted", lambda ls: ls.pop(4), 5),
        ("the checkpoint line deleted", lambda ls: ls.pop(), 6),
        ("cut inside a line", lambda ls: ls.__setitem__(4, ls[4][:40]), 5),
        ("a blank line inserted", lambda ls: ls.insert(2, "\n"), 3),
        ("a line added after the checkpoint", lambda ls: ls.append(ls[0]), 7),
        ("keys no longer sorted", lambda ls: ls.__setitem__(0, _unsorted(ls[0])), 1),
    ],
)
def test_each_kind_of_tampering_is_named_by_its_line(name: str, mutate, line: int) -> None:  # type: ignore[no-untyped-def]
    lines = chain(5)
    mutate(lines)
    result = check(lines)
    assert not result.intact, name
    assert result.bad_line == line, result.problem
    assert f"line {line}" in (result.problem or "")


def _unsorted(line: str) -> str:
    value = json.loads(line)
    return json.dumps(dict(reversed(value.items())), separators=(",", ":"), ensure_ascii=False)


def test_an_edited_line_with_its_hash_recomputed_is_caught_at_the_next_line() -> None:
    lines = chain(4)
    value = json.loads(lines[1])
    value["payload"]["text"] = "伪造"
    entry = Entry(
        value["seq"],
        value["recorded_at"],
        value["occurred_on"],
        value["operator"],
        value["os_user"],
        value["action"],
        value["case"],
        value["payload"],
    )
    value["hash"] = chain_hash(value["prev_hash"], entry)
    lines[1] = canonical_json(value) + "\n"
    result = check(lines)
    assert result.bad_line == 3 and "does not follow" in (result.problem or "")


# ---------------------------------------------------------------------------------------
# The property: any one change to one line is detected


def _replace_line(lines: list[str], index: int, text: str) -> None:
    lines[index] = text


mutations = st.one_of(
    # one character of one line replaced by another
    st.tuples(
        st.just("char"),
        st.integers(min_value=0),
        st.integers(min_value=0),
        st.characters(exclude_categories=("Cs",)),
    ),
    # one line replaced by arbitrary text
    st.tuples(st.just("line"), st.integers(min_value=0), st.just(0), st.text(max_size=40)),
    st.tuples(st.just("delete"), st.integers(min_value=0), st.just(0), st.just("")),
    st.tuples(st.just("swap"), st.integers(min_value=0), st.integers(min_value=0), st.just("")),
    st.tuples(st.just("repeat"), st.integers(min_value=0), st.integers(min_value=0), st.just("")),
)


@given(
    count=st.integers(min_value=1, max_value=6),
    start=st.sampled_from([1, 17]),
    mutation=mutations,
)
def test_any_single_line_edit_deletion_swap_or_repeat_is_detected(
    count: int, start: int, mutation: tuple[str, int, int, str]
) -> None:
    start_hash = GENESIS if start == 1 else hashlib.sha256(b"before").hexdigest()
    lines = chain(count, start_seq=start, start_hash=start_hash)
    kind, a, b, text = mutation
    i = a % len(lines)
    j = b % len(lines)
    if kind == "char":
        body = lines[i][:-1]
        k = b % len(body)
        if body[k] == text:
            return
        lines[i] = body[:k] + text + body[k + 1 :] + "\n"
    elif kind == "line":
        if text + "\n" == lines[i]:
            return
        lines[i] = text + "\n"
    elif kind == "delete":
        del lines[i]
    elif kind == "swap":
        if i == j:
            return
        lines[i], lines[j] = lines[j], lines[i]
    else:  # repeat line i at position j
        lines.insert(j, lines[i])
    result = check(lines)
    assert not result.intact
    assert result.bad_line is not None
    assert f"line {result.bad_line}" in (result.problem or "")
