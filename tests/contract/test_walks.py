"""The walk registry: a contract every registered walk meets, and a lazy package.

The parameters are read from :data:`kgagent.policy.WALKS`, so a walk registered there is
under test here without a line added.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kgagent.policy import (
    WALKS,
    PathReasoner,
    PolicyConfig,
    PolicyError,
    create_reasoner,
    load_reasoner,
)
from kgagent.policy.linkpred import relation_queries
from tests.policy.test_policy import RELATIONS, _graph


def _config(walk: str) -> PolicyConfig:
    return PolicyConfig(mode="relation", walk=walk, epochs=2, dim=8, batch_size=32, rollouts=2,
                        beam=4, seed=0)  # fmt: skip


@pytest.fixture(scope="module")
def queries():
    return relation_queries(_graph().triples(), len(RELATIONS))


@pytest.mark.parametrize("walk", WALKS.names())
def test_every_walk_trains_saves_and_loads(walk, queries, tmp_path):
    adj = _graph()
    reasoner = create_reasoner(adj, RELATIONS, config=_config(walk))
    assert isinstance(reasoner, WALKS.get(walk)) and isinstance(reasoner, PathReasoner)
    report = reasoner.fit(queries[:40], queries[40:60])
    assert report["epochs"] == len(report["history"]) <= 2
    assert 1 <= report["best_epoch"] <= report["epochs"]
    probs = reasoner.answer_probabilities(queries[:8])
    assert probs.shape == (8, adj.num_entities) and np.all(probs >= 0)
    paths = reasoner.beam_search(queries[:8])
    assert len(paths) == 8 and all(p.logp <= 0 for ps in paths for p in ps)
    assert set(reasoner.evaluate(queries[:8])) >= {"hits_at_1", "queries"}

    reasoner.save(tmp_path / walk)
    loaded = load_reasoner(tmp_path / walk, adj, RELATIONS)
    assert type(loaded) is type(reasoner) and loaded.config == reasoner.config
    assert loaded.network_spec() == reasoner.network_spec()
    np.testing.assert_allclose(loaded.answer_probabilities(queries[:8]), probs)
    # the old entry points delegate to the registry
    assert type(PathReasoner.load(tmp_path / walk, adj, RELATIONS)) is type(reasoner)
    again = PathReasoner.create(adj, RELATIONS, config=_config(walk))
    assert type(again) is type(reasoner)


def test_an_unknown_walk_is_refused_with_the_registered_names():
    with pytest.raises(PolicyError, match=r"walk must be one of set, edge, not 'entity'"):
        create_reasoner(_graph(), RELATIONS, config=_config("entity"))


def test_a_registered_walk_is_built_and_loaded_by_name(tmp_path):
    class LoudWalk(PathReasoner):  # a plugin: the set walk under another name
        def __init__(self, network, adj, relations, config, *, reward=None):
            import dataclasses

            super().__init__(network, adj, relations, dataclasses.replace(config, walk="set"),
                             reward=reward)  # fmt: skip
            self.config = config

        def network_spec(self):
            return {"kind": "loud", **super().network_spec()}

    sys.modules[__name__].LoudWalk = LoudWalk
    WALKS.register("loud", __name__, "LoudWalk")
    try:
        adj = _graph()
        reasoner = create_reasoner(adj, RELATIONS, config=_config("loud"))
        assert type(reasoner) is LoudWalk
        reasoner.save(tmp_path / "loud")
        assert type(load_reasoner(tmp_path / "loud", adj, RELATIONS)) is LoudWalk
    finally:
        WALKS.unregister("loud")
        del sys.modules[__name__].LoudWalk


def test_importing_the_policy_package_imports_no_torch():
    code = (
        "import sys\n"
        "import kgagent.policy as p\n"
        "assert sorted(p.WALKS) == ['edge', 'set'], list(p.WALKS)\n"
        "p.PolicyConfig(walk='edge')\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "p.PathReasoner\n"
        "assert 'torch' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
