"""Logging for cron: timestamps, the run id on every line, text or JSON.

Only the CLI configures logging. A filter on the handler is the last guard:
it masks anything shaped like a full phone number and removes the secret key,
even from messages of other libraries.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
from collections.abc import Iterator

from pipeline.config import SECRET_KEY_VARIABLE

_run_id: contextvars.ContextVar[str] = contextvars.ContextVar("run_id", default="-")

# A plus sign and 7 or more digits, not already masked. One space, dot or hyphen
# may separate digits, and a group may be bracketed, as in `+1 (201) 555-0123`.
# The code masks numbers itself; this catches what slips through in E.164 form.
_PHONE_LIKE = re.compile(r"(?<![\w*])\+\d(?:[ .\-]?(?:\(\d+\)|\d)){6,}(?![ .\-]?[\d*])")


@contextlib.contextmanager
def run_id_context(run_id: str) -> Iterator[None]:
    """Tag every log line written inside the block with `run_id`."""
    token = _run_id.set(run_id)
    try:
        yield
    finally:
        _run_id.reset(token)


def mask_text(text: str) -> str:
    """Replace the last four digits of every phone-like number with `*`."""
    return _PHONE_LIKE.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    digits_seen = 0
    characters = list(match.group(0))
    for position in range(len(characters) - 1, -1, -1):
        if characters[position].isdigit():
            characters[position] = "*"
            digits_seen += 1
            if digits_seen == 4:
                break

    return "".join(characters)


class _RedactingFilter(logging.Filter):
    """Adds the run id and masks phone numbers and the secret in each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # A filter's exception reaches the code that logged, so a log call whose
        # arguments do not fit its format is written as its parts instead.
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError) as error:
            message = f"{record.msg!r} % {record.args!r} failed: {error}"
        record.msg, record.args = _redact(message), None
        record.run_id = _run_id.get()

        # A traceback repeats the exception message, which may contain a phone
        # number or the secret key.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _redact(record.exc_text)
        if record.stack_info:
            record.stack_info = _redact(record.stack_info)

        return True


def _redact(text: str) -> str:
    """Mask phone-like numbers and replace the secret key with `***`."""
    text = mask_text(text)
    # Stripped as `credentials_from_environment` strips it before use.
    secret = os.environ.get(SECRET_KEY_VARIABLE, "").strip()

    return text.replace(secret, "***") if secret else text


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "run_id": getattr(record, "run_id", "-"),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = mask_text(record.exc_text)

        return json.dumps(entry, ensure_ascii=False)


def configure_logging(*, json_lines: bool = False, verbose: bool = False) -> None:
    """Send the package's log lines to stderr, as text or one JSON object a line."""
    handler = logging.StreamHandler()
    handler.addFilter(_RedactingFilter())
    if json_lines:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s run=%(run_id)s %(message)s",
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )

    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("pipeline").setLevel(logging.DEBUG if verbose else logging.INFO)
    # stamina logs each retry without the row or the error; pipeline.retry logs
    # one line per retry with both.
    logging.getLogger("stamina").setLevel(logging.ERROR)
