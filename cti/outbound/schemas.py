"""Campaign payloads: the questions are data, checked here once."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Question(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,29}$")
    text: str = Field(min_length=1, max_length=300)
    # choice: one of ``options``; scale: 1-5; text: free words
    kind: Literal["choice", "scale", "text"]
    options: list[str] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _options(self) -> Question:
        if self.kind == "choice":
            if len(self.options) < 2:
                raise ValueError("a choice needs at least two options")
            if len(set(self.options)) != len(self.options) or any(
                    not o or len(o) > 50 for o in self.options):
                raise ValueError("options: distinct, 1 to 50 characters each")
        elif self.options:
            raise ValueError(f"a {self.kind} question has no options")
        return self


class CampaignIn(_Strict):
    name: str = Field(min_length=1, max_length=100)
    questions: list[Question] = Field(max_length=30)

    @field_validator("questions")
    @classmethod
    def _some(cls, questions: list[Question]) -> list[Question]:
        if not questions:
            raise ValueError("a survey with no questions: give at least one")
        ids = [q.id for q in questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be distinct")
        return questions


class CampaignStatusIn(_Strict):
    status: Literal["running", "paused", "done"]


Outcome = Literal["answered", "no_answer", "busy", "wrong_number", "refused", "skipped"]


class ContactResultIn(_Strict):
    outcome: Outcome
    answers: dict[str, Any] = Field(default_factory=dict)
