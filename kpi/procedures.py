"""The procedure catalogue: each administrative procedure's field (lĩnh vực), contract §10.

An event dossier names its field with its submission's ``field_code``; one that does not
takes the field of its ``procedure_code`` here. The catalogue is a CSV the operator
provides (``CCHC_PROCEDURES_FILE``; none unless configured), with the columns
``procedure_code, name, field_code, field_name`` and optionally ``processing_amount`` and
``processing_unit``. ``kpi/data/procedures-synthetic.csv`` is a small **synthetic**
catalogue of real fields a province handles (hộ tịch, chứng thực, đất đai, xây dựng, đăng
ký kinh doanh, ...) for the demo: its codes are not the national portal's.

    >>> catalogue = load_procedures(SYNTHETIC)
    >>> catalogue["dang-ky-ket-hon"].field_code, fields_of(catalogue)["chung-thuc-ban-sao"]
    ('HO-TICH', 'CHUNG-THUC')

A file without the columns is refused; a row that cannot be used is left out and its line
kept with the reason, so that one wrong row of a catalogue of thousands does not keep the
monitor from starting (its procedures' dossiers count as unclassified until it is fixed).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from schemas.records import ProcessingTime

COLUMNS = ("procedure_code", "name", "field_code", "field_name")
OPTIONAL_COLUMNS = ("processing_amount", "processing_unit")
UNITS = ("working_days", "calendar_days", "hours")
MAX_CODE_CHARS = 64
"""As a submission's ``field_code``."""
SYNTHETIC = Path(__file__).parent / "data" / "procedures-synthetic.csv"


class CatalogueError(ValueError):
    """A procedures file that cannot be used."""


@dataclass(frozen=True)
class Procedure:
    code: str
    name: str
    field_code: str
    field_name: str
    processing: ProcessingTime | None = None


class Catalogue(dict[str, Procedure]):
    """Procedures by code, in file order, and the rows left out (``path:line: reason``)."""

    def __init__(self, procedures: dict[str, Procedure], skipped: list[str]) -> None:
        super().__init__(procedures)
        self.skipped = skipped

    def field_names(self) -> dict[str, str]:
        """The name of each field code (the first row's that names it)."""
        names: dict[str, str] = {}
        for procedure in self.values():
            names.setdefault(procedure.field_code, procedure.field_name or procedure.field_code)
        return names


def load_procedures(path: Path | None) -> Catalogue:
    """The catalogue of a file (none without one); :class:`CatalogueError` when the file
    cannot be read or lacks the columns."""
    if path is None:
        return Catalogue({}, [])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise CatalogueError(f"{path}: {problem}") from None
    rows = list(csv.DictReader(text.splitlines()))
    header = tuple(rows[0]) if rows else ()
    if header[: len(COLUMNS)] != COLUMNS or not set(header[len(COLUMNS) :]) <= {*OPTIONAL_COLUMNS}:
        raise CatalogueError(
            f"{path}: expected the columns {', '.join(COLUMNS)} "
            f"(and optionally {', '.join(OPTIONAL_COLUMNS)})"
        )
    found: dict[str, Procedure] = {}
    skipped: list[str] = []
    for line, row in enumerate(rows, start=2):
        try:
            procedure = _procedure(row, found)
        except CatalogueError as problem:
            skipped.append(f"{path}:{line}: {problem}")
        else:
            found[procedure.code] = procedure
    return Catalogue(found, skipped)


def _procedure(row: dict[str, str | None], found: dict[str, Procedure]) -> Procedure:
    code, name, field_code, field_name = ((row.get(c) or "").strip() for c in COLUMNS)
    if not code or not field_code or len(field_code) > MAX_CODE_CHARS:
        raise CatalogueError(
            f"a procedure needs a code and a field code of at most {MAX_CODE_CHARS} characters"
        )
    if code in found:
        raise CatalogueError(f"duplicate procedure_code {code}")
    return Procedure(code, name, field_code, field_name, _processing(row))


def _processing(row: dict[str, str | None]) -> ProcessingTime | None:
    amount = (row.get("processing_amount") or "").strip()
    unit = (row.get("processing_unit") or "").strip()
    if not amount and not unit:
        return None
    if not (amount.isascii() and amount.isdecimal()) or int(amount) < 1 or unit not in UNITS:
        raise CatalogueError(
            f"processing time {amount!r} {unit!r} is not a whole number of {', '.join(UNITS)}"
        )
    return ProcessingTime(int(amount), unit)  # type: ignore[arg-type]  # checked above


def fields_of(catalogue: Mapping[str, Procedure]) -> dict[str, str]:
    """The field code of each procedure: what the engine needs of the catalogue."""
    return {code: procedure.field_code for code, procedure in catalogue.items()}
