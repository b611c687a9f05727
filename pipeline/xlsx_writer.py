"""A streaming .xlsx writer for sheets of text and number cells, built on zipfile.

The pipeline writes one row per lead, so a nightly export of 100,000 leads makes
close to two million cells. A general writer spends most of its time per cell:
for 100,000 rows of 18 columns, xlsxwriter 3.3.1 took 7.3 s and this module
1.8 s on a 2-CPU machine (bench/README.md). It writes only what the results
workbook needs:

- text as inline strings, so a text cell is never a formula, a number or a date,
  and a text that Excel would take for a formula if typed (starting with =, +, -
  or @) gets the style with `quotePrefix`, so editing the cell keeps it text;
- ints and floats as number cells; None, NaN and "" as no cell at all;
- a frozen first row and column widths, per sheet.

Text longer than Excel's limit of 32,767 characters is cut and ends in " [cut]".
Each sheet's XML goes through a temporary file before it is deflated into the
archive, so memory stays flat and zipfile gets each part's size up front.

NOTE: the demo's results workbook was checked with LibreOffice Calc 7.4
(converted to CSV, every cell equal to what openpyxl reads, `=SUM(...)` kept as
text), but has not been opened in Microsoft Excel.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.sax.saxutils import quoteattr

logger = logging.getLogger(__name__)

# A cell value. NaN and infinite floats, like None and "", leave the cell empty.
Cell = str | int | float | bool | None

# Excel's limit on the characters of one cell. Longer text is cut to end in CUT_MARK.
MAX_CELL_CHARACTERS = 32_767
CUT_MARK = " [cut]"

# A text cell that Excel would read as a formula if typed in starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@")

# With deflate level 1 the benchmark's results workbook took 1.8 s to write and
# 11.5 MB, against 2.4 s and 9.4 MB at level 6 (bench/README.md).
_COMPRESS_LEVEL = 1
_ROWS_PER_CHUNK = 2_000
# Room for the largest <dimension> Excel allows: ref="A1:XFD1048576".
_DIMENSION_SPACE = 32

# Characters that XML 1.0 forbids or alters are escaped as _xHHHH_, as Excel does.
# A reader turns a carriage return into a line feed, so it is one of them. Text
# already of that form gets its underscore escaped, so no reader decodes it.
_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_LITERAL_ESCAPE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELATIONSHIP_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_NS = "http://schemas.openxmlformats.org/package/2006"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"

# Style 0 is Excel's default, and style 1 adds the quote prefix.
_STYLES = (
    f'{_XML_DECLARATION}<styleSheet xmlns="{_MAIN_NS}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/>'
    "</font></fonts>"
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
    "</borders>"
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    "</cellStyleXfs>"
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    "</cellStyles></styleSheet>"
)


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its name, its rows and how it is shown.

    `rows` is read once, as the sheet is written. `column_widths` maps a 0-based
    column to its width in characters.
    """

    name: str
    rows: Iterable[Sequence[Cell]]
    column_widths: Mapping[int, float] = field(default_factory=dict)
    freeze_first_row: bool = False


def write_workbook(path: Path, sheets: Sequence[Sheet]) -> None:
    """Write the sheets, in order, as a new .xlsx file at `path`.

    Raises:
        OSError: the file or a temporary file cannot be written.
    """
    with zipfile.ZipFile(
        path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_COMPRESS_LEVEL
    ) as archive:
        archive.writestr("[Content_Types].xml", _content_types(len(sheets)))
        archive.writestr("_rels/.rels", _package_relationships())
        archive.writestr("xl/workbook.xml", _workbook(sheets))
        archive.writestr("xl/_rels/workbook.xml.rels", _workbook_relationships(sheets))
        archive.writestr("xl/styles.xml", _STYLES)
        for number, sheet in enumerate(sheets, start=1):
            with tempfile.TemporaryFile(dir=path.parent) as part:
                _write_sheet(part, sheet)
                _copy_into(archive, f"xl/worksheets/sheet{number}.xml", part)


def _copy_into(archive: zipfile.ZipFile, name: str, source: IO[bytes]) -> None:
    """Deflate a file into the archive, as zip64 only when it is that large."""
    size = source.seek(0, 2)
    source.seek(0)
    with archive.open(name, "w", force_zip64=size > zipfile.ZIP64_LIMIT) as target:
        while chunk := source.read(1 << 20):
            target.write(chunk)


