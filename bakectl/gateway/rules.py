r"""Per-agent normalization rules: what of a request body is per-run noise, not the question.

An agent declares them (agent.yaml, key `normalize`); the gateway applies them to every request
body before it computes the replay key, at record and at replay alike. The format (JSON, or the
same mapping in YAML):

    {
      "drop":  ["client_metadata", "input[*].id", "metadata.user_id"],
      "ids":   ["\\b(msg|fco|fc|call)_[A-Za-z0-9]+"],
      "mask":  ["Chunk ID: \\w+", {"pattern": "Wall time: [0-9.]+ seconds", "replace": "<t>"}],
      "dates": true
    }

* drop  - JSON paths removed from the body: keys joined by `.`, `[*]` any list item, `[N]` the
          N-th, `*` any key (`messages[*].content[*].cache_control`, `*.cache_control`).
* ids   - regular expressions for ids the client makes up per run; every match, in any string,
          becomes `<id-1>`, `<id-2>`, ... by order of first appearance in the request (keys in
          sorted order), so the same id keeps the same name within one request. Start them
          with `\b`, or `call_[A-Za-z0-9]+` also matches inside "function_call_output".
* mask  - regular expressions replaced (in any string) by `replace`, default `<masked>`.
* dates - mask dates and times (ISO, "December 1, 2026", "Tue Dec 01 2026", `ls -l` stamps,
          ...) as `<date>` / `<time>`; on unless false. A prompt carries today's date; without
          this a fixture recorded today misses tomorrow.

Order: drop, then masks, then dates, then ids. `parse_rules(data, where)` checks all of it and
raises RulesError (a GatewayError and a ValueError) naming `where` and the bad entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bakectl.gateway.errors import GatewayError

RULE_KEYS = ("drop", "ids", "mask", "dates")
RULES_ENV = "BAKECTL_GATEWAY_RULES"  # the rules as JSON text, for the gateway's container
MASKED = "<masked>"
HINT = (
    'rules are {"drop": [JSON paths], "ids": [regexes], "mask": [regexes or '
    '{"pattern", "replace"}], "dates": true|false}'
)


class RulesError(GatewayError, ValueError):
    """A normalization rule that does not parse."""


# --- paths ---------------------------------------------------------------------------------

ANY = object()  # `*` / `[*]`
_PATH_TOKEN = re.compile(r"\[(\*|\d+)\]|([^.\[\]]+)|(\.)")


@dataclass(frozen=True)
class JsonPath:
    text: str
    steps: tuple[Any, ...]  # str: a key, int: a list index, ANY: any key or item


def parse_path(text: str) -> JsonPath:
    """`input[*].id` -> steps ("input", ANY, "id"); ValueError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a path must be a non-empty string")
    steps: list[Any] = []
    pos, want_key = 0, True
    while pos < len(text):
        m = _PATH_TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unexpected {text[pos]!r} at character {pos + 1}")
        index, key, dot = m.groups()
        if dot:
            if want_key:
                raise ValueError(f"empty key before '.' at character {pos + 1}")
            want_key = True
        elif key is not None:
            if not want_key:
                raise ValueError(f"expected '.' or '[' before {key!r}")
            steps.append(ANY if key == "*" else key)
            want_key = False
        else:
            if want_key and steps:
                raise ValueError(f"'[' right after '.' at character {pos + 1}")
            if not steps:
                raise ValueError("a path starts with a key (the body is an object)")
            steps.append(ANY if index == "*" else int(index))
            want_key = False
        pos = m.end()
    if want_key:
        raise ValueError("a path cannot end with '.'")
    return JsonPath(text, tuple(steps))


def _drop(value: Any, steps: tuple[Any, ...]) -> Any:
    """`value` without what `steps` names (a copy where something changed)."""
    head, rest = steps[0], steps[1:]
    if isinstance(value, dict):
        if isinstance(head, int):
            return value
        keys = list(value) if head is ANY else [head] if head in value else []
        if not keys:
            return value
        out = dict(value)
        for k in keys:
            if rest:
                out[k] = _drop(out[k], rest)
            else:
                del out[k]
        return out
    if isinstance(value, list):
        if isinstance(head, str):
            return value
        idx = range(len(value)) if head is ANY else [head] if 0 <= head < len(value) else []
        if not idx:
            return value
        if not rest:
            gone = set(idx)
            return [v for i, v in enumerate(value) if i not in gone]
        out = list(value)
        for i in idx:
            out[i] = _drop(out[i], rest)
        return out
    return value


