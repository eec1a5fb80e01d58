"""The web page in a real browser: headless Chromium from Debian, driven by selenium.

A tiny workspace over the programs tests' film graph (hashing encoder, no LLM) is served
by the real service (``kgagent.serve.app.create_app`` under uvicorn, in a thread, on a free
loopback port), and one Chromium per module opens its page. Each test leaves a full-page
screenshot of where it ended in ``test-output/browser/<test name>.png`` (git-ignored), and
names that file in its assertion messages.

The binaries are Debian's (``bash scripts/install-chromium.sh``; ``make test-browser``
runs it first); where they are missing every test here skips, saying so. Every test here
is marked ``browser``, which the default run leaves out.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.workspace import init_workspace, open_kg
from tests.programs.conftest import FILMS_TTL

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
#: seconds a wait may take: two shared cores, a browser and the service on them
TIMEOUT = 20.0
WINDOW = (1280, 1000)

#: KG text is data: a literal that would run script, or bold a word, if the page took it
#: for markup (the page must show it as text). Only Jaws gains a fact: no answer changes.
MARKUP = '<img src=x onerror="window.__pwned=1"><b>Don\'t go in the water</b>'
EXTRA_TTL = (
    "@prefix r: <http://example.org/rel/> .\n"
    "@prefix e: <http://example.org/ent/> .\n"
    'e:jaws r:tagline """' + MARKUP + '""" .\n'
)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


# -- the workspace and the service ------------------------------------------------------------


@pytest.fixture(scope="package")
def films_agent(tmp_path_factory):
    """An indexed agent over the film graph (plus :data:`MARKUP`), built once."""
    root = tmp_path_factory.mktemp("browser") / "films"
    config = AgentConfig(
        retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none")
    )
    init_workspace(root, config=config)
    for name, text in (("films.ttl", FILMS_TTL), ("extra.ttl", EXTRA_TTL)):
        path = root.parent / name
        path.write_text(text, encoding="utf-8")
        with open_kg(root) as kg:
            kg.load(path)
    agent = Agent.open(root)
    agent.index()
    yield agent
    agent.close()


def _free_socket() -> socket.socket:
    """A loopback socket already bound to a free port: handed to uvicorn as it is, so no
    other process can take the port between choosing and binding it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class LiveServer:
    """The real app under uvicorn in a daemon thread; ``url`` without a trailing slash."""

    app: object
    sock: socket.socket = field(default_factory=_free_socket)

    def __post_init__(self) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise RuntimeError(f"the service on {self.url} stopped while starting")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (OSError, urllib.error.URLError) as exc:
                last = exc
            time.sleep(0.05)
        raise RuntimeError(f"{self.url}/healthz did not answer in {TIMEOUT:.0f} s: {last}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def make_app(agent, **settings):
    """The service's app over ``agent``, with ServeSettings(**settings)."""
    from kgagent.serve.app import create_app
    from kgagent.serve.settings import ServeSettings

    return create_app(agent, ServeSettings(**settings))


@pytest.fixture(scope="module")
def live(films_agent):
    """The film agent's service, open (no API key)."""
    server = LiveServer(make_app(films_agent)).start()
    yield server
    server.stop()


# -- the browser --------------------------------------------------------------------------


def _chromium_or_skip() -> None:
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e .[dev])")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not found: run `bash scripts/install-chromium.sh` "
            "(Debian's chromium and chromium-driver; `make test-browser` runs it)"
        )


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per module (starting one costs seconds on shared cores)."""
    _chromium_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--lang=en-US",
        "--force-device-scale-factor=1",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    yield driver
    driver.quit()


@dataclass
class Page:
    """The page under test: waits that fail as assertions naming the screenshot."""

    driver: object
    base: str
    shot: Path

    def open(self) -> Page:
        """A fresh page: nothing kept from the test before (sessionStorage, console)."""
        self.driver.get(self.base + "/")
        self.driver.execute_script("sessionStorage.clear(); localStorage.clear();")
        self.driver.get(self.base + "/")
        self.driver.get_log("browser")  # drop what earlier pages logged
        return self

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, what: str, condition):
        """``condition(driver)`` once truthy (its value); an AssertionError naming
        ``what`` and the screenshot after TIMEOUT seconds."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, TIMEOUT, poll_frequency=0.05).until(condition)
        except TimeoutException:
            self.screenshot()
            raise AssertionError(
                f"timed out after {TIMEOUT:.0f} s waiting for {what}; screenshot: {self.shot}"
            ) from None

    def wait_css(self, css: str, what: str | None = None):
        """The first element matching ``css`` once one is displayed."""

        def shown(driver):
            return next((e for e in self.find_all(css) if e.is_displayed()), False)

        return self.wait(what or f"{css} to be shown", shown)

    def wait_text(self, css: str, text: str):
        """The first displayed element matching ``css`` once its text contains ``text``
        (ignoring case: the text read is as rendered, after CSS ``text-transform``)."""

        def has(driver):
            found = [e for e in self.find_all(css) if e.is_displayed()]
            return next((e for e in found if text.casefold() in e.text.casefold()), False)

        return self.wait(f"{css} to show {text!r}", has)

    def set_question(self, question: str) -> None:
        box = self.find("#question")
        box.clear()
        if len(question) > 200:  # typing thousands of keys is slow; the value is the same
            self.driver.execute_script("arguments[0].value = arguments[1];", box, question)
        else:
            box.send_keys(question)

    def ask(self, question: str) -> None:
        self.set_question(question)
        self.find("#ask").click()

    def check(self, ok: object, message: str) -> None:
        """An assertion whose message names the screenshot."""
        if not ok:
            self.screenshot()
            raise AssertionError(f"{message}; screenshot: {self.shot}")

    def script_errors(self) -> list[str]:
        """What the page's scripts threw, and what the service's Content-Security-Policy
        refused (an inline script or style); a refused request's own log line is not
        one: the page shows those in #error."""
        return [
            e["message"]
            for e in self.driver.get_log("browser")
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
        ]

    def screenshot(self) -> Path:
        """The whole page (beyond the window) as PNG at :attr:`shot`."""
        self.shot.parent.mkdir(parents=True, exist_ok=True)
        try:
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            data = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "clip": clip},
            )
            self.shot.write_bytes(base64.b64decode(data["data"]))
        except Exception:  # a driver without CDP: the window will do
            self.driver.save_screenshot(str(self.shot))
        return self.shot


def page_for(browser, server: LiveServer, request) -> Page:
    return Page(browser, server.url, SHOTS / f"{request.node.name}.png")


@pytest.fixture
def page(browser, live, request):
    """The open service's page, fresh; screenshotted when the test ends, pass or fail."""
    p = page_for(browser, live, request).open()
    yield p
    p.screenshot()
