"""Read a CSV lead file into numbered records of stripped text cells."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import logging
import re
from collections import Counter
from pathlib import Path

from pipeline.errors import InputError

logger = logging.getLogger(__name__)

_DELIMITERS = (",", ";", "\t")
_SNIFF_CHARS = 65_536
_SNIFF_RECORDS = 50
_SEP_LINE = re.compile(r"sep=(.)[ \t]*(?:\r\n|\n|\r|$)", re.IGNORECASE)

# A numbered row and its cells, each stripped of surrounding white space.
Record = tuple[int, list[str]]


def read_csv_records(path: Path) -> list[Record]:
    """Read every CSV record with the line number on which it starts."""
    text = _decode(path, _read_bytes(path))

    # Excel writes "sep=;" as the first line to name the delimiter.
    sep_line = _SEP_LINE.match(text)
    if sep_line:
        delimiter = sep_line.group(1)
        text = text[sep_line.end() :]
        lines_before = 1
    else:
        delimiter = _detect_delimiter(text[:_SNIFF_CHARS])
        lines_before = 0
    logger.debug("Reading %s with delimiter %r", path, delimiter)

    return _parse_csv(path, text, delimiter, lines_before)


def _read_bytes(path: Path) -> bytes:
    """Read the whole file, translating OS errors."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"{path} cannot be read: {error.strerror}.") from error


def _decode(path: Path, data: bytes) -> str:
    """Decode UTF-16 with a BOM, else UTF-8 with or without a BOM, else cp1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_as(path, data, "utf-16")
    if b"\x00" in data[:_SNIFF_CHARS]:
        raise InputError(
            f"{path} contains binary data, so it is not a CSV text file. If it is "
            "an Excel workbook, give it the .xlsx extension."
        )

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.info("%s is not valid UTF-8, so it is decoded as cp1252", path)

    return _decode_as(path, data, "cp1252")


def _decode_as(path: Path, data: bytes, encoding: str) -> str:
    """Decode the file with one encoding, translating a decoding error."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path} cannot be decoded as UTF-8 or {encoding} text: {error}. "
            'Save it as "CSV UTF-8" and try again.'
        ) from error


def _detect_delimiter(sample: str) -> str:
    """Choose the delimiter that splits the most records into one width above 1.

    Comma wins a tie and is returned for a file of one column. Counting whole
    records rather than characters keeps delimiters inside quotes from voting.
    """
    best_delimiter, best_score = ",", (0, 0)
    for delimiter in _DELIMITERS:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        try:
            widths = Counter(
                len(fields)
                for fields in itertools.islice(reader, _SNIFF_RECORDS)
                if len(fields) > 1
            )
        except csv.Error:
            continue
        if not widths:
            continue

        width, count = widths.most_common(1)[0]
        if (count, width) > best_score:
            best_delimiter, best_score = delimiter, (count, width)

    return best_delimiter


def _parse_csv(
    path: Path, text: str, delimiter: str, lines_before: int
) -> list[Record]:
    """Split the text into records numbered by the line on which each starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[Record] = []
    spans: list[int] = []
    last_line = lines_before
    try:
        for fields in reader:
            records.append((last_line + 1, [value.strip() for value in fields]))
            spans.append(lines_before + reader.line_num - last_line)
            last_line = lines_before + reader.line_num
    except csv.Error as error:
        raise InputError(
            f"{path} is not valid CSV at line {last_line + 1}: {error}. Check for "
            "a double quote that is opened and never closed."
        ) from error

    _check_multiline_records(path, records, spans, delimiter)

    return records


def _check_multiline_records(
    path: Path, records: list[Record], spans: list[int], delimiter: str
) -> None:
    """Raise InputError for a record over several lines that swallowed others.

    A stray double quote makes the csv module read on to the next quote, so one
    record can take in many lines. Such a record rarely has the header's width,
    or it contains lines that look like whole records themselves.
    """
    widths = [len(cells) for _, cells in records if any(cells)]
    if not widths:
        return

    header_width = widths[0]
    for (line, cells), span in zip(records, spans, strict=True):
        if span == 1:
            continue
        inner_lines = [part for cell in cells for part in cell.splitlines()[1:]]
        record_like = [
            part for part in inner_lines if part.count(delimiter) == header_width - 1
        ]
        if len(cells) != header_width or len(record_like) >= 2:
            raise InputError(
                f"{path}: the record starting at line {line} runs over {span} "
                f"lines and takes in what look like other records. A double "
                "quote in it is probably not closed; fix the quote and export again."
            )
