"""The procedure catalogue gives a dossier its field when its submission names none."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi.calendar import WorkingCalendar
from kpi.dossier import DossierState, merge
from kpi.procedures import SYNTHETIC, CatalogueError, fields_of, load_procedures
from schemas.codec import parse_instant
from schemas.records import DossierSubmitted, ProcessingTime

RECEIVED = parse_instant("2026-03-02T08:00:00+07:00", "t")


def submitted(procedure: str | None, field: str | None = None) -> DossierSubmitted:
    three_days = ProcessingTime(3, "working_days")
    return DossierSubmitted("s", "u", "d", RECEIVED, None, three_days, None, procedure, None, field)


def field_of(event: DossierSubmitted, fields: dict[str, str]) -> str:
    state = merge(DossierState(), event, WorkingCalendar(), fields)
    assert state is not None and state.submission is not None
    return state.submission.field


def test_a_submissions_own_field_wins_else_its_procedures_else_none() -> None:
    fields = fields_of(load_procedures(SYNTHETIC))
    assert field_of(submitted("dang-ky-ket-hon"), fields) == "HO-TICH"
    assert field_of(submitted("dang-ky-ket-hon", "TU-PHAP"), fields) == "TU-PHAP"
    assert field_of(submitted("khong-co-trong-danh-muc"), fields) == ""
    assert field_of(submitted(None), fields) == ""
    assert load_procedures(None) == {}, "none unless configured"


def test_the_synthetic_catalogue_covers_the_simulators_procedures() -> None:
    from clients.simulator import PROCEDURE_NAMES

    catalogue = load_procedures(SYNTHETIC)
    assert set(catalogue) == set(PROCEDURE_NAMES)
    assert {p.name for p in catalogue.values()} == set(PROCEDURE_NAMES.values())
    assert catalogue["chung-thuc-ban-sao"].processing == ProcessingTime(8, "hours")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("code,name\n", "expected the columns"),
        ("procedure_code,name,field_code,field_name\nx,X,,F\n", "needs a code and a field code"),
        ("procedure_code,name,field_code,field_name\nx,X,F,F\nx,Y,G,G\n", "duplicate"),
        (
            "procedure_code,name,field_code,field_name,processing_amount,processing_unit\n"
            "x,X,F,F,3,weeks\n",
            "is not a whole number of",
        ),
    ],
)
def test_a_catalogue_that_cannot_be_used_says_why(text: str, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "procedures.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match=reason):
        load_procedures(path)
