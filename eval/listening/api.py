"""HTTP API and pages of listening tests, mounted into the app by webui/listen.py.

Rater routes authenticate with the server-issued rater id and secret (headers
``X-Rater-Id`` / ``X-Rater-Secret``); owner routes with the test's owner token
(``Authorization: Bearer`` or ``?token=``), compared in constant time. Audio
is served by opaque per-rater assignment keys only, never by a path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from eval.listening import rating
from eval.listening.database import Database, open_database

T = TypeVar("T")

PAGE = Path(__file__).with_name("rater_page.html")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
EXPORTS = {"votes.csv": "text/csv", "votes.json": "application/json", "analysis.json": "application/json",
           "analysis.csv": "text/csv"}


class PlayReport(BaseModel):
    """The client saw clip ``slot`` of item ``key`` play to its end."""

    key: str = Field(max_length=64)
    slot: str = Field(max_length=8)


class VoteRequest(BaseModel):
    """A vote: ``choice`` (A/B tests: "A", "B", "tie") or ``score`` (MOS 1..5, CMOS -3..3, B relative to A)."""

    key: str = Field(max_length=64)
    choice: str | None = Field(default=None, max_length=8)
    score: int | None = None
    comment: str = Field(default="", max_length=rating.MAX_COMMENT_CHARS)
    latency_ms: float | None = None
    update: bool = False


def _checked_id(value: str) -> str:
    if not ID_PATTERN.match(value):
        raise HTTPException(404, "No such listening test.")
    return value


def _owner_token(request: Request, token: str | None) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return token


def build_router(db_url: str | None = None) -> APIRouter:
    """All listening routes, bound lazily to the database at ``db_url`` (default: env or data/listening.db)."""
    router = APIRouter()

    def db() -> Database:
        return open_database(db_url)

    def rater_call(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        try:
            return fn(db(), *args, **kwargs)
        except rating.RatingError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    def owner_check(test_id: str, request: Request, token: str | None) -> None:
        from eval.listening import report

        secret = _owner_token(request, token)
        if not secret:
            raise HTTPException(401, "Owner token required (Authorization: Bearer TOKEN or ?token=TOKEN).",
                                headers={"WWW-Authenticate": "Bearer"})
        if not report.owner_allowed(db(), _checked_id(test_id), secret):
            raise HTTPException(403, "Wrong owner token for this test.")

    def owner_analysis(test_id: str, request: Request, token: str | None, exclude_flagged: bool = False) -> dict:
        from eval.listening import report

        owner_check(test_id, request, token)
        return report.analyse_test(db(), test_id, exclude_flagged=exclude_flagged)

    @router.get("/listen/t/{test_id}", response_class=HTMLResponse)
    def rater_page(test_id: str) -> HTMLResponse:
        _checked_id(test_id)
        return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})

    @router.post("/listen/api/t/{test_id}/raters")
    def new_rater(test_id: str, user_agent: str = Header(default="")) -> dict:
        rater_id, secret = rater_call(rating.register_rater, _checked_id(test_id), user_agent)
        return {"rater_id": rater_id, "secret": secret}

    @router.get("/listen/api/t/{test_id}/next")
    def next_item(test_id: str, x_rater_id: str = Header(default=""), x_rater_secret: str = Header(default="")) -> dict:
        return rater_call(rating.next_item, _checked_id(test_id), x_rater_id, x_rater_secret)

    @router.post("/listen/api/t/{test_id}/played")
    def played(test_id: str, report: PlayReport, x_rater_id: str = Header(default=""),
               x_rater_secret: str = Header(default="")) -> dict:
        flags = rater_call(rating.record_play, _checked_id(test_id), x_rater_id, x_rater_secret, report.key,
                           report.slot)
        return {"played": flags}

    @router.post("/listen/api/t/{test_id}/vote")
    def vote(test_id: str, body: VoteRequest, x_rater_id: str = Header(default=""),
             x_rater_secret: str = Header(default="")) -> dict:
        outcome = rater_call(rating.cast_vote, _checked_id(test_id), x_rater_id, x_rater_secret, body.key,
                             choice=body.choice, score=body.score, comment=body.comment, latency_ms=body.latency_ms,
                             update=body.update)
        return {"status": outcome.status, "saved": True, "answered": outcome.answered, "total": outcome.total}

    @router.get("/listen/api/audio/{key}/{slot}")
    def audio(key: str, slot: str) -> FileResponse:
        folder, filename = rater_call(rating.clip_for, key, slot)
        return FileResponse(Path(folder) / filename, media_type="audio/wav",
                            headers={"Cache-Control": "private, max-age=3600"})

    @router.get("/listen/api/tests/{test_id}/results")
    def results(test_id: str, request: Request, token: str | None = Query(default=None),
                exclude_flagged: bool = False) -> JSONResponse:
        return JSONResponse(owner_analysis(test_id, request, token, exclude_flagged))

    @router.get("/listen/api/tests/{test_id}/export/{name}")
    def export(test_id: str, name: str, request: Request, token: str | None = Query(default=None),
               exclude_flagged: bool = False) -> Response:
        from eval.listening import export as exporter

        if name not in EXPORTS:
            raise HTTPException(404, f"Exports: {', '.join(EXPORTS)}")
        owner_check(test_id, request, token)
        analysis = None
        if name.startswith("analysis"):
            analysis = owner_analysis(test_id, request, token, exclude_flagged)
        body = exporter.render(db(), test_id, name, analysis)
        return Response(body, media_type=EXPORTS[name],
                        headers={"Content-Disposition": f'attachment; filename="{test_id}-{name}"'})

    @router.get("/listen/r/{test_id}", response_class=HTMLResponse)
    def results_page(test_id: str, request: Request, token: str | None = Query(default=None),
                     exclude_flagged: bool = False) -> HTMLResponse:
        from eval.listening import results_page as page

        analysis = owner_analysis(test_id, request, token, exclude_flagged)
        return HTMLResponse(page.render(analysis, token), headers={"Cache-Control": "no-store"})

    return router
