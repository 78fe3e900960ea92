"""The log filter's rules, record by record (the end-to-end check is tests/test_log_redaction)."""

import logging
import sys

import pytest

from core.logredact import RedactSecrets, redact

KEY = "dck_abcdefgh" + "Z" * 43
TOKEN = "dcr_abcdefgh" + "Y" * 43
SECRET = "dca_abcdefgh" + "X" * 43


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        (f"using {KEY} now", "dck_[redacted]", KEY[4:]),
        (f"GET /install/{TOKEN} HTTP/1.1", "/install/[redacted] HTTP/1.1", TOKEN[4:]),
        ("GET /install/agent.pyz HTTP/1.1", "/install/agent.pyz", "[redacted]"),
        ("GET /install/anything-else", "/install/[redacted]", "anything-else"),
        (f"Agent 0b7c:{SECRET}", "Agent", SECRET[4:]),
        ("/events?user=alice&token=hunter2&x=1", "user=alice&token=[redacted]&x=1", "hunter2"),
        ("/x?APIKEY=hunter2", "APIKEY=[redacted]", "hunter2"),
        ("/x?a=1&password=hunter2#frag", "password=[redacted]#frag", "hunter2"),
        ("Authorization: Basic YWxpY2U6aHVudGVyMg==", "Basic [redacted]", "YWxpY2U6"),
        ("Bearer abcdef0123456789", "Bearer [redacted]", "abcdef0123456789"),
        ("redis://:hunter2@10.0.0.5:6379/0 refused", "redis://:[redacted]@10.0.0.5", "hunter2"),
        ("postgres://dc:hunter2@db/x", "postgres://dc:[redacted]@db/x", "hunter2"),
        ("/invitations/accept/dci_abc123/", "/invitations/accept/[redacted]/", "abc123"),
        ("/password/reset/MQ/cb3xyz-abc123/", "/password/reset/MQ/[redacted]/", "cb3xyz"),
        ("/password/reset/done/", "/password/reset/done/", "[redacted]"),
        ("Token expired for user bob", "Token expired for user bob", "[redacted]"),
    ],
)
def test_redact(line, kept, gone):
    clean = redact(line)
    assert kept in clean and gone not in clean


def _record(msg, args=(), exc_info=None):
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, exc_info)


def test_the_filter_keeps_an_access_lines_arguments_and_redacts_them():
    record = _record(
        '%s - "%s %s HTTP/%s" %d', ("1.2.3.4:5", "GET", f"/install/{TOKEN}", "1.1", 200)
    )
    assert RedactSecrets().filter(record)
    assert record.args[2] == "/install/[redacted]"  # uvicorn's formatter reads the arguments
    assert record.getMessage() == '1.2.3.4:5 - "GET /install/[redacted] HTTP/1.1" 200'


def test_the_filter_flattens_a_secret_split_between_message_and_arguments():
    record = _record("GET /events?token=%s", ("hunter2",))  # the argument alone looks harmless
    RedactSecrets().filter(record)
    assert record.getMessage() == "GET /events?token=[redacted]" and record.args is None


def test_the_filter_redacts_exception_text():
    try:
        raise ConnectionError(f"refused for {KEY} at redis://:hunter2@cache:6379")
    except ConnectionError:
        record = _record("check failed", exc_info=sys.exc_info())
    RedactSecrets().filter(record)
    text = logging.Formatter().format(record)
    assert "check failed" in text and "ConnectionError" in text
    assert KEY[4:] not in text and "hunter2" not in text