# --- dates ---------------------------------------------------------------------------------

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
_WEEKDAY = (
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Mon|Tue|Tues|Wed|Thu|Thur"
    r"|Thurs|Fri|Sat|Sun)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"\d{4}"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?[AaPp]\.?[Mm]\.?)?"
_ZONE = r"(?:\s?(?:Z|UTC|GMT)(?:[+-]\d{1,2}(?::?\d{2})?)?|\s?[+-]\d{2}:?\d{2})?"
_TIME_AFTER = rf"(?:(?:[T ]|,? (?:at )?){_CLOCK}{_ZONE})?"

# One pattern, longest forms first, so a date and the time after it become one `<date>`.
_DATE_FORMS = [
    # date(1), asctime: Tue Dec  1 14:03:22 UTC 2026
    rf"\b(?:{_WEEKDAY},?\s+)?{_MONTH}\s+{_DAY}\s+{_CLOCK}(?:\s+[A-Z]{{2,5}})?\s+{_YEAR}\b",
    # 2026-12-01, 2026-12-01T14:03:22.123Z, 2026-12-01 14:03:22+00:00
    rf"\b{_YEAR}-\d{{2}}-\d{{2}}{_TIME_AFTER}",
    # 2026/12/01, 12/01/2026, 01.12.2026
    rf"\b{_YEAR}/\d{{1,2}}/\d{{1,2}}\b{_TIME_AFTER}",
    rf"\b\d{{1,2}}[/.]\d{{1,2}}[/.]{_YEAR}\b{_TIME_AFTER}",
    # Tuesday, December 1, 2026 / Tue Dec 01 2026 14:03:22 GMT+0000 / Dec 1st 2026
    rf"\b(?:{_WEEKDAY},?\s+)?{_MONTH}\s+{_DAY},?\s+{_YEAR}\b{_TIME_AFTER}",
    # Tuesday, 1 December 2026 / 1st of December, 2026
    rf"\b(?:{_WEEKDAY},?\s+)?{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b{_TIME_AFTER}",
    # ls -l: "Dec  1 14:03"; "December 2026"; "Tuesday, December 1"
    rf"\b{_MONTH}\s+\d{{1,2}}\s+\d{{1,2}}:\d{{2}}\b",
    rf"\b{_MONTH},?\s+{_YEAR}\b",
    rf"\b{_WEEKDAY},?\s+{_MONTH}\s+{_DAY}\b",
    rf"\b{_WEEKDAY},?\s+{_DAY}\s+(?:of\s+)?{_MONTH}\b",
]
# A clock time on its own, when it cannot be a ratio or a line:column: seconds or AM/PM.
_TIME_FORMS = [
    rf"\b\d{{1,2}}:\d{{2}}:\d{{2}}(?:[.,]\d+)?(?:\s?[AaPp]\.?[Mm]\.?)?\b{_ZONE}",
    r"\b\d{1,2}:\d{2}\s?[AaPp]\.?[Mm]\b\.?",
]
# Weekday names alone ("Today is Tuesday."), whole words only.
_WEEKDAY_ALONE = r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
# All in one pass. Every form starts with a digit or a capital letter: the lookahead turns
# away every other position at the cost of one character test (a 48 KB prompt: 10x faster).
DATES = re.compile(
    rf"(?=[0-9A-Z])(?:(?P<date>{'|'.join(_DATE_FORMS)})|(?P<time>{'|'.join(_TIME_FORMS)})"
    rf"|(?P<weekday>{_WEEKDAY_ALONE}))"
)


def _date_name(m: re.Match[str]) -> str:
    return f"<{m.lastgroup}>"  # <date>, <time> or <weekday>


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAY_ALONE = re.compile(_WEEKDAY_ALONE)
DIGITS = "0123456789"
REACH = 40  # every form spans less than this either side of its digits
WHOLE = 512  # texts this short are scanned whole


def _windows(text: str) -> list[tuple[int, int]]:
    """Stretches of `text` that hold every digit with REACH characters either side, widened to
    whitespace, merged; one window over all of it when digits are everywhere."""
    spans = []
    for d in DIGITS:
        i = text.find(d)
        while i != -1:
            spans.append(i)
            if len(spans) > len(text) // 64:
                return [(0, len(text))]  # digits everywhere: one pass over all is cheaper
            i = text.find(d, i + 1)
    spans.sort()
    out: list[tuple[int, int]] = []
    for i in spans:
        start, end = max(0, i - REACH), min(len(text), i + REACH)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    # Widen to whitespace so word boundaries (\b) read as they do in the whole text.
    widened: list[tuple[int, int]] = []
    for start, end in out:
        start = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start), 0)
        cut = [j for j in (text.find(" ", end), text.find("\n", end)) if j != -1]
        end = min(cut) + 1 if cut else len(text)
        if widened and start <= widened[-1][1]:
            widened[-1] = (widened[-1][0], max(widened[-1][1], end))
        else:
            widened.append((start, end))
    return widened


