"""Secrets never reach a log line: a filter on every handler of the server's processes.

Credentials travel where servers log by habit: a stream's `?user=&token=` in the access log,
a registration token in `/install/<token>`, an invitation or password-reset token in its
link, a Redis password in a connection error. The filter rewrites each record before any
handler formats it (message, arguments, exception text, stack), so a new log call cannot leak
one of these by accident. It is installed by `settings.LOGGING` on the console handler, which
the access log (uvicorn), Django's loggers, Celery (dockercloud.celery) and ours all reach.
"""

import logging
import re

MARK = "[redacted]"

_RULES: list[tuple[re.Pattern, str]] = [
    # Our token kinds: API keys, registration tokens, agent secrets, invitations.
    (re.compile(r"\b(dc[krai])_[A-Za-z0-9_\-]+"), rf"\1_{MARK}"),
    # Credentials in query strings (the Go SDK's ?user=&token=, ?apikey=, ...).
    (
        re.compile(
            r"([?&;](?:token|apikey|api_key|key|password|passwd|pass|secret|access_token|auth)=)"
            r"[^&;\s\"'#]*",
            re.IGNORECASE,
        ),
        rf"\1{MARK}",
    ),
    # Tokens that are path segments. `/install/agent.pyz` is the agent download, not a token.
    (re.compile(r"(/install/)(?!agent\.pyz\b)[^\s?#\"'/]+"), rf"\1{MARK}"),
    (re.compile(r"(/invitations/accept/)[^\s?#\"'/]+"), rf"\1{MARK}"),
    (re.compile(r"(/password/reset/[^\s/?#\"']+/)[^\s/?#\"']+"), rf"\1{MARK}"),
    # Authorization header values, should one be logged.
    (re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~\-]{6,}", re.IGNORECASE), rf"\1 {MARK}"),
    (re.compile(r"\b(Token|ApiKey|Agent)\s+[A-Za-z0-9+/=._~:\-]{20,}"), rf"\1 {MARK}"),
    # user:password@ in URLs (DATABASE_URL, REDIS_URL in connection errors).
    (re.compile(r"\b([a-z][a-z0-9+.\-]*://[^\s/:@]*:)[^\s/@]+@", re.IGNORECASE), rf"\1{MARK}@"),
]


def redact(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _redacted_args(args):
    if isinstance(args, tuple):
        return tuple(a if isinstance(a, int | float) else redact(str(a)) for a in args)
    return None


class RedactSecrets(logging.Filter):
    """Rewrite a record so that none of its text carries a credential."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            # Keep the arguments when redacting them alone gives the clean line: some
            # formatters (uvicorn's access formatter) read them.
            args = _redacted_args(record.args)
            try:
                structured = args is not None and record.msg % args == clean
            except (TypeError, ValueError):
                structured = False
            record.msg, record.args = (record.msg, args) if structured else (clean, None)
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
