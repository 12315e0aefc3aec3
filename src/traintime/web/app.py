"""The local web app (``traintime serve``): a JSON API over the one evaluation path, and the
page in ``static/`` that calls it. Everything it serves ships in the package (no CDN).

Every answer goes through the same door as the command line: the request body is turned into
``with_overrides`` keys on top of the founding scenario, exactly what ``traintime estimate``
does with its flags, and estimated by ``estimation.estimate_question``; comparisons by
``compare.compare``. So the page, the API and the CLI give the same numbers for the same
scenario (a test checks it).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from traintime.errors import AmbiguousNameError, TraintimeError, UnknownNameError

#: Largest request body accepted, in bytes (a config.json is a few KB).
MAX_BODY_BYTES = 1_000_000
#: Most setups (GPUs x counts) one comparison may estimate.
MAX_COMPARE_SETUPS = 3000


class Scenario(BaseModel):
    """One question, as the page asks it. Null means unset (the recipe, the defaults or the
    planner fill it, as on the command line); the founding question fills model and GPU."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), populate_by_name=True)

    model: str | None = Field(
        default=None, max_length=4096, description="preset, alias, nanochat-d<N> or HF repo id"
    )
    model_config_json: dict[str, Any] | None = Field(
        default=None,
        alias="model_config",
        description="a pasted or uploaded Hugging Face config.json (instead of model)",
    )
    gpu: str | None = Field(default=None, max_length=200)
    gpus: int | None = Field(default=None, ge=1, le=1_000_000)
    gpus_per_node: int | None = Field(default=None, ge=1, le=1_000_000)
    system: str | None = Field(default=None, max_length=200)
    training: dict[str, Any] = Field(default_factory=dict, description="TrainingSpec fields")
    economics: dict[str, Any] = Field(default_factory=dict, description="Economics fields")
    allow_math_changes: bool = False


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: Scenario = Field(default_factory=Scenario)
    gpus: list[str] = Field(min_length=1, max_length=MAX_COMPARE_SETUPS)
    counts: list[int] = Field(default=[1], min_length=1, max_length=MAX_COMPARE_SETUPS)


class _BadField(Exception):
    """A TraintimeError with the request field it belongs to."""

    def __init__(self, loc: list[str | int], message: str) -> None:
        self.loc, self.message = loc, message


def _overrides(s: Scenario) -> dict[str, Any]:
    """The request as ``with_overrides`` keys: what the CLI's flags become."""
    out: dict[str, Any] = {
        k: v
        for k, v in (
            ("model", s.model),
            ("gpu", s.gpu),
            ("gpus", s.gpus),
            ("gpus_per_node", s.gpus_per_node),
            ("system", s.system),
        )
        if v not in (None, "")
    }
    if s.model_config_json is not None:
        from traintime.catalog.hf import parse_hf_config

        try:
            out["model"] = parse_hf_config(
                s.model_config_json, where="pasted config.json", source="pasted config.json"
            )
        except TraintimeError as exc:
            raise _BadField(["body", "model_config"], str(exc)) from None
    training = {k: v for k, v in s.training.items() if v not in (None, "")}
    if training:
        out["training"] = training
    economics = {k: v for k, v in s.economics.items() if v not in (None, "")}
    if economics:
        out["economics"] = economics
    if s.allow_math_changes:
        out["allow_math_changes"] = True
    return out


def _field_of(exc: TraintimeError, s: Scenario) -> list[str | int]:
    """The request field an error names, for the page to show it beside the input."""
    if isinstance(exc, UnknownNameError | AmbiguousNameError) and exc.kind in ("gpu", "model"):
        return ["body", exc.kind]
    text = str(exc)
    for section in ("training", "economics"):
        for key in getattr(s, section):
            if text.startswith((f"{key}=", f"{key} ", f"--{key.replace('_', '-')}")):
                return ["body", section, key]
            if f" {key}=" in text or f"{key}=" in text[:60]:
                return ["body", section, key]
    for key in ("gpus_per_node", "gpus", "system", "gpu", "model"):
        if key in text[:80]:
            return ["body", key]
    return ["body"]


