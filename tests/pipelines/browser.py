"""Headless Chromium for the report tests: screenshot, DOM after load, console messages.

Debian's `chromium` package; `ensure_chromium` installs it with apt-get when it is missing.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
# Chromium's stderr log lines for page console messages and blocked or failed loads.
CONSOLE = re.compile(r":CONSOLE\(\d+\)\]|Uncaught|Failed to load resource|Refused to", re.I)


def ensure_chromium() -> tuple[str | None, str]:
    """`(path of the chromium binary, "")`, installing it with apt-get if needed; else
    `(None, why)`."""
    found = shutil.which("chromium")
    if found:
        return found, ""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=900, env=env, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"{' '.join(command)}: {e}"
        if result.returncode != 0:
            return None, f"{' '.join(command)} exited {result.returncode}: {result.stderr[-500:]}"
    return shutil.which("chromium"), ""


@dataclasses.dataclass
class Page:
    dom: str  # the DOM after load, serialised (--dump-dom)
    console: list[str]  # console / load error lines from Chromium's log
    screenshot: str  # PNG path


def open_page(chromium: str, html_path: str, png_path: str, size=(1280, 2400)) -> Page:
    """Loads `html_path` twice in headless Chromium: once for the DOM, once for a screenshot.

    Console messages are read from both runs' `--enable-logging=stderr --v=0` output.
    """
    url = "file://" + os.path.abspath(html_path)
    logs = ["--enable-logging=stderr", "--v=0"]
    with tempfile.TemporaryDirectory() as profile:
        common = [chromium, *FLAGS, *logs, f"--user-data-dir={profile}"]
        dom = subprocess.run(
            [*common, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
        )
        shot = subprocess.run(
            [*common, f"--screenshot={png_path}", f"--window-size={size[0]},{size[1]}", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    console = [line for line in (dom.stderr + shot.stderr).splitlines() if CONSOLE.search(line)]
    return Page(dom=dom.stdout, console=console, screenshot=png_path)


class Tags(HTMLParser):
    """The element names and the visible text of a document."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags
