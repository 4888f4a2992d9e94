"""The search page in a real browser: Debian's Chromium driven by Playwright,
against `searchapp serve` over the sample corpus."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
# Waits use `expect` (no string evaluation), so the page keeps its strict CSP in every test.

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SEARCHAPP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], errors


def query_of(url: str) -> dict:
    return parse_qs(urlsplit(url).query)


def status_text(page) -> str:
    return page.locator("#status").inner_text()


def hit_titles(page) -> list[str]:
    return page.locator(".hit .title").all_inner_texts()


def test_typing_updates_results_and_url_letter_by_letter(page, sample_server):
    page.goto(sample_server.base + "/")
    expect(page.locator("#q")).to_be_focused()  # autofocus
    page.keyboard.type("garante", delay=60)
    expect(page.locator("#status")).to_contain_text("“garante”")
    assert query_of(page.url) == {"q": ["garante"]}
    titles = hit_titles(page)
    assert titles and all("Garante" in t or "Ital" in t or "OpenAI" in t or "ChatGPT" in t for t in titles[:2])
    assert page.locator(".hit mark").count() > 0
    # keep typing: the list follows the newest query, never an older answer
    page.keyboard.type(" chatgpt", delay=40)
    expect(page.locator("#status")).to_contain_text("garante chatgpt")
    assert query_of(page.url) == {"q": ["garante chatgpt"]}
    expected = sample_server.json("/api/search?q=garante+chatgpt&typed=1")[1]
    assert hit_titles(page) == [h["title"] for h in expected["results"]]


def test_fast_typing_never_shows_an_older_answer(page, sample_server):
    page.goto(sample_server.base + "/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("facial recognition ban", delay=5)
    expect(page.locator("#status")).to_contain_text("“facial recognition ban”")
    page.wait_for_timeout(600)  # any stale answer still on its way would land now
    expected = sample_server.json("/api/search?q=facial+recognition+ban&typed=1")[1]
    assert hit_titles(page) == [h["title"] for h in expected["results"]]


def test_facet_click_filters_list_and_url_and_back_restores(page, sample_server):
    page.goto(sample_server.base + "/search?q=fine")
    before = hit_titles(page)
    box = page.locator(".facet[data-facet=topic] input[value='Antitrust']")
    count = int(box.locator("xpath=../span[@class='count']").inner_text())
    box.check()
    expect(page).to_have_url(re.compile(r"topic=Antitrust"))
    expect(page.locator("#status")).to_contain_text(f"{count} result")
    # the redrawn list keeps the keyboard where it was
    expect(page.locator(".facet[data-facet=topic] input[value='Antitrust']")).to_be_focused()
    assert query_of(page.url) == {"q": ["fine"], "topic": ["Antitrust"]}
    assert len(hit_titles(page)) == min(count, 10)
    assert page.locator(".chip", has_text="Antitrust").count() == 1
    # disjunctive: the other topics are still offered with counts
    assert page.locator(".facet[data-facet=topic] input").count() > 1
    page.go_back()
    expect(page).to_have_url(re.compile(r"/search\?q=fine$"))
    expect(page.locator(".facet[data-facet=topic] input[value='Antitrust']")).not_to_be_checked()
    assert hit_titles(page) == before
    page.go_forward()
    expect(page).to_have_url(re.compile(r"topic=Antitrust"))
    expect(page.locator(".chip")).to_have_count(1)
    # removing the chip removes the filter
    page.locator(".chip").click()
    expect(page).to_have_url(re.compile(r"/search\?q=fine$"))
    expect(page.locator(".chip")).to_have_count(0)
    assert hit_titles(page) == before


def test_an_unfinished_query_keeps_filters_and_results(page, sample_server):
    page.goto(sample_server.base + "/search?q=fine&topic=Antitrust")
    before = hit_titles(page)
    page.locator("#q").click()
    page.keyboard.press("End")
    page.keyboard.type(' "google', delay=40)             # an unclosed quote on the way
    expect(page.locator("#status")).to_contain_text("unclosed quote")
    assert hit_titles(page) == before                     # the results stay
    page.keyboard.type(' shopping"', delay=40)
    expect(page.locator("#status")).to_contain_text('fine "google shopping"')
    assert query_of(page.url) == {"q": ['fine "google shopping"'], "topic": ["Antitrust"]}
    expect(page.locator(".chip", has_text="Antitrust")).to_have_count(1)


def test_a_late_suggestion_list_keeps_the_choice_made_with_the_arrow_keys(page, sample_server):
    """CI (round 8): ArrowDown chose "facial recognition" from the list of "facial re";
    the list of "facial rec" arrived next and wiped the choice, so Enter searched
    for what was typed. The late list must keep a choice it still holds."""
    page.goto(sample_server.base + "/")
    held = []
    page.route(re.compile(r".*/api/suggest\?q=facial(\+|%20)rec$"), lambda route: held.append(route))
    page.keyboard.type("facial re", delay=50)
    options = page.locator("#suggestions [role=option]")
    expect(options.first).to_have_text("facial recognition")
    page.keyboard.type("c")
    for _ in range(100):                  # the request for "facial rec" is held
        if held:
            break
        page.wait_for_timeout(20)
    assert held, "the page asked for no suggestions for 'facial rec'"
    page.keyboard.press("ArrowDown")
    assert options.first.get_attribute("aria-selected") == "true"
    held[0].continue_()
    page.wait_for_function("() => !document.querySelector('#suggestions [role=option]') "
                           "|| document.querySelector('#suggestions b')?.textContent.toLowerCase() === 'facial rec'")
    expect(options.first).to_have_text("facial recognition")
    assert options.first.get_attribute("aria-selected") == "true"
    assert page.get_attribute("#q", "aria-activedescendant") == options.first.get_attribute("id")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=facial\+recognition$"), timeout=20_000)


def test_typing_on_after_choosing_with_the_arrow_keys_drops_the_choice(page, sample_server):
    """Review 9: an article chosen with ArrowDown on "facial re" stayed chosen through every
    list while "cognition" was typed (each still held it), and Enter opened the article
    instead of searching for the words in the box."""
    page.goto(sample_server.base + "/")
    page.keyboard.type("facial re", delay=50)
    options = page.locator("#suggestions [role=option]")
    expect(options.first).to_have_text("facial recognition")
    classes = options.evaluate_all("options => options.map((o) => o.className)")
    assert "item" in classes, classes
    for _ in range(classes.index("item") + 1):
        page.keyboard.press("ArrowDown")
    expect(page.locator("#suggestions [role=option].item[aria-selected=true]")).to_have_count(1)
    page.keyboard.type("cognition", delay=50)
    page.wait_for_timeout(600)                  # the lists of every word typed have arrived
    expect(page.locator("#suggestions [role=option][aria-selected=true]")).to_have_count(0)
    assert page.get_attribute("#q", "aria-activedescendant") is None
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=facial\+recognition$"), timeout=20_000)


def test_autocomplete_with_the_keyboard(page, sample_server):
    page.goto(sample_server.base + "/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("facial rec", delay=50)
    options = page.locator("#suggestions [role=option]")
    # the list of "facial rec" itself (a late list for "facia" may be on screen first)
    expect(options.first).to_have_text("facial recognition")
    assert page.get_attribute("#q", "aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    assert page.get_attribute("#q", "aria-activedescendant") == "suggestion-0"
    assert options.first.get_attribute("aria-selected") == "true"
    page.keyboard.press("Enter")
    # the chosen search's answer may queue behind the typing answers on a loaded machine
    # (a CI run with helpers at work waited more than the default 5 s once)
    expect(page).to_have_url(re.compile(r"/search\?q=facial\+recognition$"), timeout=20_000)
    assert page.input_value("#q") == "facial recognition"
    page.wait_for_timeout(400)  # no late answer may reopen the list
    assert page.locator("#suggestions").is_hidden()
    assert page.get_attribute("#q", "aria-expanded") == "false"
    # an article suggestion opens its item page
    page.fill("#q", "")
    page.keyboard.type("clearv", delay=50)
    items = page.locator("#suggestions [role=option].item")
    # the list of "clearv" itself (a late list for "clear" or "clea" may still be on screen): its bold part
    expect(items.first.locator("b").first).to_have_text(re.compile(r"^clearv$", re.I))
    title = items.first.inner_text()
    classes = page.locator("#suggestions [role=option]").evaluate_all("options => options.map((o) => o.className)")
    total = len(classes)
    index = classes.index("item")
    for _ in range(index + 1):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/item/[0-9a-f]{16}$"))
    assert page.locator("h1").inner_text() == title and total >= 1


def test_a_misspelled_query_is_answered_by_its_correction(page, sample_server):
    page.goto(sample_server.base + "/search?q=facal+recogniton")
    note = page.locator("#corrected")
    expect(note).to_contain_text("Showing results for facial recognition")
    expect(note).to_contain_text("Search instead for facal recogniton")
    expect(note.locator("strong")).to_have_text("facial recognition")
    assert page.input_value("#q") == "facal recogniton"          # the box keeps what was typed
    assert page.locator(".hit").count() > 0
    expect(page.locator("#status")).to_contain_text("“facial recognition”")


def test_slash_focuses_the_box_and_sort_and_pages_work(page, sample_server):
    page.goto(sample_server.base + "/search?q=ai")
    page.locator("body").click(position={"x": 5, "y": 300})
    expect(page.locator("#q")).not_to_be_focused()
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.select_option("select[name=sort]", "newest")
    expect(page).to_have_url(re.compile(r"sort=newest"))
    expect(page.locator("select[name=sort]")).to_have_value("newest")
    dates = [t.get_attribute("datetime") for t in page.locator(".hit time").all()]
    assert dates == sorted(dates, reverse=True)
    page.locator(".pager a[rel=next]").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator(".pager [aria-current=page]")).to_have_text("2")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_form_works_without_javascript(browser, sample_server, viewport):
    context = browser.new_context(java_script_enabled=False, viewport=viewport)
    page = context.new_page()
    try:
        page.goto(sample_server.base + "/")
        if viewport["width"] < 760:      # a phone: the filters are one tap from the top, a plain link
            jump = page.locator("a.filters-jump")
            box = jump.bounding_box()
            assert box and box["y"] + box["height"] <= 300 and box["height"] >= 44
            jump.click()
            assert page.locator("#facets").bounding_box()["y"] < viewport["height"]
        page.locator(".apply").scroll_into_view_if_needed()
        assert page.locator(".apply").is_visible()
        page.fill("#q", "clearview")
        page.press("#q", "Enter")
        page.wait_for_url(re.compile(r"/search\?q=clearview"))
        # the blank page lists newest first by implication; the words then rank by relevance
        assert "sort=" not in page.url
        assert page.locator("select[name=sort]").input_value() in ("", "relevance")
        total = sample_server.json("/api/search?q=clearview")[1]["total"]
        assert status_text(page).startswith(f"{total} result")
        box = page.locator(".facet[data-facet=year] input").first
        year = box.get_attribute("value")
        box.check()
        page.locator(".apply").click()
        page.wait_for_url(re.compile(r"year=" + year))
        assert page.locator(".chip", has_text=year).count() == 1
    finally:
        context.close()


def test_screenshots_of_the_results_page(browser, sample_server):
    """Saved for people to look at (tests/artifacts/); the page must also fit a phone."""
    ARTIFACTS.mkdir(exist_ok=True)
    for name, viewport, scheme in [("search-page", {"width": 1280, "height": 900}, "light"),
                                   ("search-page-dark", {"width": 1280, "height": 900}, "dark"),
                                   ("search-page-phone", {"width": 390, "height": 844}, "light")]:
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        page = context.new_page()
        page.goto(sample_server.base + "/search?q=facial+recognition&topic=Biometrics")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        # nothing wider than the screen
        widest = max(box["x"] + box["width"] for box in (e.bounding_box() for e in page.locator("body *:visible").all()) if box)
        assert widest <= viewport["width"] + 1, name
        context.close()
    assert (ARTIFACTS / "search-page.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def xss_server(tmp_path_factory):
    from conftest import running_server, write_news
    from searchapp.indexing import update_index

    root = tmp_path_factory.mktemp("xss-corpus")
    write_news(root, "a.md", title="payload &lt;img src=x onerror=alert('title')&gt; story",
               excerpt="payload &lt;script&gt;alert('excerpt')&lt;/script&gt; &lt;b onmouseover=alert('b')&gt;x",
               webUrl="javascript:alert('url')",
               topics=["&quot;&gt;&lt;img src=x onerror=alert('topic')&gt;"],
               provider={"name": "&lt;svg/onload=alert('provider')&gt;", "domain": "evil.example"},
               related=[{"title": "payload related &lt;iframe src=javascript:alert('rel')&gt;",
                         "webUrl": "https://ok.example/r"}])
    write_news(root, "b.md", title="payload plain neighbour", topics=["AI"])
    index_dir = tmp_path_factory.mktemp("xss-index") / "index"
    update_index(root, index_dir)
    with running_server(index_dir) as server:
        yield server


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "escaping-alone"])
def test_xss_payloads_from_the_corpus_never_run(browser, xss_server, bypass_csp):
    context = browser.new_context(bypass_csp=bypass_csp)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(xss_server.base + "/search?q=payload")
        expect(page.locator(".hit")).to_have_count(3)
        assert page.locator(".hit .title", has_text="<img src=x onerror=alert('title')>").count() == 1
        assert page.locator(".hit .title a[href^='javascript']").count() == 0
        page.locator(".hit", has_text="onerror=alert('title')").locator("a.details").click()
        expect(page.locator("h1")).to_contain_text("<img src=x")
        assert page.locator("a.original").count() == 0            # a javascript: URL is never a link
        page.goto(xss_server.base + "/")
        page.locator("#q").press_sequentially("payload", delay=30)
        page.locator("#suggestions [role=option]").first.wait_for()
        assert any("onerror" in t for t in page.locator("#suggestions [role=option]").all_inner_texts())
        expect(page.locator("#status")).to_contain_text("payload")
        page.locator(".facet[data-facet=topic] input").first.check()
        expect(page).to_have_url(re.compile(r"topic="))
        expect(page.locator(".chip")).to_have_count(1)
        page.wait_for_timeout(300)
        assert dialogs == []
        assert page.locator("img, iframe, svg").count() == 0
    finally:
        context.close()


def test_jurisdiction_facet_click_filters_by_place(page, sample_server):
    page.goto(sample_server.base + "/search?q=privacy")
    box = page.locator(".facet[data-facet=jurisdiction] input").first
    value = box.get_attribute("value")
    count = int(box.locator("xpath=../span[@class='count']").inner_text().replace(",", ""))
    box.check()
    expect(page).to_have_url(re.compile(r"jurisdiction="))
    expect(page.locator("#status")).to_contain_text(f"{count:,} result")
    assert query_of(page.url) == {"q": ["privacy"], "jurisdiction": [value]}
    expected = sample_server.json(f"/api/search?q=privacy&jurisdiction={value}")[1]
    assert hit_titles(page) == [h["title"] for h in expected["results"]]
    assert all(value in h["jurisdictions"] for h in expected["results"])
    assert page.locator(".chip", has_text=value).count() == 1


def test_timeline_bar_click_filters_to_its_period(page, sample_server):
    page.goto(sample_server.base + "/search?q=fine")
    bars = page.locator(".timeline a.bar")
    assert bars.count() > 1
    expect(page.locator(".timeline .plot-fine svg")).to_be_visible()     # (a phone draws .plot-coarse)
    busiest = max(range(bars.count()), key=lambda n: int(bars.nth(n).get_attribute("data-count")))
    bar = bars.nth(busiest)
    period, count = bar.get_attribute("data-period"), int(bar.get_attribute("data-count"))
    bar.click()
    expect(page).to_have_url(re.compile(r"from="))
    expect(page.locator("#status")).to_contain_text(f"{count:,} result")
    params = query_of(page.url)
    assert params["from"][0].startswith(period) and params["to"][0].startswith(period)
    # the chart stays whole and marks the chosen period; the date inputs follow
    expect(page.locator(f".timeline a.bar.selected[data-period='{period}']")).to_have_count(1)
    expect(page.locator("input[name=from]")).to_have_value(params["from"][0])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "timeline.png"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/search\?q=fine$"))
