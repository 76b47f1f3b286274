"""One entry point over the model kinds, chosen by the artefact's method (never by guessing)."""

from __future__ import annotations

import importlib

import polars as pl
import pydantic

from kejin.credit.dataset import TrainingData
from kejin.errors import Problem, ValidationError

# What ``fit`` can make: method → (module, config class). A boosted card is a scorecard artefact
# (``method: scorecard``), so scoring, reports and decisions treat it as one; only fitting
# differs. Modules are imported when used: LightGBM (gbm, boosted) costs a second and a half of
# start-up that fitting or scoring a plain scorecard never needs.
METHODS = {
    "scorecard": ("scorecard", "ScorecardConfig"),
    "boosted": ("boosted", "BoostedConfig"),
    "gbm": ("gbm", "GbmConfig"),
}


def _module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"kejin.credit.{name}")


def fit(data: TrainingData, method: str, config: dict | None = None) -> dict:
    """Fit a scorecard, boosted scorecard or GBM from a validated config dict (unknown keys
    are refused)."""
    if method not in METHODS:
        raise ValidationError(
            "未知的建模方法",
            "unknown method",
            [
                Problem(
                    f"可选 {', '.join(METHODS)}",
                    f"one of {', '.join(METHODS)}",
                    field="method",
                    value=method,
                )
            ],
        )
    module, config_class = METHODS[method]
    mod = _module(module)
    try:
        cfg = getattr(mod, config_class)(**(config or {}))
    except pydantic.ValidationError as e:
        raise ValidationError(
            "模型配置有误",
            "invalid model config",
            [
                Problem(
                    err["msg"],
                    err["msg"],
                    field=".".join(map(str, err["loc"])),
                    value=err.get("input"),
                )
                for err in e.errors()
            ],
        ) from None
    return mod.fit(data, cfg)


def score(art: dict, X: pl.DataFrame) -> pl.DataFrame:
    """``pd``, ``points``, ``reasons``, ``flags`` for each row of ``X``."""
    return _module("scorecard" if art["method"] == "scorecard" else "gbm").score(art, X)


def feature_names(art: dict) -> list[str]:
    if art["method"] == "scorecard":
        return [v["name"] for v in art["variables"]]
    return [f["name"] for f in art["features"]]
