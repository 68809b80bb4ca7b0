"""The audit event format a reviewer can reproduce with any JSON library."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseflow.audit import Entry, canonical_json, chain_hash

texts = st.text(max_size=12)
payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
).filter(lambda value: isinstance(value, dict)) | st.dictionaries(texts, texts, max_size=4)


@given(
    seq=st.integers(min_value=1),
    case=st.none() | st.integers(min_value=1),
    occurred=st.none() | st.dates().map(lambda d: d.isoformat()),
    operator=texts,
    action=texts,
    payload=payloads,
)
def test_an_event_hash_is_sha256_of_the_previous_hash_and_the_sorted_compact_event(
    seq: int, case: int | None, occurred: str | None, operator: str, action: str, payload: dict
) -> None:
    entry = Entry(
        seq, "2026-11-29T02:00:00.000000+00:00", occurred, operator, "root", action, case, payload
    )
    document = {
        "seq": seq,
        "recorded_at": entry.recorded_at,
        "occurred_on": occurred,
        "operator": operator,
        "os_user": "root",
        "action": action,
        "case": case,
        "payload": payload,
    }
    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert entry.canonical() == expected
    assert entry.canonical(canonical_json(payload)) == expected
    prev = "0" * 64
    assert chain_hash(prev, entry) == hashlib.sha256(f"{prev}\n{expected}".encode()).hexdigest()


@pytest.mark.parametrize(
    "payload",
    [
        {"amount": 1.5},
        {"visits": [1, 2, 3.0]},
        {"ladder": {"rungs": [{"offset": 0.5}]}},
        {"pair": ("a", (1, 2.5))},
    ],
)
def test_floats_are_refused_in_audit_payloads_however_deep(payload: dict) -> None:
    with pytest.raises(TypeError, match="no floats"):
        canonical_json(payload)
