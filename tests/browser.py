"""A real headless browser for tests: Debian's Chromium driven by Playwright, offline, with a fresh profile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class PageVisit:
    """What a page did while it loaded: every request it made and every console error or uncaught exception."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def processes_using(profile_dir: Path) -> list[int]:
    """Pids of the processes whose command line names `profile_dir` (the browser and its children)."""
    marker = str(profile_dir).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:  # the process ended while we looked
            continue
    return pids


@contextmanager
def chromium(profile_dir: Path) -> Iterator["BrowserContext"]:  # noqa: F821
    """A headless Chromium with its own profile in `profile_dir`; every request that is not a
    file:// URL is aborted (and still recorded by `visit`). Closed, with its processes, on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield context
        finally:
            context.close()


def visit(context, url: str, *, ready: str, timeout_ms: int = 30_000):
    """Open `url` in a new page, record its requests and errors, wait until the JS expression `ready` is true."""
    page = context.new_page()
    seen = PageVisit()

    def route(route, request):
        seen.requests.append(request.url)
        if request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: seen.errors.append(f"console {message.type}: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
    page.on("requestfailed", lambda request: seen.errors.append(f"request failed: {request.url}"))
    page.goto(url)
    page.wait_for_function(ready, timeout=timeout_ms)
    return page, seen
