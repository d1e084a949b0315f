"""JUnit reports from pytest, jest-junit and go-junit-report read into test cases."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.execution.junit import TestCase, file_durations, parse_junit

# pytest 8, default junit_family=xunit2: no file attribute; classname is the dotted
# module path, plus the class for methods.
PYTEST_XUNIT2 = b"""\
<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite \
name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.412" \
timestamp="2025-03-04T10:21:07.123456+00:00" hostname="runner-7">\
<testcase classname="tests.test_api.TestLogin" name="test_ok" time="0.003" />\
<testcase classname="tests.test_api.TestLogin" name="test_bad_password" time="0.120">\
<failure message="AssertionError: assert 401 == 200">self = &lt;tests.test_api.TestLogin \
object at 0x7f3a2c1d0&gt;

    def test_bad_password(self):
&gt;       assert login("bob", "nope").status == 200
E       AssertionError: assert 401 == 200

tests/test_api.py:18: AssertionError</failure></testcase>\
<testcase classname="tests.test_api" name="test_add[1-2]" time="0.001" />\
<testcase classname="tests.test_api" name="test_windows_only" time="0.000">\
<skipped type="pytest.skip" message="windows only">tests/test_api.py:30: windows only</skipped>\
</testcase><testcase classname="tests.test_db" name="test_connect" time="0.002">\
<error message="failed on setup with &quot;ConnectionRefusedError: [Errno 111]&quot;">\
request = &lt;SubRequest 'db' for &lt;Function test_connect&gt;&gt;</error></testcase>\
</testsuite></testsuites>"""

# pytest with -o junit_family=xunit1: file and line attributes on every case.
PYTEST_XUNIT1 = b"""\
<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite \
name="pytest" errors="0" failures="0" skipped="0" tests="4" time="1.830" \
timestamp="2025-03-04T10:22:41.004112+00:00" hostname="runner-7">\
<testcase classname="tests.test_api.TestLogin" name="test_ok" file="tests/test_api.py" \
line="11" time="0.250" />\
<testcase classname="tests.test_api.TestSignup" name="test_ok" file="tests/test_api.py" \
line="25" time="0.500" />\
<testcase classname="tests.test_api" name="test_add[1-2]" file="tests/test_api.py" \
line="40" time="0.080" />\
<testcase classname="tests.test_db" name="test_connect" file="tests/test_db.py" \
line="7" time="1.000" />\
</testsuite></testsuites>"""

# jest-junit with its defaults (classNameTemplate and titleTemplate
# "{classname} {title}"); time in seconds; no file attribute.
JEST_JUNIT = b"""\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="3" failures="1" errors="0" time="2.345">
  <testsuite name="Cart" errors="0" failures="1" skipped="1" timestamp="2025-03-04T10:21:07" \
time="1.204" tests="3">
    <testcase classname="Cart adds an item" name="Cart adds an item" time="0.012">
    </testcase>
    <testcase classname="Cart applies a coupon" name="Cart applies a coupon" time="1.1">
      <failure>Error: expect(received).toBe(expected) // Object.is equality

Expected: 90
Received: 100
    at Object.toBe (/home/runner/work/shop/src/cart.test.ts:14:27)</failure>
    </testcase>
    <testcase classname="Cart checks out" name="Cart checks out" time="0">
      <skipped/>
    </testcase>
  </testsuite>
</testsuites>
"""

# jest-junit with addFileAttribute: "true".
JEST_JUNIT_WITH_FILE = b"""\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="2" failures="0" errors="0" time="0.9">
  <testsuite name="src/cart.test.ts" errors="0" failures="0" skipped="0" \
timestamp="2025-03-04T10:21:07" time="0.9" tests="2">
    <testcase classname="Cart adds an item" name="Cart adds an item" time="0.4" \
file="src/cart.test.ts">
    </testcase>
    <testcase classname="Cart removes an item" name="Cart removes an item" time="0.5" \
file="src/cart.test.ts">
    </testcase>
  </testsuite>
