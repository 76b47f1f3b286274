"""统一社会信用代码 (USCC, GB 32100-2015) and administrative region codes (GB/T 2260).

Every entry point (import, API, synthetic region) goes through :func:`check_uscc`, so a firm can
never be stored under a code that a registration authority could not have issued.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

#: GB 32100-2015 code alphabet: digits and capitals without I, O, S, V, Z.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
#: Weight of position i (0-based) is 3**i mod 31.
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
#: First character: the registration authority (登记管理部门代码), table 1 of the standard.
REGISTRATION_AUTHORITIES = frozenset("123456789ANY")
_FORBIDDEN = frozenset("IOSVZ")


@dataclass(frozen=True, slots=True)
class UsccCheck:
    """Outcome of validating one code; ``reason_*`` are None when the code is valid."""

    code: str
    normalized: str
    valid: bool
    reason_zh: str | None
    reason_en: str | None
    region_code: str | None

    def to_dict(self) -> dict[str, object]:
        reason = None if self.valid else {"zh": self.reason_zh, "en": self.reason_en}
        return {
            "code": self.code,
            "normalized": self.normalized,
            "valid": self.valid,
            "reason": reason,
            "region_code": self.region_code,
        }


def normalize_uscc(code: str) -> str:
    """Fold full-width characters, case and surrounding blanks, as clerks type codes every way.

    >>> normalize_uscc("\u3000９１３５０１００ｍ０００１００ｙ４３ ")
    '91350100M000100Y43'
    """
    return unicodedata.normalize("NFKC", code).strip().upper()


def uscc_check_char(first17: str) -> str:
    """The 18th character for a 17-character body (weights 3^i mod 31).

    The example code printed in GB 32100-2015 itself:

    >>> uscc_check_char("91350100M000100Y4")
    '3'
    """
    total = sum(_VALUE[c] * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def check_uscc(code: str) -> UsccCheck:
    """Validate one USCC and say precisely what is wrong when it is not valid."""
    norm = normalize_uscc(code)
    region = norm[2:8] if len(norm) >= 8 and norm[2:8].isdigit() else None

    def bad(zh: str, en: str) -> UsccCheck:
        return UsccCheck(code, norm, False, zh, en, region)

    if not norm:
        return bad("代码为空", "code is empty")
    if len(norm) != 18:
        return bad(f"长度应为18位，实际为{len(norm)}位", f"must be 18 characters, got {len(norm)}")
    for pos, ch in enumerate(norm, start=1):
        if ch not in _VALUE:
            if ch in _FORBIDDEN:
                return bad(
                    f"第{pos}位字符“{ch}”不在代码字符集中（不使用I、O、S、V、Z）",
                    f"character {pos} '{ch}' is not in the code alphabet (I, O, S, V, Z are unused)",
                )
            return bad(f"第{pos}位字符“{ch}”非法", f"character {pos} '{ch}' is not allowed")
    if norm[0] not in REGISTRATION_AUTHORITIES:
        return bad(
            f"第1位登记管理部门代码“{norm[0]}”不存在",
            f"registration authority code '{norm[0]}' (position 1) does not exist",
        )
    if region is None:
        return bad(
            "第3-8位登记管理机关行政区划码应为6位数字",
            "positions 3-8 (administrative region code) must be 6 digits",
        )
    expected = uscc_check_char(norm[:17])
    if norm[17] != expected:
        return bad(
            f"校验码错误：第18位应为“{expected}”，实际为“{norm[17]}”",
            f"check character mismatch: position 18 should be '{expected}', got '{norm[17]}'",
        )
    return UsccCheck(code, norm, True, None, None, region)


def org_code_check_char(first8: str) -> str:
    """GB 11714 check character of the 9-character organisation code embedded in a USCC.

    Worked by hand: 1·3+2·7+3·9+4·10+5·5+6·8+7·4+8·2 = 201; 201 mod 11 = 3; 11 − 3 = 8.

    >>> org_code_check_char("12345678")
    '8'
    """
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c, 36) * w for c, w in zip(first8, weights, strict=True))
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


#: Lianyungang (连云港市, seed 001) and its county-level divisions, GB/T 2260.
REGIONS: dict[str, tuple[str, str]] = {
    "320700": ("连云港市", "Lianyungang"),
    "320703": ("连云区", "Lianyun District"),
    "320706": ("海州区", "Haizhou District"),
    "320707": ("赣榆区", "Ganyu District"),
    "320722": ("东海县", "Donghai County"),
    "320723": ("灌云县", "Guanyun County"),
    "320724": ("灌南县", "Guannan County"),
}


def is_region_code(code: str) -> bool:
    """A GB/T 2260 code is six digits whose province part is a real province (11–82)."""
    return len(code) == 6 and code.isdigit() and 11 <= int(code[:2]) <= 82
