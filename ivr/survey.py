"""Surveys on the keypad (FastAGI route ``survey``).

* ``follow_up`` (回访): the customer of a closed repair or installation,
  called by the dialler (cti/outbound/dialer.py), answers: satisfaction 1-5,
  whether the problem was solved (1/2), and may leave a spoken comment
  (recorded beside the call recordings). Linked to the ticket and its outlet.
* ``post_call``: the caller, kept on the line when the agent hangs up (the
  queue's ``survey_after_call``, Queue() option ``c``), rates the agent 1-5.
  Linked to the call and the agent.

The dialplan (``hotline-survey``) passes: kind, the callback's id (follow-up)
or the call's id (post-call), the ticket, the agent, the language. Whatever
the caller answered before hanging up is kept; a survey nobody answered is
not written.
"""

from __future__ import annotations

import time
from typing import Protocol

import structlog
from panoramisk.fast_agi import Request

from cti.agi import AgiHandler, get_variable
from ivr.menus import Menus
from ivr.runner import CallerHungUp, IvrSession

log = structlog.get_logger("ivr.survey")

COMMENT_SECONDS = 60  # the longest spoken comment kept
KINDS = ("follow_up", "post_call")


class SurveyResults(Protocol):
    """Where the answers go (crm_bridge/surveys.py)."""

    async def record(self, kind: str, *, call_id: str | None = None, agent: str | None = None,
                     ticket_id: int | None = None, callback_id: int | None = None,
                     satisfaction: int | None = None, solved: bool | None = None,
                     comment_file: str | None = None) -> int: ...


class Answers:
    def __init__(self) -> None:
        self.satisfaction: int | None = None
        self.solved: bool | None = None
        self.comment_file: str | None = None

    @property
    def any(self) -> bool:
        return (self.satisfaction, self.solved, self.comment_file) != (None, None, None)


async def ask_digit(session: IvrSession, pid: str, allowed: str) -> str | None:
    """One key among ``allowed``, asked twice at most (a key pressed during the
    greeting counts: callers who know the survey answer ahead)."""
    ahead, session.typed_ahead = session.typed_ahead, None
    if ahead and ahead in allowed:
        return ahead
    for _ in range(2):
        key = await session.typed(pid, 1)
        if key and key in allowed:
            return key
    return None


def survey_entry(results: SurveyResults, menus: Menus) -> AgiHandler:
    async def entry(request: Request) -> None:
        h = request.headers
        kind = h.get("agi_arg_1", "")
        if kind not in KINDS:
            log.warning("survey_unknown_kind", kind=kind[:20])
            return
        ref, ticket, agent = h.get("agi_arg_2", ""), h.get("agi_arg_3", ""), h.get("agi_arg_4")
        language = h.get("agi_arg_5", "") if h.get("agi_arg_5") in ("zh", "en") else "zh"
        session = IvrSession(request, menus, call_id=h.get("agi_uniqueid", ""))
        session.language = language
        answers = Answers()
        try:
            await session.say("survey-intro-follow-up" if kind == "follow_up"
                              else "survey-intro-post-call")
            score = await ask_digit(session, "survey-satisfaction", "12345")
            answers.satisfaction = int(score) if score else None
            if kind == "follow_up":
                solved = await ask_digit(session, "survey-solved", "12")
                answers.solved = None if solved is None else solved == "1"
                await session.play("survey-comment", keys="")
                spool = await get_variable(request, "ASTSPOOLDIR")
                name = f"survey-{ref or 'x'}-{int(time.time())}"
                if await session.record(f"{spool}/monitor/hotline/{name}", COMMENT_SECONDS,
                                        silence=4):
                    answers.comment_file = f"{name}.wav"
            await session.play("survey-thanks")
        except CallerHungUp:
            log.info("survey_hangup", kind=kind, ref=ref)
        finally:
            if answers.any:
                await results.record(
                    kind, call_id=h.get("agi_arg_6") or (ref if kind == "post_call" else None),
                    agent=agent or None,
                    ticket_id=int(ticket) if ticket.isdigit() else None,
                    callback_id=int(ref) if kind == "follow_up" and ref.isdigit() else None,
                    satisfaction=answers.satisfaction, solved=answers.solved,
                    comment_file=answers.comment_file)
                log.info("survey_answered", kind=kind, ref=ref, satisfaction=answers.satisfaction,
                         solved=answers.solved, comment=answers.comment_file is not None)

    return entry