def mask_dates(text: str) -> str:
    """`text` with its dates, times and weekday names masked.

    Every form but a lone weekday holds a digit: long texts are scanned only around their
    digits (a 48 KB prompt with a date in it costs what its few date-like stretches cost)."""
    if not any(d in text for d in DIGITS):
        if any(w in text for w in WEEKDAYS):
            return WEEKDAY_ALONE.sub("<weekday>", text)
        return text
    if len(text) <= WHOLE:
        return DATES.sub(_date_name, text)
    parts, last = [], 0
    for start, end in _windows(text):
        parts.append(text[last:start])
        parts.append(DATES.sub(_date_name, text[start:end]))
        last = end
    parts.append(text[last:])
    out = "".join(parts)
    if any(w in out for w in WEEKDAYS):  # lone weekdays outside the windows
        out = WEEKDAY_ALONE.sub("<weekday>", out)
    return out


# --- the rules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mask:
    pattern: re.Pattern[str]
    replace: str = MASKED


@dataclass(frozen=True)
class Rules:
    drop: tuple[JsonPath, ...] = ()
    ids: tuple[re.Pattern[str], ...] = ()
    mask: tuple[Mask, ...] = ()
    dates: bool = True
    _ids_any: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # All id patterns as one alternation: one pass per string numbers them in one order.
        joined = "|".join(f"(?:{p.pattern})" for p in self.ids)
        object.__setattr__(self, "_ids_any", re.compile(joined) if self.ids else None)

    def to_json(self) -> dict[str, Any]:
        """The rules as data: what parse_rules reads back, and what a fixture stores."""
        masks: list[Any] = [
            m.pattern.pattern
            if m.replace == MASKED
            else {"pattern": m.pattern.pattern, "replace": m.replace}
            for m in self.mask
        ]
        return {
            "drop": [p.text for p in self.drop],
            "ids": [p.pattern for p in self.ids],
            "mask": masks,
            "dates": self.dates,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rules) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True))

    @property
    def touches_strings(self) -> bool:
        return bool(self.ids or self.mask or self.dates)

    def apply(self, body: Any) -> Any:
        """`body` (already cleaned of nulls and volatile fields) under these rules."""
        for path in self.drop:
            body = _drop(body, path.steps)
        if not self.touches_strings:
            return body
        names: dict[str, str] = {}
        return self._strings(body, names)

    def _strings(self, value: Any, names: dict[str, str]) -> Any:
        if isinstance(value, str):
            return self._text(value, names)
        if isinstance(value, dict):
            # Sorted keys: the order ids are numbered in does not depend on the client's key order.
            return {k: self._strings(value[k], names) for k in sorted(value)}
        if isinstance(value, list):
            return [self._strings(v, names) for v in value]
        return value

    def _text(self, text: str, names: dict[str, str]) -> str:
        for m in self.mask:
            text = m.pattern.sub(m.replace, text)
        if self.dates:
            text = mask_dates(text)
        if self._ids_any is not None:

            def name(match: re.Match[str]) -> str:
                found = match.group(0)
                if found not in names:
                    names[found] = f"<id-{len(names) + 1}>"
                return names[found]

            text = self._ids_any.sub(name, text)
        return text


