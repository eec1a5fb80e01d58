"""The web page (issue 22) in headless Chromium against the real service.

Each test drives the page as a user would (types, clicks, hovers) and waits for what the
page shows; the film graph's answers are the agent's own (hashing encoder, no LLM). The
final page of each test is in test-output/browser/<test name>.png.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import MARKUP, LiveServer, make_app, page_for

pytestmark = pytest.mark.browser

API_KEY = "browser-test-key-1234"


def _labels(page, css: str) -> list[str]:
    return [e.get_attribute("data-label") for e in page.find_all(css)]


def test_answer_cites_facts_and_draws_the_path(page):
    page.wait_text("#info", "entities")  # /v1/info in the header
    page.ask("Who directed Jaws?")
    page.wait_text("#answer", "Steven Spielberg")
    answer = page.wait_css('#graph svg g.node-answer[data-label="Steven Spielberg"]')
    page.check(
        answer.value_of_css_property("stroke") is not None,
        "the answer's node is drawn",
    )
    page.check(
        _labels(page, "#graph svg g.node-topic") == ["Jaws"],
        f"the topic node is Jaws, got {_labels(page, '#graph svg g.node-topic')}",
    )
    hot = page.find_all("#graph svg g.edge.hot")
    page.check(len(hot) == 1, f"one highlighted edge (Jaws -> Spielberg), got {len(hot)}")
    page.check("directed" in hot[0].text, f"the edge is labelled, got {hot[0].text!r}")

    fact = page.wait_text("#facts li", "Jaws was directed by Steven Spielberg")
    page.check(fact.get_attribute("id") == "fact-1", "the first cited fact is #fact-1")
    cite = page.find('#answer a.cite[data-fact="1"]')
    page.check(cite.text == "[1]", f"the citation [1] is a link, got {cite.text!r}")
    page.check(not page.find("#error").is_displayed(), "no error shown")
    page.check(not page.find("#sparql").is_displayed(), "a chain answer has no SPARQL")

    # Hovering the edge lights its cited fact; clicking a citation selects it.
    from selenium.webdriver import ActionChains

    ActionChains(page.driver).move_to_element(hot[0].find_element("css selector", "text")).perform()
    page.wait("hovering the edge to light fact 1", lambda d: "lit" in fact.get_attribute("class"))
    ActionChains(page.driver).move_to_element(page.find("#question")).perform()
    page.wait("leaving the edge to unlight it", lambda d: "lit" not in fact.get_attribute("class"))
    cite.click()
    page.wait("the citation to select fact 1", lambda d: "selected" in fact.get_attribute("class"))
    page.check(not page.script_errors(), f"script errors: {page.script_errors()}")

    # Works offline: everything the page loaded came from the service itself.
    loaded = page.driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    elsewhere = [u for u in loaded if not u.startswith(page.base + "/")]
    page.check(not elsewhere, f"fetched from elsewhere: {elsewhere}")
    page.check(len(loaded) >= 5, f"the page's assets and API calls, got {loaded}")


def test_two_hop_path_is_drawn_in_layers(page):
    """Topic on the left, the films it hops through in the middle, the answers on the
    right; every edge on the way highlighted."""
    page.ask("Who starred in films directed by Martin Scorsese?")
    page.wait_text("#answer", "Leonardo DiCaprio")
    page.wait_css('#graph svg g.node-answer[data-label="Leonardo DiCaprio"]')

    def lefts(role: str) -> set[float]:
        return {e.rect["x"] for e in page.find_all(f"#graph svg g.node-{role} rect")}

    topic, hops, answers = lefts("topic"), lefts("hop"), lefts("answer")
    page.check(
        len(topic) == 1 and hops and answers and max(topic) < min(hops) < max(hops) < min(answers),
        f"columns topic < hops < answers, got x {topic}, {hops}, {answers}",
    )
    edges = page.find_all("#graph svg g.edge")
    hot = page.find_all("#graph svg g.edge.hot")
    facts = page.find_all("#facts li")
    page.check(
        len(edges) == len(hot) == len(facts) >= 4,
        f"one highlighted edge per cited fact: {len(edges)} edges, {len(hot)} hot, "
        f"{len(facts)} facts",
    )


def test_typed_question_shows_its_sparql(page):
    page.ask("Which films did Steven Spielberg direct that were released in 1993?")
    page.wait_text("#answer", "Schindler's List")
    page.check("Jurassic Park" in page.find("#answer").text, "both 1993 films answered")
    sparql = page.wait_text("#sparql", "SELECT")
    page.check("rel:directed_by" in sparql.text, f"the answer's query, got {sparql.text[:200]!r}")
    answers = sorted(_labels(page, "#graph svg g.node-answer"))
    page.check(
        answers == ["Jurassic Park", "Schindler's List"],
        f"both answers highlighted in the graph, got {answers}",
    )
    page.check("confidence" in page.find("#answer .meta").text, "the confidence is shown")
    page.find("#sparql-copy").click()
    page.wait_text("#sparql-copy", "Copied")
    page.check(not page.script_errors(), f"script errors: {page.script_errors()}")


def test_conversation_follow_up_in_the_transcript(page):
    page.check(not page.find("#transcript").is_displayed(), "no transcript outside a conversation")
    page.find("#conversation-toggle").click()
    page.wait_css("#new-conversation")
    page.ask("Who directed Taxi Driver?")
    page.wait_text('#transcript li.turn[data-turn="1"]', "Martin Scorsese")
    page.find("#new-conversation").click()  # forgets Scorsese: "they" below is Spielberg
    page.wait("the transcript to empty", lambda d: not page.find_all("#transcript li"))

    page.ask("Who directed Jaws?")
    page.wait_text('#transcript li.turn[data-turn="1"]', "Steven Spielberg")
    page.ask("What else did they direct?")
    second = page.wait_text('#transcript li.turn[data-turn="2"]', "Read as")
    page.check(
        "What else did Steven Spielberg direct?" in second.text,
        f"the follow-up shows what it was read as, got {second.text!r}",
    )
    page.check("Jurassic Park" in second.text, f"the follow-up's answer, got {second.text!r}")
    page.wait_text("#answer", "Jurassic Park")  # the latest turn in full below
    page.check("Read as" in page.find("#answer").text, "the answer says how it was read")
    turns = page.find_all("#transcript li.turn")
    page.check(len(turns) == 2, f"two turns in the transcript, got {len(turns)}")
    page.check(not page.script_errors(), f"script errors: {page.script_errors()}")


def test_clicking_an_entity_draws_its_neighbourhood(page):
    page.ask("Who directed Jaws?")
    page.wait_css('#graph svg g.node-answer[data-label="Steven Spielberg"]').click()
    page.wait_css('#graph svg g.node-focus[data-label="Steven Spielberg"]')
    page.wait_text("#graph-title", "Neighbourhood of Steven Spielberg")
    films = sorted(_labels(page, "#graph svg g.node-hop"))
    page.check(
        films == ["Duel", "E.T.", "Jaws", "Jurassic Park", "Schindler's List"],
        f"the films he directed around him, got {films}",
    )
    edges = page.find_all("#graph svg g.edge")
    page.check(len(edges) == 5, f"one edge per fact, got {len(edges)}")

    # Walk on to a neighbour, then back to the answer's graph.
    page.find('#graph svg g.node-hop[data-label="Jaws"]').click()
    page.wait_css('#graph svg g.node-focus[data-label="Jaws"]')
    values = page.find_all("#graph svg g.node-value")
    page.check(len(values) >= 5, f"Jaws's literal values drawn as values, got {len(values)}")
    page.find("#graph-back").click()
    page.wait_css('#graph svg g.node-answer[data-label="Steven Spielberg"]')
    page.check(not page.find("#graph-back").is_displayed(), "the back button goes away")
    page.check(not page.script_errors(), f"script errors: {page.script_errors()}")


def test_errors_are_shown_in_the_error_box(page):
    page.ask("Who directed Jaws?")
    page.wait_text("#answer", "Steven Spielberg")
    page.check(not page.find("#error").is_displayed(), "no error after an answer")

    page.ask("   ")  # nothing to ask: said on the page, nothing sent
    page.wait_text("#error", "Type a question")
    page.check(not page.find("#answer-panel").is_displayed(), "the last answer is hidden")

    page.ask("Who directed Jaws? " * 60)  # over the agent's qa.max_question_chars (1000)
    error = page.wait_text("#error", "422")
    page.check("question" in error.text, f"the error names the field, got {error.text!r}")
    limit = "1000" in error.text.replace(",", "")
    page.check(limit, f"the error says the limit, got {error.text!r}")
    page.check(not page.find("#answer-panel").is_displayed(), "no answer shown")
    page.check(not page.script_errors(), f"script errors: {page.script_errors()}")


def test_graph_text_is_shown_as_text_never_as_markup(page):
    """KG literals are data: a tagline holding an <img onerror> and <b> is shown verbatim
    in the answer, the facts and the graph, and runs nothing."""
    page.ask("Who directed Jaws?")
    page.wait_css('#graph svg g.node-topic[data-label="Jaws"]').click()
    node = page.wait_css("#graph svg g.node-value[data-label^='<img']")
    page.check(node.get_attribute("data-label") == MARKUP, "the tagline's value node")
    page.check(MARKUP[:30] in node.text, f"drawn as text, got {node.text!r}")
    planted = page.find_all("#graph img, #answer img, #facts img, #graph b, #facts b")
    page.check(not planted, f"markup from the graph became elements: {planted}")
    page.check(
        page.driver.execute_script("return window.__pwned === undefined"),
        "a graph literal ran script",
    )


def test_api_key_kept_for_the_session_and_sent(browser, films_agent, request):
    """With an API key the page says so, sends the key it is given as a Bearer token, and
    keeps it in sessionStorage only (a reload keeps it, localStorage never sees it)."""
    server = LiveServer(make_app(films_agent, api_key=API_KEY)).start()
    page = page_for(browser, server, request).open()
    try:
        page.wait_text("#info", "API key")
        page.ask("Who directed Jaws?")
        page.wait_text("#error", "401")

        key = page.find("#api-key")
        key.send_keys(API_KEY)
        page.find("#question").click()  # leaving the field reloads /v1/info with the key
        page.wait_text("#info", "entities")
        page.ask("Who directed Jaws?")
        page.wait_text("#answer", "Steven Spielberg")
        page.check(not page.find("#error").is_displayed(), "the error box is cleared")

        page.driver.refresh()
        page.wait_text("#info", "entities")
        kept = page.driver.execute_script(
            "return [sessionStorage.getItem('kgagent.apiKey'), localStorage.length]"
        )
        page.check(kept == [API_KEY, 0], f"key in sessionStorage only, got {kept}")
        page.check(page.find("#api-key").get_attribute("value") == API_KEY, "the field refilled")
        page.ask("Who directed Jaws?")  # the kept key is sent
        page.wait_text("#answer", "Steven Spielberg")
    finally:
        page.screenshot()
        server.stop()
