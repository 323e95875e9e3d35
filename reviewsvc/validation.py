"""Well-formedness of the identifiers clients send. Pure functions, no framework."""

from __future__ import annotations

import re

# A pseudonymous id as the client sends it; the rule is also what refusals quote.
SUBJECT_ID_RULE = "[A-Za-z0-9._:-]{1,128}"
SUBJECT_ID_PATTERN = re.compile(SUBJECT_ID_RULE)
# BCP 47 well-formedness for the tags voice products use: language, optional script, region
# and variants (``de-DE``, ``zh-Hant-TW``, ``es-419``). Private-use and grandfathered tags are refused.
_BCP47 = re.compile(
    r"[A-Za-z]{2,3}"
    r"(-[A-Za-z]{4})?"
    r"(-([A-Za-z]{2}|[0-9]{3}))?"
    r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
)


def is_subject_id(value: str) -> bool:
    return SUBJECT_ID_PATTERN.fullmatch(value) is not None


def is_language_tag(value: str) -> bool:
    return len(value) <= 35 and _BCP47.fullmatch(value) is not None


def normalise_language_tag(value: str) -> str:
    """Canonical case: language lower, script title, region upper (``DE-de`` -> ``de-DE``)."""
    parts = value.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)
