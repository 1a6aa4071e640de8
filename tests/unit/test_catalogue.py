"""The pages' one catalogue (cti/web/static/catalogue.json) has both texts,
Chinese and English, for every code the API can return: states, pause reasons,
appliance categories, ticket kinds and statuses, dispositions, call outcomes,
listen-in modes, roles, and every error id the server can answer with."""

from __future__ import annotations

import json
import re
from enum import Enum

import pytest

from acd.board import AgentState
from acd.schemas import PauseReason
from crm_bridge.models import (
    ApplianceCategory,
    CallbackKind,
    CallbackOutcome,
    CallbackStatus,
    CallOutcome,
    CampaignStatus,
    ContactStatus,
    Disposition,
    TicketKind,
    TicketStatus,
)
from cti.config.paths import PROJECT_ROOT
from cti.roles import Role
from cti.supervisor.schemas import SpyMode
from cti.web import sessions

CATALOGUE = json.loads((sessions.STATIC / "catalogue.json").read_text(encoding="utf-8"))
ENUMS: list[tuple[str, type[Enum]]] = [
    ("state", AgentState), ("pause", PauseReason), ("category", ApplianceCategory),
    ("ticket_kind", TicketKind), ("ticket_status", TicketStatus),
    ("disposition", Disposition), ("outcome", CallOutcome), ("spy", SpyMode), ("role", Role),
    ("callback_kind", CallbackKind), ("callback_status", CallbackStatus),
    ("try_outcome", CallbackOutcome), ("campaign_status", CampaignStatus),
    ("contact_status", ContactStatus)]
# aiohttp's own refusals, as the error middleware names them, and its 500
HTTP_IDS = {"not-found", "method-not-allowed", "request-entity-too-large", "internal-error"}


def error_ids() -> set[str]:
    """Every error id in the server's code: a class's ``error_id = "..."`` and
    an ``error_id="..."`` given where an error is raised."""
    found = set(HTTP_IDS)
    for package in ("cti", "acd", "ivr", "crm_bridge"):
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            found |= set(re.findall(r'error_id\s*=\s*"([a-z0-9-]+)"', path.read_text("utf-8")))
    return found


def both(kind: str, code: str) -> bool:
    t = CATALOGUE.get(kind, {}).get(code) or {}
    return bool(str(t.get("zh", "")).strip()) and bool(str(t.get("en", "")).strip())


@pytest.mark.parametrize(("kind", "enum"), ENUMS, ids=[k for k, _ in ENUMS])
def test_every_code_of_the_api_has_both_texts(kind: str, enum: type[Enum]) -> None:
    missing = [e.value for e in enum if not both(kind, str(e.value))]
    assert missing == [], f"{kind}: no Chinese and English text for {missing}"


def test_every_error_id_has_both_texts() -> None:
    ids = error_ids()
    assert len(ids) > 40
    missing = sorted(i for i in ids if not both("error", i))
    assert missing == [], f"error ids without both texts: {missing}"


def test_the_catalogue_names_no_code_the_server_does_not_have() -> None:
    """A code removed from the server goes from the catalogue too."""
    for kind, enum in ENUMS:
        stale = set(CATALOGUE[kind]) - {str(e.value) for e in enum}
        assert stale == set(), f"{kind}: {stale}"
    assert set(CATALOGUE["error"]) - error_ids() == set()
