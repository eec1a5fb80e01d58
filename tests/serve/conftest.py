"""The film graph of tests/programs in an indexed workspace (hashing encoder, no LLM:
answers in milliseconds), served by ``create_app``; and agents that stand in for a slow
or broken one.

The workspace is built once for the package and only read: each test makes its own app
(its own limits, conversations and metrics) over the one shared agent, as ``kgagent
serve`` shares one agent between requests.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kgagent.agents import Agent
from kgagent.serve import ServeSettings, create_app
from tests.programs.conftest import FILMS_TTL
from tests.workspaces import turtle_workspace


@pytest.fixture(scope="package")
def films_ws(tmp_path_factory) -> Path:
    return turtle_workspace(tmp_path_factory.mktemp("serve_films"), FILMS_TTL, name="films")


@pytest.fixture(scope="package")
def agent(films_ws):
    """The one agent every app of these tests serves (read-only, as `kgagent serve`)."""
    with Agent.open(films_ws, read_only=True) as a:
        yield a


def make_client(target, **settings) -> TestClient:
    """A client of a new app over ``target``; server errors come back as responses (a
    500 is what a client would see), never raised into the test."""
    return TestClient(create_app(target, ServeSettings(**settings)), raise_server_exceptions=False)


@pytest.fixture
def client(agent) -> TestClient:
    return make_client(agent)


class GatedAgent(Agent):
    """An agent whose asks wait until the test opens the gate (``entered`` counts the
    asks waiting), so a test can hold asks in flight."""

    def setup_gate(self) -> GatedAgent:
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        return self

    def ask(self, question):
        self.entered.release()
        assert self.gate.wait(timeout=20), "the test never opened the gate"
        return super().ask(question)


class BrokenAgent(Agent):
    """An agent with a bug: every ask and answer raises an error kgagent did not mean."""

    def ask(self, question):
        raise RuntimeError("secret internal detail /srv/keys at 0x7f")

    def answer(self, evidences):
        raise RuntimeError("secret internal detail /srv/keys at 0x7f")


@pytest.fixture
def gated(films_ws):
    with GatedAgent.open(films_ws, read_only=True) as a:
        yield a.setup_gate()


@pytest.fixture
def broken(films_ws):
    with BrokenAgent.open(films_ws, read_only=True) as a:
        yield a