def _unprocessable(loc: list[str | int], message: str) -> JSONResponse:
    return JSONResponse(
        status_code=422, content={"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}
    )


def _estimate(s: Scenario) -> Any:
    from traintime.estimation import estimate_scenario

    return estimate_scenario(None, **_overrides(s))


def create_app() -> FastAPI:
    """The app: the page at ``/``, its assets at ``/static``, the API under ``/api``, and the
    OpenAPI description at ``/docs`` (Swagger UI served from the package, offline)."""
    app = FastAPI(
        title="traintime",
        description="How long will it take to train this language model on that hardware, "
        "will it fit, and what will it cost? The same answers as the traintime command line.",
        docs_url=None,
        redoc_url=None,
    )
    static = resources.files("traintime.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    import swagger_ui_bundle

    app.mount("/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return JSONResponse(
                status_code=413,
                content={
                    "detail": f"request body of {int(declared):,} bytes exceeds the limit of "
                    f"{MAX_BODY_BYTES:,} bytes"
                },
            )
        if request.method == "POST" and declared is None:
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse(
                    status_code=413,
                    content={
                        "detail": f"request body of {len(body):,} bytes exceeds the limit of "
                        f"{MAX_BODY_BYTES:,} bytes"
                    },
                )
        return await call_next(request)

    @app.exception_handler(_BadField)
    async def bad_field(_: Request, exc: _BadField) -> JSONResponse:
        return _unprocessable(exc.loc, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(static / "index.html"))

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="traintime API",
            swagger_js_url="/swagger/swagger-ui-bundle.js",
            swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon-32x32.png",
        )

    _routes(app)
    return app


def _guarded(s: Scenario, run: Any) -> Any:
    """Run ``run()``; a TraintimeError becomes a 422 naming the field."""
    try:
        return run()
    except _BadField as exc:
        return _unprocessable(exc.loc, exc.message)
    except TraintimeError as exc:
        return _unprocessable(_field_of(exc, s), str(exc))


def _routes(app: FastAPI) -> None:
    @app.get("/api/options", summary="Defaults (the founding question) and allowed values")
    def options() -> dict[str, Any]:
        return _options()

    @app.get("/api/models", summary="Model presets")
    def models() -> list[dict[str, Any]]:
        from traintime import catalog
        from traintime.engine.params import count_params

        out = []
        for name in catalog.list_models():
            spec = catalog.find_model(name)
            counts = count_params(spec)
            out.append(
                {
                    "name": spec.name,
                    "family": spec.family,
                    "params": counts.total,
                    "active_params": counts.active,
                    "layers": spec.n_layer,
                    "d_model": spec.d_model,
                }
            )
        return out

    @app.get("/api/gpus", summary="Search the GPU catalog")
    def gpus(q: str = "", limit: int = 50) -> list[dict[str, Any]]:
        from traintime import catalog

        limit = max(1, min(limit, MAX_COMPARE_SETUPS))
        try:
            found = catalog.search_gpus(q or None)
        except TraintimeError:
            return []
        return [
            {
                "name": g.name,
                "vendor": g.vendor,
                "memory_gib": g.memory_gib,
                "device_class": g.device_class,
            }
            for g in found[:limit]
        ]

    @app.get("/api/systems", summary="Node and instance presets")
    def systems() -> list[dict[str, Any]]:
        from traintime import catalog

        return [
            {
                "name": n.name,
                "gpu": n.gpu,
                "gpus_per_node": n.gpus_per_node,
                "description": n.description,
            }
            for n in catalog.list_systems()
        ]

    @app.post(
        "/api/estimate",
        summary="Estimate one run: the same JSON as `traintime estimate --json`",
    )
    def estimate(s: Scenario) -> Any:
        return _guarded(s, lambda: Response(_estimate(s).to_json(), media_type="application/json"))

    @app.post("/api/command", summary="The traintime command line for the same scenario")
    def command(s: Scenario) -> Any:
        from traintime.cli import command_line

        def run() -> dict[str, str]:
            overrides = _overrides(s)
            note = ""
            if s.model_config_json is not None:
                overrides["model"] = "config.json"
                note = "save the pasted config as config.json beside you"
            return {"command": command_line(overrides), "note": note}

        return _guarded(s, run)

    @app.post(
        "/api/scenario",
        summary="The scenario as a TOML file (traintime estimate --scenario FILE)",
        response_class=PlainTextResponse,
    )
    def scenario(s: Scenario) -> Any:
        return _guarded(s, lambda: _scenario_file(s))

    @app.post("/api/compare", summary="The same JSON as `traintime compare --json`")
    def compare(req: CompareRequest) -> Any:
        setups = len(req.gpus) * len(req.counts)
        if setups > MAX_COMPARE_SETUPS:
            return _unprocessable(
                ["body", "gpus"],
                f"{len(req.gpus)} GPUs x {len(req.counts)} counts = {setups:,} setups; a "
                f"comparison may have at most {MAX_COMPARE_SETUPS:,}",
            )
        if any(c < 1 or c > 1_000_000 for c in req.counts):
            return _unprocessable(["body", "counts"], "counts must be whole numbers 1..1000000")

        def run() -> Response:
            from traintime.compare import compare as run_compare

            overrides = _overrides(req.scenario)
            # the comparison's GPU list and counts replace the scenario's GPU and count
            overrides.pop("gpu", None)
            overrides.pop("gpus", None)
            rows = run_compare(
                overrides.pop("model", None), gpus=req.gpus, counts=req.counts, **overrides
            )
            body = "[" + ",".join(r.model_dump_json() for r in rows) + "]"
            return Response(body, media_type="application/json")

        return _guarded(req.scenario, run)


def _scenario_file(s: Scenario) -> PlainTextResponse:
    from traintime import catalog
    from traintime.catalog.scenarios import scenario_text
    from traintime.estimation import with_overrides

    question = with_overrides(catalog.load_scenario(None), **_overrides(s))
    model = question.model if isinstance(question.model, str) else "config.json"
    text = scenario_text(
        model=model,
        hardware={
            "gpu": question.gpu if isinstance(question.gpu, str) else question.gpu.name,
            "gpus": question.gpus,
            "gpus_per_node": question.gpus_per_node,
            "system": question.system if isinstance(question.system, str) else None,
        },
        training=question.training.given(),
        economics=question.economics.model_dump(exclude_none=True),
        allow_math_changes=question.allow_math_changes,
        reference=question.reference,
    )
    return PlainTextResponse(
        text, headers={"Content-Disposition": 'attachment; filename="scenario.toml"'}
    )


def _options() -> dict[str, Any]:
    import typing

    from traintime import catalog
    from traintime.specs import TrainingSpec

    choices: dict[str, list[Any]] = {}
    for name, field in TrainingSpec.model_fields.items():
        args = [a for a in typing.get_args(field.annotation) if a is not type(None)]
        for arg in args:
            literal = typing.get_args(arg) if typing.get_origin(arg) is typing.Literal else ()
            if literal:
                choices[name] = list(literal)
    founding = catalog.load_scenario(None)
    defaults = {
        "model": founding.model,
        "gpu": founding.gpu,
        "gpus": founding.gpus,
        "training": {},
        "economics": {},
        "allow_math_changes": False,
    }
    return {"defaults": defaults, "choices": choices}