</testsuites>
"""

# go-junit-report v2: one suite per package, subtests as "TestX/sub".
GO_JUNIT_REPORT = b"""\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="1" skipped="1">
\t<testsuite name="github.com/acme/shop/cart" tests="4" failures="1" errors="0" id="0" \
hostname="runner-7" skipped="1" time="0.012" timestamp="2025-03-04T10:21:07Z">
\t\t<properties>
\t\t\t<property name="go.version" value="go1.22.1 linux/amd64"></property>
\t\t</properties>
\t\t<testcase name="TestAdd" classname="github.com/acme/shop/cart" time="0.000"></testcase>
\t\t<testcase name="TestCoupon" classname="github.com/acme/shop/cart" time="0.010">
\t\t\t<failure message="Failed"><![CDATA[    cart_test.go:21: got 100, want 90]]></failure>
\t\t</testcase>
\t\t<testcase name="TestCoupon/expired" classname="github.com/acme/shop/cart" \
time="0.000"></testcase>
\t\t<testcase name="TestCheckout" classname="github.com/acme/shop/cart" time="0.000">
\t\t\t<skipped message="Skipped"><![CDATA[    cart_test.go:30: needs a database]]></skipped>
\t\t</testcase>
\t</testsuite>
</testsuites>
"""

# A bare <testsuite> root, as older pytest and Maven Surefire write it.
BARE_TESTSUITE = b"""\
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.acme.CartTest" tests="2" skipped="0" failures="0" errors="0" \
timestamp="2025-03-04T10:21:07" hostname="runner-7" time="0.048">
  <properties/>
  <testcase name="addsItem()" classname="com.acme.CartTest" time="0.044"/>
  <testcase name="removesItem()" classname="com.acme.CartTest" time="0.004"/>
  <system-out><![CDATA[]]></system-out>
