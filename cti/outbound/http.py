"""The outbound side over HTTP: survey campaigns for supervisors (the
``/campaigns`` page: create with questions, import the list, run or pause,
results with charts and as CSV), and preview calls for agents under
``/api/v1/console/campaign/`` (the next contact, dial, record the outcome)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from cti.errors import FieldError
from cti.outbound.campaigns import CampaignDesk
from cti.outbound.schemas import CampaignIn, CampaignStatusIn, ContactResultIn
from cti.web.parsing import body, path_id
from cti.web.responses import csv_response, ok
from cti.web.routes import DESK, SUPERVISOR, Routes, desk_agent, user

STATIC = Path(__file__).with_name("static")


class CampaignAdmin(Protocol):
    """The campaigns as supervisors keep them (crm_bridge/campaigns.py)."""

    async def create(self, name: str, questions: list[dict[str, Any]], actor: str
                     ) -> dict[str, Any]: ...
    async def all(self) -> list[dict[str, Any]]: ...
    async def get(self, campaign_id: int) -> dict[str, Any]: ...
    async def set_status(self, campaign_id: int, status: str) -> dict[str, Any]: ...
    async def import_contacts(self, campaign_id: int, text: str) -> dict[str, Any]: ...
    async def results(self, campaign_id: int) -> dict[str, Any]: ...
    async def result_rows(self, campaign_id: int
                          ) -> tuple[list[str], list[dict[str, Any]]]: ...


ADMIN_STORE: web.AppKey[CampaignAdmin] = web.AppKey("campaigns")
DESK_SERVICE: web.AppKey[CampaignDesk] = web.AppKey("campaign_desk")


async def list_campaigns(request: web.Request) -> web.Response:
    return ok({"campaigns": await request.app[ADMIN_STORE].all()})


async def create_campaign(request: web.Request) -> web.Response:
    data = await body(request, CampaignIn)
    return ok(await request.app[ADMIN_STORE].create(
        data.name, [q.model_dump() for q in data.questions], user(request).login), status=201)


async def get_campaign(request: web.Request) -> web.Response:
    return ok(await request.app[ADMIN_STORE].get(path_id(request, "campaign_id")))


async def set_status(request: web.Request) -> web.Response:
    data = await body(request, CampaignStatusIn)
    return ok(await request.app[ADMIN_STORE].set_status(path_id(request, "campaign_id"),
                                                        data.status))


async def import_contacts(request: web.Request) -> web.Response:
    """A CSV (``number[,name]`` per line) as the body: all or nothing."""
    if request.content_type not in ("text/csv", "text/plain"):
        raise FieldError("body", "send the list as text/csv")
    return ok(await request.app[ADMIN_STORE].import_contacts(
        path_id(request, "campaign_id"), await request.text()), status=201)


async def results(request: web.Request) -> web.Response:
    return ok(await request.app[ADMIN_STORE].results(path_id(request, "campaign_id")))


async def results_csv(request: web.Request) -> web.Response:
    cid = path_id(request, "campaign_id")
    columns, rows = await request.app[ADMIN_STORE].result_rows(cid)
    return csv_response(rows, columns, f"campaign-{cid}.csv")


async def next_contact(request: web.Request) -> web.Response:
    return ok(await request.app[DESK_SERVICE].next(desk_agent(request)))


async def dial_contact(request: web.Request) -> web.Response:
    return ok(await request.app[DESK_SERVICE].dial(desk_agent(request),
                                                   path_id(request, "contact_id")))


async def contact_result(request: web.Request) -> web.Response:
    data = await body(request, ContactResultIn)
    return ok(await request.app[DESK_SERVICE].result(desk_agent(request),
                                                     path_id(request, "contact_id"), data))


def add_routes(app: web.Application, store: CampaignAdmin, desk: CampaignDesk) -> None:
    app[ADMIN_STORE], app[DESK_SERVICE] = store, desk
    r = Routes(app)
    r.page("/campaigns", STATIC / "campaigns.html", SUPERVISOR)
    r.get("/api/v1/campaigns", list_campaigns, SUPERVISOR)
    r.post("/api/v1/campaigns", create_campaign, SUPERVISOR, audit="campaign.create")
    r.get("/api/v1/campaigns/{campaign_id}", get_campaign, SUPERVISOR)
    r.post("/api/v1/campaigns/{campaign_id}/status", set_status, SUPERVISOR,
           audit="campaign.status")
    r.post("/api/v1/campaigns/{campaign_id}/contacts", import_contacts, SUPERVISOR,
           audit="campaign.import")
    r.get("/api/v1/campaigns/{campaign_id}/results", results, SUPERVISOR)
    r.get("/api/v1/campaigns/{campaign_id}/results.csv", results_csv, SUPERVISOR)
    # the agent's preview calls: their own contact only
    r.post("/api/v1/console/campaign/next", next_contact, DESK)
    r.post("/api/v1/console/campaign/{contact_id}/dial", dial_contact, DESK)
    r.post("/api/v1/console/campaign/{contact_id}/result", contact_result, DESK)
