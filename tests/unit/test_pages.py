"""The pages load nothing from elsewhere: every script, style, image and
connection is the server's own (an agent's browser may have no internet)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cti.server import STATIC
from cti.web import live

OUTSIDE = re.compile(
    r"""(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+"""  # <script src>, <link href>
    r"""|url\(\s*["']?(?:https?:)?//[^)]+"""  # CSS url()
    r"""|@import\s+["']?(?:https?:)?//[^;]+"""
    r"""|fetch\(\s*["'](?:https?:)?//""")
FOLDERS = [live.STATIC, *STATIC.values()]
PAGES = sorted(p for folder in FOLDERS for p in folder.iterdir()
               if p.suffix in (".html", ".js", ".css"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_a_page_refers_only_to_the_server_itself(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    outside = re.findall(OUTSIDE, text)
    assert not outside, f"{page.name} loads from elsewhere: {outside}"


def test_the_console_page_loads_its_own_script_and_style() -> None:
    html = (STATIC["console"] / "console.html").read_text(encoding="utf-8")
    for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html):
        name, _, file = asset.removeprefix("/static/").partition("/")
        assert (STATIC[name] / file).is_file(), asset
    assert "/static/console/console.js" in html and "/static/console/console.css" in html
