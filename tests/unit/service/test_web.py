"""The answers the web views build on their own."""

from __future__ import annotations

from schemas.dvcqg import Stamped
from service.web import MAX_LISTED_ERRORS, ingest_answer


def test_an_ingest_answer_names_at_most_a_hundred_invalid_records() -> None:
    # A body of 100,000 invalid records once made an answer of as many reasons.
    errors = [{"index": n, "MaHoSo": None, "reason": "MaHoSo: missing"} for n in range(5000)]
    answer = ingest_answer(Stamped(b"", 5001, errors, []), [], 0)
    assert len(answer["errors"]) == MAX_LISTED_ERRORS == 100
    assert answer["errors_not_listed"] == 4900 and answer["valid"] == 1


def test_an_ingest_answer_does_not_call_valid_records_accepted() -> None:
    answer = ingest_answer(Stamped(b"", 2, [], []), [], 1)
    assert answer["valid"] == 2 and "accepted" not in answer
    assert answer["outside_registry"] == 1 and "CCHC_MAX_UNLISTED_UNITS" in answer["message"]
    assert answer["error_code"] == "0" and answer["message"].startswith("Thành công")
    assert "errors" not in answer


def test_the_answer_is_what_senders_take_for_success_and_says_why_records_failed() -> None:
    # A .NET sender re-sends until error_code is "0" and the message has "thành công".
    errors = [{"index": 0, "MaHoSo": "HS-1", "reason": "NgayTiepNhan: missing"}]
    answer = ingest_answer(Stamped(b"", 2, errors, []), [], 0)
    assert answer["error_code"] == "0" and "thành công" in answer["message"].lower()
    assert "1/2" in answer["message"] and "NgayTiepNhan: missing" in answer["message"]
