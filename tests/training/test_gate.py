"""The retrain gate's decision on the numbers it is given."""

from __future__ import annotations

from virtuna.training.retrain import gate

BASE = {"spearman": 0.78, "macro_f1": 0.50}


def test_the_content_only_model_is_gated_when_either_side_has_one() -> None:
    champion = BASE | {"no_creator_spearman": 0.47}
    ok, reason = gate(champion, BASE | {"no_creator_spearman": 0.465}, 0.01)
    assert ok, reason
    assert "no_creator_spearman" in reason
    worse, why = gate(champion, BASE | {"no_creator_spearman": 0.40}, 0.01)
    assert not worse
    assert why.startswith("no_creator_spearman 0.4000 < champion 0.4700")
    lacking, why = gate(champion, BASE, 0.01)
    assert not lacking
    assert "no_creator_spearman is undefined" in why


def test_bundles_without_content_only_models_are_gated_as_before() -> None:
    ok, reason = gate(BASE, BASE | {"spearman": 0.775}, 0.01)
    assert ok
    assert reason.endswith("spearman, macro_f1")
    ok, _ = gate(BASE, BASE | {"no_creator_spearman": 0.3}, 0.01)
    assert ok  # the champion has none to compare with: nothing lost
    worse, why = gate(BASE, BASE | {"macro_f1": 0.45}, 0.01)
    assert not worse
    assert "macro_f1" in why
