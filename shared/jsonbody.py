"""Reading a request's JSON body strictly, before any schema sees it.

Python's json module takes more than JSON, and MongoDB takes less than Python: left alone, `NaN` and
`1e400` arrive as floats no schema expects, UTF-16 bodies are decoded silently, nesting deep enough
exhausts the interpreter's recursion limit (a 500), a lone surrogate (`"\\ud800"`) passes every schema and
fails only when the driver encodes the document (a 500), and an integer past 64 bits overflows BSON
(a 500). Each of these is refused here with a 400 that says what is wrong, so no view, schema or
repository has to think about them.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from shared.errors import Problem

# Deeper than any document of the APIs (a rubric in a challenge is 3); MongoDB refuses 100.
MAX_DEPTH = 32
# Integers a JavaScript client can hold exactly (and well inside BSON's 64 bits).
MAX_SAFE_INTEGER = 2**53 - 1


def _malformed(detail: str) -> Problem:
    return Problem(400, detail, kind="malformed-body")


def _refuse_constant(name: str) -> Any:
    raise _malformed(f"{name} is not a JSON number: send a finite number")


def _check_text(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _malformed(f"The body holds a {what} that is not valid Unicode (a lone surrogate)") from None


def _check(document: Any) -> None:
    """Walk the parsed document without recursion, refusing what JSON allows but storage cannot hold."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            raise _malformed(f"The body is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, "field name")
                if "\x00" in key:
                    raise _malformed("A field name holds a NUL character")
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value, "string")
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
            raise _malformed(f"The body holds an integer beyond ±{MAX_SAFE_INTEGER}")
        elif isinstance(value, float) and not math.isfinite(value):
            raise _malformed("The body holds a number too large to represent")


def parse_body(raw: bytes) -> Any:
    """Return the JSON document of a request body, or raise a 400 Problem saying what is wrong with it."""
    if raw.startswith(codecs.BOM_UTF8):
        raise _malformed("Send the body as UTF-8 without a byte order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _malformed(f"The body is not UTF-8 (byte {error.start} cannot be decoded)") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise _malformed(
            f"The body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except ValueError:  # an integer literal of thousands of digits (Python refuses to convert it)
        raise _malformed("The body holds a number too long to read") from None
    except RecursionError:
        raise _malformed(f"The body is nested more than {MAX_DEPTH} levels deep") from None
    _check(document)
    return document
