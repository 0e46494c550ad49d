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


def test_a_catalogue_without_its_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "procedures.csv"
    path.write_text("code,name\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="expected the columns"):
        load_procedures(path)
    with pytest.raises(CatalogueError, match=r"missing\.csv"):
        load_procedures(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("x,X,,F", "needs a code and a field code"),
        (f"x,X,{'F' * 65},F", "needs a code and a field code"),
        ("w,W,F,F,3,weeks", "is not a whole number of"),
        ("w,W,F,F,-1,hours", "is not a whole number of"),
        ("q,Q", "needs a code"),
        ("x,X,G,G", "duplicate procedure_code x"),
    ],
)
def test_a_broken_row_is_left_out_with_its_line_and_reason(
    row: str, reason: str, tmp_path: Path
) -> None:
    path = tmp_path / "procedures.csv"
    header = "procedure_code,name,field_code,field_name,processing_amount,processing_unit"
    path.write_text(f"{header}\nx,X,F,Đất đai\n{row}\nz,Z,H,Hộ tịch\n", encoding="utf-8")
    catalogue = load_procedures(path)
    assert {"x", "z"} <= set(catalogue)
    assert catalogue["x"].field_code == "F", "the first row of a code stands"
    assert len(catalogue.skipped) == 1
    assert catalogue.skipped[0].startswith(f"{path}:3: ") and reason in catalogue.skipped[0]
    assert catalogue.field_names()["H"] == "Hộ tịch"
