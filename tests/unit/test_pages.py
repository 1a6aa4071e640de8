"""The pages load nothing from elsewhere: every script, style, image and
connection is the server's own (an agent's browser may have no internet)."""

from __future__ import annotations

import re

import pytest

from cti.app import STATIC_DIR

OUTSIDE = re.compile(
    r"""(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+"""  # <script src>, <link href>
    r"""|url\(\s*["']?(?:https?:)?//[^)]+"""  # CSS url()
    r"""|@import\s+["']?(?:https?:)?//[^;]+"""
    r"""|fetch\(\s*["'](?:https?:)?//""")
PAGES = sorted(p.name for p in STATIC_DIR.iterdir() if p.suffix in (".html", ".js", ".css"))


@pytest.mark.parametrize("name", PAGES)
def test_a_page_refers_only_to_the_server_itself(name: str) -> None:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    outside = re.findall(OUTSIDE, text)
    assert not outside, f"{name} loads from elsewhere: {outside}"


def test_the_console_page_loads_its_own_script_and_style() -> None:
    html = (STATIC_DIR / "console.html").read_text(encoding="utf-8")
    for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html):
        assert (STATIC_DIR / asset.removeprefix("/static/")).is_file(), asset
    assert "/static/console.js" in html and "/static/console.css" in html
