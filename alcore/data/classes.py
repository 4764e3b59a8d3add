"""The user's class names and what each matches: `--classes "NORMAL=No Finding,PNEUMONIA=Pneumonia"`.

Order is the label index; with two classes the last is the positive one. A right-hand side lists
label values / findings (tables) or folder names / globs on the path below the split folder
(folders), several separated by `|`; without one the class name itself is matched. Any number of
classes from two. Without `--classes`: two are guessed only when exactly one reads as normal;
three or more only from class folders (a normal-reading one first, the others alphabetical), never
from a table's values (often a finding vocabulary, several per row: name the classes).
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from alcore.data.base import DataError

NORMAL_WORDS = frozenset({"normal", "healthy", "negative"})
NORMAL_PHRASES = frozenset({"no finding", "no findings", "0"})
GLOB_CHARS = frozenset("*?[/")


@dataclass(frozen=True)
class ClassRule:
    name: str
    matches: tuple[str, ...] = ()  # empty: the name itself

    @property
    def values(self) -> tuple[str, ...]:
        return self.matches or (self.name,)


def parse_classes(text: str) -> tuple[ClassRule, ...]:
    """'A,B' or 'A=x|y,B=z' -> rules; () for an empty text. Raises DataError for a malformed one."""
    rules = []
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        name, _, rhs = (s.strip() for s in part.partition("="))
        if not name:
            raise DataError(f"--classes: '{part}' has no class name before '='; write NAME or NAME=VALUE|VALUE")
        rules.append(ClassRule(name, tuple(v.strip() for v in rhs.split("|") if v.strip())))
    names = [r.name.lower() for r in rules]
    if len(set(names)) < len(names):
        raise DataError(f"--classes names a class twice: {text}")
    return tuple(rules)


def reads_normal(name: str) -> bool:
    """'NORMAL', 'healthy', 'No Finding', 'negative', '0' ... (not 'abnormal')."""
    text = " ".join(re.split(r"[^a-z0-9]+", name.lower())).strip()
    return text in NORMAL_PHRASES or bool(NORMAL_WORDS & set(text.split()))


def hint(found: list[str], what: str) -> str:
    """The advice that ends every refusal to guess: the values found and the flag."""
    example = ",".join(found[:3]) if len(found) >= 2 else "NORMAL,PNEUMONIA"
    return (f"{what[:1].upper()}{what[1:]}: {', '.join(found) or 'none'}. Name the classes with --classes, in order "
            f"(with two, the positive one last), e.g. --classes \"{example}\" (a class may match several values: "
            "NAME=VALUE|VALUE)")


def check_count(rules: tuple[ClassRule, ...], found: list[str], what: str) -> None:
    """Refuse fewer than two classes, and of two a normal-reading class as the positive one."""
    if len(rules) < 2:
        raise DataError(f"one class ({', '.join(r.name for r in rules) or 'none'}) is not enough. " + hint(found, what))
    if len(rules) == 2 and reads_normal(rules[-1].name) and not reads_normal(rules[0].name):
        raise DataError(f"--classes puts '{rules[-1].name}' last, which would make it the positive class; "
                        f"put it first: --classes \"{rules[-1].name},{rules[0].name}\"")


def resolve(given: tuple[ClassRule, ...], found: list[str], what: str,
            guess_many: bool = False) -> tuple[tuple[ClassRule, ...], bool]:
    """(the rules, whether they were guessed): the given ones checked, or guessed from `found` (folder
    names / label values): two when exactly one of them reads as normal; three or more with
    `guess_many` (class folders), normal-reading ones first, the others alphabetical; else DataError."""
    if given:
        check_count(given, found, what)
        return given, False
    if len(found) == 2:
        normal = [name for name in found if reads_normal(name)]
        if len(normal) == 1:
            other = next(name for name in found if name != normal[0])
            return (ClassRule(normal[0]), ClassRule(other)), True
        reason = ("both read as normal" if normal else "neither reads as normal")
        raise DataError(f"cannot tell which class is positive ({reason}). " + hint(found, what))
    if len(found) > 2 and guess_many:
        return tuple(ClassRule(name) for name in sorted(found, key=lambda n: (not reads_normal(n), n.lower()))), True
    if len(found) > 2:
        raise DataError(f"{len(found)} values found: which are classes, and in which order, is not guessed. "
                        + hint(found, what))
    if not found:
        raise DataError("no class folders (or label values) found; two are needed. " + hint(found, what))
    raise DataError(f"one class ({found[0]}) found; two are needed. " + hint(found, what))


def match_path(rel: str, rules: tuple[ClassRule, ...]) -> list[int]:
    """The classes an image matches by its path below the split folder: a plain value names its
    first folder, a value with * ? [ or / is a glob on the whole path (case-insensitive)."""
    rel_lower, first = rel.lower(), rel.split("/", 1)[0].lower()
    return [i for i, rule in enumerate(rules)
            if any(fnmatch.fnmatchcase(rel_lower, v.lower()) if GLOB_CHARS & set(v) else first == v.lower()
                   for v in rule.values)]


def match_findings(findings: set[str], rules: tuple[ClassRule, ...]) -> list[int]:
    """The classes a table row matches by its findings (compared case-insensitively)."""
    lowered = {f.lower() for f in findings}
    return [i for i, rule in enumerate(rules) if lowered & {v.lower() for v in rule.values}]


def matches_text(rules: tuple[ClassRule, ...]) -> tuple[str, ...]:
    """Per class, what it matches, as the summary shows it: 'No Finding | Normal'."""
    return tuple(" | ".join(rule.values) for rule in rules)
