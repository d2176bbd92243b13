"""Shared pieces of the report's browser tests (headless Chromium through Playwright).

:class:`PageWatch` records what a page does that a self-contained report must
not: console errors and warnings, uncaught errors, dialogs, and requests for
anything but the file itself and ``data:`` URIs. :func:`open_page` opens a
report in a fresh context with a watch attached. The ``browser`` fixture is in
``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PageWatch", "open_page"]


class PageWatch:
    """Console messages, page errors, dialogs and requests of one page."""

    def __init__(self, page, path: Path):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.own = path.resolve().as_uri()
        page.on("console", lambda m: self.errors.append(m.text)
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: self.requests.append(r.url))

    def foreign(self) -> list[str]:
        """Requested URLs other than the report file itself and ``data:`` URIs."""
        return [u for u in self.requests if u != self.own and not u.startswith("data:")]


def open_page(browser, path: Path, **context):
    """``(context, page, watch)`` for the report at ``path`` (1280 x 900 unless ``context`` says)."""
    options = {"viewport": {"width": 1280, "height": 900}, **context}
    ctx = browser.new_context(**options)
    page = ctx.new_page()
    watch = PageWatch(page, path)
    page.goto(path.resolve().as_uri(), wait_until="load")
    return ctx, page, watch