</testsuite>
"""


def test_pytest_report_reads_every_outcome() -> None:
    cases = parse_junit(PYTEST_XUNIT2, "out/junit.xml")
    assert [(c.test_id, c.outcome, c.time_s) for c in cases] == [
        ("tests.test_api.TestLogin::test_ok", "passed", 0.003),
        ("tests.test_api.TestLogin::test_bad_password", "failed", 0.120),
        ("tests.test_api::test_add[1-2]", "passed", 0.001),
        ("tests.test_api::test_windows_only", "skipped", 0.0),
        ("tests.test_db::test_connect", "error", 0.002),
    ]
    assert all(c.file is None for c in cases)


def test_pytest_xunit1_ids_are_pytest_node_ids() -> None:
    cases = parse_junit(PYTEST_XUNIT1, "out/junit.xml")
    # Two classes' same-named methods stay two tests, not one "retried" test.
    assert [c.test_id for c in cases] == [
        "tests/test_api.py::TestLogin::test_ok",
        "tests/test_api.py::TestSignup::test_ok",
        "tests/test_api.py::test_add[1-2]",
        "tests/test_db.py::test_connect",
    ]
    assert cases[0] == TestCase(
        name="test_ok",
        classname="tests.test_api.TestLogin",
        file="tests/test_api.py",
        time_s=0.25,
        outcome="passed",
    )


def test_jest_junit_report_without_file_uses_classname() -> None:
    cases = parse_junit(JEST_JUNIT, "shop/junit.xml")
    assert [(c.test_id, c.outcome, c.time_s) for c in cases] == [
        ("Cart adds an item::Cart adds an item", "passed", 0.012),
        ("Cart applies a coupon::Cart applies a coupon", "failed", 1.1),
        ("Cart checks out::Cart checks out", "skipped", 0.0),
    ]


def test_jest_junit_report_with_file_attribute() -> None:
    cases = parse_junit(JEST_JUNIT_WITH_FILE, "shop/junit.xml")
    assert [c.test_id for c in cases] == [
        "src/cart.test.ts::Cart adds an item",
        "src/cart.test.ts::Cart removes an item",
    ]
    assert file_durations(cases) == {"src/cart.test.ts": pytest.approx(0.9)}


def test_go_junit_report_reads_packages_and_subtests() -> None:
    cases = parse_junit(GO_JUNIT_REPORT, "report.xml")
    assert [(c.test_id, c.outcome, c.time_s) for c in cases] == [
        ("github.com/acme/shop/cart::TestAdd", "passed", 0.0),
        ("github.com/acme/shop/cart::TestCoupon", "failed", 0.010),
        ("github.com/acme/shop/cart::TestCoupon/expired", "passed", 0.0),
        ("github.com/acme/shop/cart::TestCheckout", "skipped", 0.0),
    ]


def test_bare_testsuite_root_is_a_report() -> None:
    cases = parse_junit(BARE_TESTSUITE, "TEST-com.acme.CartTest.xml")
    assert [(c.test_id, c.time_s) for c in cases] == [
        ("com.acme.CartTest::addsItem()", 0.044),
        ("com.acme.CartTest::removesItem()", 0.004),
    ]


def test_nested_suites_and_namespaced_elements_are_read() -> None:
    report = b"""<testsuites xmlns="urn:example:junit"><testsuite name="outer">
      <testsuite name="inner"><testcase classname="a" name="deep" time="1"/></testsuite>
    </testsuite></testsuites>"""
    assert [c.test_id for c in parse_junit(report, "r.xml")] == ["a::deep"]


@pytest.mark.parametrize("time_attr", ["", ' time=""', ' time="-1"', ' time="abc"', ' time="nan"'])
def test_missing_or_odd_time_is_unknown_not_zero(time_attr: str) -> None:
    report = f'<testsuite><testcase classname="c" name="t"{time_attr}/></testsuite>'.encode()
    (case,) = parse_junit(report, "r.xml")
    assert case.time_s is None


def test_time_with_spaces_is_read() -> None:
    (case,) = parse_junit(
        b'<testsuite><testcase classname="c" name="t" time=" 2.5 "/></testsuite>', "r"
    )
    assert case.time_s == 2.5


def test_retried_case_keeps_the_last_attempt_in_the_first_position() -> None:
    # pytest-rerunfailures / jest retries: the same test several times in one report.
    report = b"""<testsuites><testsuite name="pytest">
      <testcase classname="tests.test_net" name="test_fetch" file="tests/test_net.py" time="3.0">
        <failure message="TimeoutError">timed out</failure></testcase>
      <testcase classname="tests.test_net" name="test_other" file="tests/test_net.py" time="0.5"/>
      <testcase classname="tests.test_net" name="test_fetch" file="tests/test_net.py" time="3.0">
        <failure message="TimeoutError">timed out</failure></testcase>
      <testcase classname="tests.test_net" name="test_fetch" file="tests/test_net.py" time="0.2"/>
    </testsuite></testsuites>"""
    cases = parse_junit(report, "r.xml")
    assert [(c.test_id, c.outcome, c.time_s) for c in cases] == [
        ("tests/test_net.py::test_fetch", "passed", 0.2),
        ("tests/test_net.py::test_other", "passed", 0.5),
    ]


def test_failure_outranks_a_teardown_error_and_rerun_records_are_ignored() -> None:
    report = b"""<testsuite>
      <testcase classname="c" name="both"><failure/><error/></testcase>
      <testcase classname="c" name="flaky_then_passed">
        <rerunFailure message="boom">first attempt</rerunFailure></testcase>
    </testsuite>"""
    assert [c.outcome for c in parse_junit(report, "r.xml")] == ["failed", "passed"]


def test_file_durations_sum_known_times_and_omit_unknown_files() -> None:
    report = b"""<testsuite>
      <testcase classname="a" name="t1" file="tests/test_a.py" time="1.5"/>
      <testcase classname="a" name="t2" file="tests/test_a.py"/>
      <testcase classname="a" name="t3" file="tests/test_a.py" time="0.25"/>
      <testcase classname="b" name="t1" file="tests/test_b.py" time="bogus"/>
      <testcase classname="c" name="t1" time="9"/>
    </testsuite>"""
    assert file_durations(parse_junit(report, "r.xml")) == {"tests/test_a.py": 1.75}


def test_malformed_xml_names_source_and_line() -> None:
    report = (
        b'<testsuites>\n<testsuite name="x">\n<testcase name="a" classname="b">\n</testsuites>\n'
    )
    with pytest.raises(InputError) as caught:
        parse_junit(report, "build/junit.xml")
    assert caught.value.path == "build/junit.xml"
    assert caught.value.line == 4
    assert str(caught.value) == "build/junit.xml:4: malformed XML: mismatched tag"


def test_empty_file_is_malformed() -> None:
    with pytest.raises(InputError, match=r"^junit\.xml:1: malformed XML: no element found$"):
        parse_junit(b"", "junit.xml")


def test_billion_laughs_is_refused_not_expanded() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<testsuite><testcase classname="c" name="&lol4;"/></testsuite>"""
    with pytest.raises(InputError) as caught:
        parse_junit(bomb, "evil.xml")
    assert str(caught.value).startswith("evil.xml: refused XML: EntitiesForbidden")


def test_external_entity_is_refused() -> None:
    xxe = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite><testcase classname="c" name="&secret;"/></testsuite>"""
    with pytest.raises(InputError, match="refused XML"):
        parse_junit(xxe, "evil.xml")


def test_xml_that_is_not_a_junit_report_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        parse_junit(b"<html><body>502 Bad Gateway</body></html>", "junit.xml")
    assert str(caught.value) == (
        "junit.xml: not a JUnit report: root element is <html>, "
        "expected <testsuites> or <testsuite>"
    )


def test_testcase_without_name_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"^r\.xml: <testcase> without a name"):
        parse_junit(b'<testsuite><testcase classname="c" time="1"/></testsuite>', "r.xml")


def test_report_with_no_cases_is_empty() -> None:
    assert parse_junit(b'<testsuites name="jest tests" tests="0"/>', "r.xml") == ()