def _regex(value: Any, where: str) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise RulesError(f"{where}: expected a regular expression (a non-empty string)", HINT)
    try:
        pattern = re.compile(value)
    except re.error as e:
        raise RulesError(f"{where}: not a regular expression: {value!r} ({e})", HINT) from None
    if pattern.search(""):
        raise RulesError(
            f"{where}: {value!r} matches the empty string, so it would match everywhere",
            "make it match at least one character (e.g. + instead of *)",
        )
    return pattern


def _list(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise RulesError(f"{where}: {key}: expected a list, got {type(value).__name__}", HINT)
    return value


def parse_rules(data: Any, where: str = "rules") -> Rules:
    """Rules from their JSON/YAML form (None or {} = the defaults: dates masked, nothing else).

    Raises RulesError naming `where` (e.g. "containers/agents/codex/agent.yaml: normalize")
    and the entry that is wrong."""
    if data is None:
        return Rules()
    if isinstance(data, Rules):
        return data
    if not isinstance(data, Mapping):
        raise RulesError(f"{where}: expected a mapping, got {type(data).__name__}", HINT)
    unknown = [k for k in data if k not in RULE_KEYS]
    if unknown:
        raise RulesError(
            f"{where}: unknown key {', '.join(map(repr, unknown))}",
            f"the keys are: {', '.join(RULE_KEYS)}",
        )
    drop = []
    for i, text in enumerate(_list(data, "drop", where)):
        try:
            drop.append(parse_path(text))
        except ValueError as e:
            raise RulesError(f"{where}: drop[{i}]: bad path {text!r}: {e}", HINT) from None
    ids = tuple(_regex(p, f"{where}: ids[{i}]") for i, p in enumerate(_list(data, "ids", where)))
    masks = []
    for i, item in enumerate(_list(data, "mask", where)):
        at = f"{where}: mask[{i}]"
        if isinstance(item, Mapping):
            extra = [k for k in item if k not in ("pattern", "replace")]
            replace = item.get("replace", MASKED)
            if extra or not isinstance(replace, str):
                raise RulesError(f"{at}: expected {{pattern, replace (a string)}}", HINT)
            masks.append(Mask(_regex(item.get("pattern"), at), replace))
        else:
            masks.append(Mask(_regex(item, at)))
    dates = data.get("dates", True)
    if not isinstance(dates, bool):
        raise RulesError(f"{where}: dates: expected true or false, got {dates!r}", HINT)
    return Rules(tuple(drop), ids, tuple(masks), dates)


def load_rules_file(path: str, where: str | None = None) -> Rules:
    """Rules from a JSON file (`--rules FILE`)."""
    label = where or path
    try:
        text = open(path, encoding="utf-8").read()  # noqa: SIM115, PTH123
    except OSError as e:
        raise RulesError(f"{label}: cannot read the rules file ({e.strerror})", HINT) from None
    return parse_rules_text(text, label)


def parse_rules_text(text: str, where: str) -> Rules:
    """Rules from JSON text (a file's, or the BAKECTL_GATEWAY_RULES variable's)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise RulesError(f"{where}: not valid JSON ({e})", HINT) from None
    return parse_rules(data, where)


def rules_from(file: str | None, environ: Mapping[str, str]) -> Rules | None:
    """The rules the gateway was given: `--rules FILE`, else $BAKECTL_GATEWAY_RULES, else None
    (replay then uses the fixture's own; record the defaults)."""
    if file:
        return load_rules_file(file, f"--rules {file}")
    text = environ.get(RULES_ENV, "").strip()
    return parse_rules_text(text, f"${RULES_ENV}") if text else None


DEFAULT_RULES = Rules()