def _write_sheet(target: IO[bytes], sheet: Sheet) -> None:
    """Write one worksheet's XML, a chunk of rows at a time.

    The sheet's size is known only at the end, so its <dimension> element, which
    readers such as openpyxl use to pad short rows, goes into blank space kept
    for it at the start. Blank space between elements is valid XML.
    """
    target.write(
        f'{_XML_DECLARATION}<worksheet xmlns="{_MAIN_NS}" '
        f'xmlns:r="{_RELATIONSHIP_NS}">'.encode()
    )
    dimension_at = target.tell()
    target.write(b" " * _DIMENSION_SPACE + _sheet_head(sheet).encode())
    letters: list[str] = []
    chunk: list[str] = []
    number = 0
    for number, cells in enumerate(sheet.rows, start=1):
        if len(cells) > len(letters):
            letters = [column_letters(position) for position in range(len(cells))]
        chunk.append(_row(number, cells, letters))
        if len(chunk) == _ROWS_PER_CHUNK:
            target.write("".join(chunk).encode("utf-8", "replace"))
            chunk.clear()
    chunk.append("</sheetData></worksheet>")
    target.write("".join(chunk).encode("utf-8", "replace"))

    reference = f"A1:{letters[-1]}{number}" if number and letters else "A1"
    dimension = f'<dimension ref="{reference}"/>'.encode()
    if len(dimension) <= _DIMENSION_SPACE:
        target.seek(dimension_at)
        target.write(dimension)
        target.seek(0, 2)


def _row(number: int, cells: Sequence[Cell], letters: list[str]) -> str:
    """Return one <row> element, leaving out empty cells."""
    parts = [f'<row r="{number}">']
    for letter, value in zip(letters, cells, strict=False):
        if value is None or value == "":
            continue
        if isinstance(value, str):
            parts.append(_text_cell(f"{letter}{number}", value))
        elif isinstance(value, bool):
            parts.append(f'<c r="{letter}{number}" t="b"><v>{int(value)}</v></c>')
        elif not (isinstance(value, float) and not math.isfinite(value)):
            parts.append(f'<c r="{letter}{number}"><v>{value}</v></c>')
    parts.append("</row>")

    return "".join(parts)


def _text_cell(reference: str, text: str) -> str:
    """Return an inline-string cell, quote-prefixed when it looks like a formula."""
    if len(text) > MAX_CELL_CHARACTERS:
        logger.warning(
            "cell %s: text of %d characters cut to Excel's maximum",
            reference,
            len(text),
        )
        text = text[: MAX_CELL_CHARACTERS - len(CUT_MARK)] + CUT_MARK
    style = ' s="1"' if text.startswith(FORMULA_STARTS) else ""
    space = ' xml:space="preserve"' if text[0].isspace() or text[-1].isspace() else ""
    if _NEEDS_ESCAPE.search(text):
        text = _escape(text)

    return f'<c r="{reference}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _escape(text: str) -> str:
    """Escape XML markup, then characters XML cannot carry, as _xHHHH_."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _LITERAL_ESCAPE.sub(r"_x005F_\1", text)

    return _CONTROL.sub(lambda match: f"_x{ord(match.group()):04X}_", text)


def column_letters(position: int) -> str:
    """Convert a 0-based column position to Excel letters (0 -> A, 27 -> AB)."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters

    return letters


def _sheet_head(sheet: Sheet) -> str:
    """Return the worksheet XML from <sheetViews> to the opening <sheetData>."""
    pane = ""
    if sheet.freeze_first_row:
        pane = (
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        )
    columns = "".join(
        f'<col min="{position + 1}" max="{position + 1}" width="{width}" '
        'customWidth="1"/>'
        for position, width in sorted(sheet.column_widths.items())
    )

    return (
        f'<sheetViews><sheetView workbookViewId="0">{pane}</sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{columns}</cols>" if columns else "")
        + "<sheetData>"
    )


def _content_types(sheet_count: int) -> str:
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{number}.xml" '
        f'ContentType="{_CONTENT_TYPE}.worksheet+xml"/>'
        for number in range(1, sheet_count + 1)
    )

    return (
        f'{_XML_DECLARATION}<Types xmlns="{_PACKAGE_NS}/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        f'ContentType="{_CONTENT_TYPE}.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        f'ContentType="{_CONTENT_TYPE}.styles+xml"/>'
        f"{sheets}</Types>"
    )


def _package_relationships() -> str:
    return (
        f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_NS}/relationships">'
        f'<Relationship Id="rId1" Type="{_RELATIONSHIP_NS}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    )


def _workbook(sheets: Sequence[Sheet]) -> str:
    entries = "".join(
        f'<sheet name={quoteattr(sheet.name)} sheetId="{number}" r:id="rId{number}"/>'
        for number, sheet in enumerate(sheets, start=1)
    )

    return (
        f'{_XML_DECLARATION}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_RELATIONSHIP_NS}">'
        '<bookViews><workbookView activeTab="0"/></bookViews>'
        f"<sheets>{entries}</sheets></workbook>"
    )


def _workbook_relationships(sheets: Sequence[Sheet]) -> str:
    entries = "".join(
        f'<Relationship Id="rId{number}" Type="{_RELATIONSHIP_NS}/worksheet" '
        f'Target="worksheets/sheet{number}.xml"/>'
        for number in range(1, len(sheets) + 1)
    )
    styles = (
        f'<Relationship Id="rId{len(sheets) + 1}" Type="{_RELATIONSHIP_NS}/styles" '
        'Target="styles.xml"/>'
    )

    return (
        f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_NS}/relationships">'
        f"{entries}{styles}</Relationships>"
    )
