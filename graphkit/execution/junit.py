"""JUnit XML report bytes -> the test cases it records (pure).

Test tools agree on little beyond ``<testcase>``, so the reader is lenient about
dialects and strict about safety:

- **Dialects.** pytest (``classname``, ``name``, ``time``; ``file`` with
  ``junit_family=xunit1``), jest-junit (``file`` optional), go-junit-report
  (``classname`` is the package), and a bare ``<testsuite>`` root. Test cases are
  found at any depth below the root, so nested suites work too.
- **Time.** A missing, empty, negative, non-finite or non-numeric ``time`` is
  unknown (``None``), never 0: a zero would tell the shard planner the test is free.
- **Retries.** A test id seen several times (pytest-rerunfailures, jest retries,
  ``go test -count``) keeps its LAST attempt, in the position of its first.
- **Safety.** Reports are untrusted input (a test can print anything into them), so
  they are parsed with defusedxml: entity declarations (billion laughs) and external
  references are refused, never expanded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from xml.etree.ElementTree import Element, ParseError

# defusedxml ships no type hints; the one function used here is typed by _parse below.
import defusedxml.ElementTree as safe_etree  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from graphkit.errors import InputError

Outcome = Literal["passed", "failed", "error", "skipped"]

_ROOTS = ("testsuites", "testsuite")


@dataclass(frozen=True, slots=True)
class TestCase:
    """One test's final attempt, as a JUnit report records it."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    classname: str
    file: str | None  # as written in the report (pytest: relative to its rootdir)
    time_s: float | None  # None: the report did not say, or said something unusable
    outcome: Outcome

    @property
    def test_id(self) -> str:
        """A stable id: ``file::name`` when the file is known, else ``classname::name``.

        pytest's ``classname`` of a method is the file's dotted module path plus the
        class (``tests.test_api.TestLogin``); the class is kept in the id
        (``tests/test_api.py::TestLogin::test_ok``), which is then pytest's own node
        id, and two classes' same-named methods in one file stay apart.
        """
        if self.file is None:
            return f"{self.classname}::{self.name}"
        module = self.file.removesuffix(".py").replace("/", ".")
        if self.classname.startswith(module + "."):
            inner = self.classname[len(module) + 1 :].replace(".", "::")
            return f"{self.file}::{inner}::{self.name}"
        return f"{self.file}::{self.name}"


def parse_junit(data: bytes, source: str) -> tuple[TestCase, ...]:
    """Read the test cases of a JUnit XML report; ``source`` names it in errors.

    Raises InputError for malformed XML (with the line), for XML that is not a JUnit
    report, and for reports that declare entities or external references.
    """
    root = _parse(data, source)
    tag = _local(root.tag)
    if tag not in _ROOTS:
        raise InputError(
            f"not a JUnit report: root element is <{tag}>, expected <testsuites> or <testsuite>",
            path=source,
        )
    cases: dict[str, TestCase] = {}
    for element in root.iter():
        if _local(element.tag) != "testcase":
            continue
        case = _case(element, source)
        # Re-inserting would move a retried test to its last position; assigning
        # keeps the report's order while the value becomes the last attempt.
        cases[case.test_id] = case
    return tuple(cases.values())


def file_durations(cases: Iterable[TestCase]) -> dict[str, float]:
    """Seconds per test file, summing the known times of its cases.

    Cases without a file or without a known time add nothing; a file none of whose
    cases has a known time is left out rather than given 0 seconds.
    """
    totals: dict[str, float] = {}
    for case in cases:
        if case.file is not None and case.time_s is not None:
            totals[case.file] = totals.get(case.file, 0.0) + case.time_s
    return totals


def _parse(data: bytes, source: str) -> Element:
    try:
        root: Element = safe_etree.fromstring(data)
    except ParseError as exc:
        line, _column = exc.position
        reason = str(exc).split(":", 1)[0]  # "not well-formed (invalid token): line 3, ..."
        raise InputError(f"malformed XML: {reason}", path=source, line=line) from None
    except DefusedXmlException as exc:
        raise InputError(
            f"refused XML: {type(exc).__name__} ({exc})",
            path=source,
            hint="JUnit reports need no entity declarations or external references",
        ) from None
    return root


def _case(element: Element, source: str) -> TestCase:
    name = element.get("name")
    if not name:
        raise InputError(
            f"<testcase> without a name (classname {element.get('classname', '')!r})",
            path=source,
        )
    return TestCase(
        name=name,
        classname=element.get("classname") or "",
        file=element.get("file") or None,
        time_s=_seconds(element.get("time")),
        outcome=_outcome(element),
    )


def _outcome(element: Element) -> Outcome:
    children = {_local(child.tag) for child in element}
    # A failed assertion outranks an error in teardown: the test itself failed.
    # Surefire's and pytest-rerunfailures' <flakyFailure>/<rerunFailure> record
    # earlier attempts, not this one, so they are deliberately not looked at.
    if "failure" in children:
        return "failed"
    if "error" in children:
        return "error"
    if "skipped" in children:
        return "skipped"
    return "passed"


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def _local(tag: str) -> str:
    # Some generators put their elements in a namespace: "{urn:x}testcase".
    return tag.rsplit("}", 1)[-1]
