"""Fixtures of the contract suites: one instance per case of every registered name.

The parameter lists come from the registries (see cases.py), as rdflib's ``make_graph``
fixture and pykeen's ``tests/cases.py`` do: registering a backend puts it under test.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.cases import encoder_params, kge_params, llm_params, store_params


@pytest.fixture(params=store_params())
def store_case(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture
def kg(store_case: Any, request: pytest.FixtureRequest) -> Any:
    """An empty KnowledgeGraph on one store case (closed, and wiped on a server, after)."""
    return store_case.make(request)


@pytest.fixture(scope="module", params=encoder_params())
def encoder_case(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(scope="module")
def encoder(encoder_case: Any, request: pytest.FixtureRequest) -> Any:
    """One encoder per case, shared by a module's tests (a real model loads once)."""
    return encoder_case.make(request)


@pytest.fixture(scope="module", params=llm_params())
def llm_case(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(scope="module")
def llm(llm_case: Any, request: pytest.FixtureRequest) -> Any:
    """One LLM per case, shared by a module's tests (a real model loads once)."""
    return llm_case.make(request)


@pytest.fixture(params=kge_params())
def kge_case(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture
def kge_model(kge_case: Any, request: pytest.FixtureRequest) -> Any:
    """A fresh, seeded tiny model per test (training steps mutate it)."""
    return kge_case.make(request)
