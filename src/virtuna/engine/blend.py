"""Fitted blend weights: how much each signal counts in the product's score, as measured.

The aggregate's base weights (``virtuna.engine.aggregate.Weights``) are the earlier
system's guesses. ``virtuna ml fit-blend`` replaces them, for the signals that can be
measured offline on real outcomes (``LOCAL_SIGNALS``: ml, creator, rules, trends), by
weights that maximise the rank correlation of the final score with real views on a later
time window the model never saw. A signal that adds no measured lift gets weight 0 and
its report says so ("weight 0: no measured lift (Δspearman +0.000)").

The fitted weights are stored with the model bundle (``blend.json``), because they are a
property of that model's score: a retrained model gets its own fit.

How fitted and LLM signals combine: the language-model signals (behavioral, llm_content)
are absent from the scraped data, so they cannot be fitted. They keep their base weights;
the fitted shares divide the base weight the local signals had together (.15+.15+.10+.10 =
.50). With every signal present the LLM pair therefore still carries .60 of 1.10, as the
base design says, and relative to each other they keep .35 : .25; without them the local
signals carry the score alone, in exactly the fitted proportions.

When the ML signal itself is missing (its stage failed for one draft), weights fitted
*with* it say nothing; a second fit without it (``fallback``) is used instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtuna.engine.aggregate import Weights

BLEND_FILE = "blend.json"
FORMAT_VERSION = 1
LOCAL_SIGNALS: tuple[str, ...] = ("ml", "creator", "rules", "trends")


class BlendError(ValueError):
    """A blend file that is unreadable or of an unknown format."""


@dataclass(frozen=True)
class SignalFit:
    """One signal's fitted share among the local signals and the evidence for it."""

    weight: float  # share of the local signals' total, 0-1
    delta_spearman: float  # the fit's Spearman minus the best fit without this signal

    def note(self) -> str:
        if self.weight <= 0:
            return f"weight 0: no measured lift (Δspearman {self.delta_spearman:+.3f})"
        return f"fitted weight (Δspearman {self.delta_spearman:+.3f} over the fit without it)"


@dataclass(frozen=True)
class FittedBlend:
    signals: dict[str, SignalFit]  # every LOCAL_SIGNALS name
    fallback: dict[str, SignalFit]  # the same fit without the ml signal
    model_version: str  # the bundle whose ML score was measured
    evidence: dict[str, Any] = field(default_factory=dict)  # what it was fitted on, scores
    format_version: int = FORMAT_VERSION

    def weights(self, base: Weights | None = None) -> Weights:
        """Engine weights: fitted local shares, LLM signals at their base weights."""
        base = base or Weights()
        return _weights(self.signals, base, without_ml=_weights(self.fallback, base))

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "model_version": self.model_version,
            "signals": {k: _fit_json(v) for k, v in self.signals.items()},
            "fallback": {k: _fit_json(v) for k, v in self.fallback.items()},
            "evidence": self.evidence,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FittedBlend:
        if raw.get("format_version") != FORMAT_VERSION:
            raise BlendError(f"unsupported blend format {raw.get('format_version')!r}")
        try:
            return cls(
                signals=_fits(raw["signals"]),
                fallback=_fits(raw["fallback"]),
                model_version=str(raw["model_version"]),
                evidence=dict(raw.get("evidence", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BlendError(f"malformed blend ({exc})") from exc

    def save(self, path: Path | str) -> Path:
        target = Path(path)
        target.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n", "utf-8")
        return target

    @classmethod
    def load(cls, path: Path | str) -> FittedBlend:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BlendError(f"cannot read blend weights at {path}: {exc}") from exc
        return cls.from_json(raw)


def _fit_json(fit: SignalFit) -> dict[str, float]:
    return {"weight": round(fit.weight, 4), "delta_spearman": round(fit.delta_spearman, 4)}


def _fits(raw: Mapping[str, Any]) -> dict[str, SignalFit]:
    fits = {
        str(k): SignalFit(float(v["weight"]), float(v["delta_spearman"])) for k, v in raw.items()
    }
    unknown = set(fits) - set(LOCAL_SIGNALS)
    if unknown or any(f.weight < 0 for f in fits.values()):
        raise ValueError(f"weights must be non-negative, for {LOCAL_SIGNALS} only")
    if sum(f.weight for f in fits.values()) <= 0:
        raise ValueError("at least one fitted weight must be positive")
    return fits


def _weights(fits: Mapping[str, SignalFit], base: Weights, without_ml: Weights | None = None
             ) -> Weights:  # fmt: skip
    local_total = sum(getattr(base, name) for name in LOCAL_SIGNALS)
    fitted_total = sum(f.weight for f in fits.values())
    shares = {
        name: local_total * (fits[name].weight / fitted_total if name in fits else 0.0)
        for name in LOCAL_SIGNALS
    }
    return Weights(
        behavioral=base.behavioral,
        llm_content=base.llm_content,
        **shares,
        notes=tuple(sorted((name, fit.note()) for name, fit in fits.items())),
        without_ml=without_ml,
    )
