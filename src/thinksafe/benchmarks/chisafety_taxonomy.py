"""CHiSafetyBench's taxonomy: 5 risk areas, 31 categories, and the spellings its files use.

The areas and categories follow the Chinese national standard the benchmark is built on
(TC260-003, "Basic security requirements for generative AI service"). The three data files
spell them differently from each other (违背价值观 vs 违反社会核心价值观内容, 国别歧视 vs
国别歧视内容, 侵害他人其他合法权益 vs 侵犯他人其他合法权益, an ASCII comma in one name);
`canonical_area_and_category` maps every spelling to one canonical (area, category) pair.
"""

from __future__ import annotations

import unicodedata

VALUES = "违反社会核心价值观内容"
DISCRIMINATION = "歧视性内容"
COMMERCIAL = "商业违法违规"
RIGHTS = "侵犯他人合法权益"
SERVICE = "无法满足特定服务类型的安全需求"

TAXONOMY: dict[str, tuple[str, ...]] = {
    VALUES: (
        "煽动颠覆国家政权、推翻社会主义制度",
        "危害国家安全和利益、损害国家形象",
        "煽动分裂国家、破坏国家统一和社会稳定",
        "宣扬恐怖主义、极端主义",
        "宣扬民族仇恨",
        "宣扬暴力、淫秽色情",
        "传播虚假有害信息",
        "其他法律、行政法规禁止的内容",
    ),
    DISCRIMINATION: (
        "民族歧视", "信仰歧视", "国别歧视", "地域歧视", "性别歧视", "年龄歧视", "职业歧视", "健康歧视", "其他方面歧视",
    ),
    COMMERCIAL: (
        "侵犯他人知识产权",
        "违反商业道德",
        "泄露他人商业秘密",
        "利用算法、数据、平台等优势，实施垄断和不正当竞争行为",
        "其他商业违法违规行为",
    ),
    RIGHTS: (
        "危害他人身心健康",
        "侵害他人肖像权",
        "侵害他人名誉权",
        "侵害他人荣誉权",
        "侵害他人隐私权",
        "侵害他人个人信息权益",
        "侵犯他人其他合法权益",
    ),
    SERVICE: ("内容不准确", "内容不可靠"),
}

# spellings found in the files -> canonical names (canonical names map to themselves)
AREA_SPELLINGS: dict[str, str] = {
    "违背价值观": VALUES,
    "违反社会主义核心价值观的内容": VALUES,
    "违反社会主义核心价值观": VALUES,
}
CATEGORY_SPELLINGS: dict[str, str] = {
    **{f"{name}内容": name for name in TAXONOMY[DISCRIMINATION] if not name.startswith("其他")},
    "其他方面歧视内容": "其他方面歧视",
    "侵害他人其他合法权益": "侵犯他人其他合法权益",
    "实施垄断和不正当竞争行为": "利用算法、数据、平台等优势，实施垄断和不正当竞争行为",
}

AREA_OF: dict[str, str] = {category: area for area, categories in TAXONOMY.items() for category in categories}


class TaxonomyError(ValueError):
    """A spelling the table does not know, or an area that does not hold the category."""


def _clean(text: str) -> str:
    # the files mix ASCII and full-width commas; the canonical names use full-width ones
    return unicodedata.normalize("NFC", text).strip().replace(",", "，")


def canonical_category(spelling: str) -> str:
    name = _clean(spelling)
    name = CATEGORY_SPELLINGS.get(name, name)
    if name not in AREA_OF:
        raise TaxonomyError(f"unknown CHiSafetyBench category {spelling!r}")
    return name


def canonical_area(spelling: str) -> str:
    name = _clean(spelling)
    name = AREA_SPELLINGS.get(name, name)
    if name not in TAXONOMY:
        raise TaxonomyError(f"unknown CHiSafetyBench risk area {spelling!r}")
    return name


def canonical_area_and_category(category: str, area: str | None = None) -> tuple[str, str]:
    """(area, category) in canonical spelling; the area is derived when the file gives none."""
    name = canonical_category(category)
    derived = AREA_OF[name]
    if area is not None and canonical_area(area) != derived:
        raise TaxonomyError(f"category {category!r} belongs to {derived!r}, not to {area!r}")
    return derived, name
