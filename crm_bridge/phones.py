"""Chinese phone numbers in one canonical form, so a caller is recognised however
the number arrives.

    +86 138 0013 8000, 0086-13800138000, 8613800138000, 138-0013-8000  -> 13800138000
    0571-8888 1234, +86 571 88881234, (0571) 88881234, 86-571-88881234 -> 057188881234
    010 6552 9988, +86 10 65529988                                      -> 01065529988

Mobiles are 11 digits starting with 1; landlines keep their area code with
the leading 0. A local landline without an area code (8 digits) is given the
site's own area code when one is configured. Anything else comes back as its
digits, so an unusual number still matches itself.
"""

from __future__ import annotations

import re

_NON_DIGITS = re.compile(r"[^\d]")


def normalize(raw: str, local_area_code: str | None = None) -> str:
    text = raw.strip()
    plus = text.startswith("+")
    digits = _NON_DIGITS.sub("", text)
    if not digits:
        return ""
    if plus or digits.startswith("0086"):
        if digits.startswith("0086"):
            digits = digits[4:]
        elif digits.startswith("86"):
            digits = digits[2:]
        else:
            return digits  # another country: keep as dialled
        return _national(digits, international=True)
    if digits.startswith("86") and len(digits) in (12, 13) and not digits.startswith("860"):
        # 86 + mobile (13 digits) or 86 + area code without its 0 + number
        return _national(digits[2:], international=True)
    if len(digits) == 8 and local_area_code and not digits.startswith(("0", "1")):
        return local_area_code + digits
    return _national(digits, international=False)


def _national(digits: str, *, international: bool) -> str:
    if len(digits) == 11 and digits.startswith("1"):
        return digits  # mobile
    if digits.startswith("0"):
        return digits  # landline with its area code
    if international and 9 <= len(digits) <= 11:
        return "0" + digits  # +86 571 88881234: the area code lost its 0
    return digits


def is_mobile(number: str) -> bool:
    return len(number) == 11 and number.startswith("1")


def display(number: str) -> str:
    """Grouped for reading: 138 0013 8000, 0571 8888 1234, 010 6552 9988."""
    if is_mobile(number):
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if number.startswith("0") and len(number) in (11, 12):
        area = 3 if number[1] in "12" else 4
        rest = number[area:]
        return f"{number[:area]} {rest[:4]} {rest[4:]}"
    return number


_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0[1-9]\d{8,10}$")  # 0 + area code (2-3 digits) + 7-8 digits


def is_chinese(number: str) -> bool:
    """A normalised number a call can be placed to in China: a mobile
    (1[3-9] + 9 digits) or a landline with its area code (0 + 9 to 11 digits)."""
    return bool(_MOBILE.match(number) or _LANDLINE.match(number))
