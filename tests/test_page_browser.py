"""Issue 14 in a real browser (Debian's Chromium, Playwright): the phone
drawer, results while typing, loading and stale states, paging, facets,
chips and focus, errors, the way back from an item, the keyboard, axe-core."""

from __future__ import annotations

import re
import time
import os
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from test_browser import ARGS, ARTIFACTS, CHROMIUM, browser, expect, hit_titles, query_of  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

# The README's screenshots are refreshed only when asked (SEARCHAPP_SCREENSHOTS=1), so
# that running the tests leaves the tree clean; otherwise they go to tests/artifacts.
SCREENSHOTS = Path(__file__).parent / ("screenshots" if os.environ.get("SEARCHAPP_SCREENSHOTS") == "1" else "artifacts")
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}

# Records every redraw the page reports (the script's "searchapp:render" event) and
# every key press, in the page's own clock. An init script: not subject to the CSP.
RECORDER = """
window.__renders = []; window.__keys = [];
document.addEventListener('searchapp:render', (e) => window.__renders.push(
  {t: e.detail.t, query: e.detail.query, stale: e.detail.stale}));
document.addEventListener('keydown', (e) => window.__keys.push({t: performance.now(), key: e.key}), true);
"""


@pytest.fixture
def context_for(browser):
    made = []

    def make(viewport=DESKTOP, scheme="light", **options):
        context = browser.new_context(viewport=viewport, color_scheme=scheme, **options)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        made.append((context, errors))
        return page

    yield make
    for context, errors in made:
        context.close()
        assert errors == [], errors


def focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement; const r = e.getBoundingClientRect();
      return {tag: e.tagName, id: e.id, cls: e.className && e.className.baseVal === undefined ? e.className : '',
              text: (e.innerText || '').trim().slice(0, 80), label: e.getAttribute('aria-label') || '',
              top: r.top, bottom: r.bottom, height: r.height, width: r.width}; }""")


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= height


def open_filters(page, viewport: str) -> None:
    if viewport == "phone":
        page.locator("#filters-toggle").click()
        expect(page.locator("#facets")).to_be_visible()


# ---------------------------------------------------------------- phone

def test_phone_filters_are_one_tap_from_the_top_and_a_tap_shows_its_effect(context_for, sample_server):
    page = context_for(PHONE)
    page.goto(sample_server.base + "/search?q=privacy")
    toggle = page.locator("#filters-toggle")
    rows = sample_server.json("/api/search?q=privacy")[1]["grouped_total"]
    expect(toggle).to_contain_text(f"{rows} results")
    box = toggle.bounding_box()
    assert box["y"] + box["height"] <= 300 and box["height"] >= 44
    assert page.locator("#facets").is_hidden()                       # not 3,000 px down: in a drawer
    toggle.click()
    drawer = page.locator("#facets")
    expect(drawer).to_be_visible()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.getElementById('results').inert")   # nothing to Tab to behind the drawer
    value = page.locator(".facet[data-facet=topic] input").first.get_attribute("value")
    answer = sample_server.json("/api/search?" + urlencode({"q": "privacy", "topic": value}))[1]
    count, rows = answer["total"], answer["grouped_total"]   # articles; results listed (copies of a story once)
    label = page.locator(".facet[data-facet=topic] label").first
    assert label.bounding_box()["height"] >= 44
    for selector in (".facet li label", ".facet .more", ".facet-search", ".dates input", ".drawer-close", ".show-results"):
        for element in page.locator(selector).all()[:5]:
            if element.is_visible():
                assert element.bounding_box()["height"] >= 44, selector
    label.click()
    expect(page).to_have_url(re.compile(r"topic="))
    show = page.locator(".show-results")
    expect(show).to_have_text(f"Show {rows} result{'' if rows == 1 else 's'}")   # the effect, on screen
    assert in_viewport(page, show) and drawer.is_visible()
    expect(page.locator(".facet[data-facet=topic] input[value='%s']" % value)).to_be_focused()
    expect(page.locator("#status")).to_contain_text(f"{count} result")            # and announced
    show.click()
    expect(drawer).to_be_hidden()
    start = page.locator("#results-start")
    expect(start).to_be_focused()
    assert in_viewport(page, start)
    expect(page.locator(".chip", has_text=f"Topic: {value}")).to_be_visible()
    expect(toggle).to_contain_text(f"Filters (1) · {rows} result")
    # tap targets
    for selector in (".tag", "a.details", ".chip", ".clear-all", ".pager a", ".toolbar a", "select[name=sort]",
                     ".timeline a.bar-group", "footer .linkish"):
        for element in page.locator(selector).all()[:5]:
            if element.is_visible():
                assert element.bounding_box()["height"] >= 44, selector
    # Escape closes the drawer and gives the focus back to its button
    toggle.click()
    expect(drawer).to_be_visible()
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(toggle).to_be_focused()


def test_widening_the_window_closes_the_drawer(context_for, sample_server):
    """Found in review: the drawer opened on a phone, then the window widened
    past the breakpoint, left the whole page inert."""
    page = context_for(PHONE)
    page.goto(sample_server.base + "/search?q=privacy")
    page.locator("#filters-toggle").click()
    expect(page.locator("#facets")).to_be_visible()
    page.set_viewport_size(DESKTOP)
    expect(page.locator("body")).not_to_have_class(re.compile("drawer-open"))
    assert not page.evaluate("document.getElementById('results').inert")
    page.locator("#q").click(timeout=3000)                     # the page answers again
    expect(page.locator("#q")).to_be_focused()


def test_desktop_filter_far_down_offers_the_results(context_for, sample_server):
    page = context_for(DESKTOP)
    page.goto(sample_server.base + "/")
    box = page.locator(".facet[data-facet=provider] input[type=checkbox]").first
    box.scroll_into_view_if_needed()
    assert page.locator("#results-start").bounding_box()["y"] < 0          # the results are above the screen
    value = box.get_attribute("value")
    count = sample_server.json("/api/search?" + urlencode({"provider": value}))[1]["total"]
    box.check()
    toast = page.locator("#toast")
    expect(toast).to_be_visible()
    expect(toast).to_have_text(f"Show the {count} result{'' if count == 1 else 's'} ↑")
    expect(page.locator(f".facet[data-facet=provider] input[value='{value}']")).to_be_focused()
    toast.click()
    expect(page.locator("#results-start")).to_be_focused()
    assert in_viewport(page, page.locator("#results-start"))
    expect(toast).to_be_hidden()


# ---------------------------------------------------------------- typing

def warm(server, n: int = 16) -> None:
    """Every worker's first search loads its tables (seconds): not part of what a typist sees."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda k: server.get(f"/search?q=warm{k}&fragment=1&typed=1"), range(n)))


def typing_updates(page, text: str, delay_ms: int):
    page.locator("#q").press_sequentially(text, delay=delay_ms)
    page.wait_for_timeout(1500)
    renders = page.evaluate("window.__renders")
    keys = [k["t"] for k in page.evaluate("window.__keys")]
    return renders, keys


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_typing_at_100_ms_a_key_updates_at_least_every_300_ms(context_for, shared_server, viewport):
    warm(shared_server)
    stalls = []
    for _ in range(3):
        page = context_for(VIEWPORTS[viewport])
        page.add_init_script(RECORDER)
        page.goto(shared_server.base + "/")
        expect(page.locator("#q")).to_be_focused()
        page.wait_for_timeout(300)
        renders, keys = typing_updates(page, "clearview fine", 100)
        assert len(keys) == len("clearview fine")
        # On a starved machine the typist itself stalls (keys 600 ms apart were seen at load 10
        # on 2 cores): such a run did not type at 100 ms a key, so it measures nothing. Retried.
        pace = max(b - a for a, b in zip(keys, keys[1:]))
        if pace <= 200:
            break
        stalls.append(round(pace))
    else:
        pytest.fail(f"the typist never kept a 100 ms pace (longest key gaps {stalls} ms): machine overloaded")
    times = [r["t"] for r in renders if r["t"] >= keys[0]]
    before_last = [t for t in times if t < keys[-1]]
    assert len(before_last) >= 3, (times, keys)
    # from the first key to the answer after the last one, never more than 300 ms without an update
    marks = [keys[0]] + times
    final = next(t for t in times if t >= keys[-1])
    gaps = [b - a for a, b in zip(marks, marks[1:]) if b <= final]
    assert max(gaps) <= 300, (gaps, [b - a for a, b in zip(keys, keys[1:])])
    assert renders[-1]["query"] == "clearview fine" and not renders[-1]["stale"]
    assert page.locator(".hit").count() > 0
    assert query_of(page.url) == {"q": ["clearview fine"]}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_part_typed_word_keeps_the_results_marked_stale(context_for, sample_server, viewport):
    warm(sample_server)
    page = context_for(VIEWPORTS[viewport])
    page.add_init_script(RECORDER)
    page.goto(sample_server.base + "/search?q=garante")
    before = hit_titles(page)
    assert before
    page.locator("#q").select_text()
    page.locator("#q").press_sequentially("qzx", delay=40)            # nothing has it, nor a correction of it
    expect(page.locator("#region.stale")).to_have_count(1)
    expect(page.locator(".stale-note")).to_contain_text("“qzx”")
    shown = page.locator("#region").get_attribute("data-shown-query")
    assert page.locator(".hit").count() > 0
    if shown == "garante":
        assert hit_titles(page) == before
    assert page.locator(".empty", has_text="No news matches").count() == 0
    expect(page.locator("#status")).to_contain_text(f"still showing “{shown}”")
    # after a pause the answer is shown as it is
    expect(page.locator(".empty", has_text="No news matches")).to_be_visible(timeout=4000)
    expect(page.locator("#region.stale")).to_have_count(0)
    # and a finished word brings results back at once
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("clearview", delay=30)
    expect(page.locator("#status")).to_contain_text("“clearview”")
    assert page.locator(".hit").count() > 0


BUSY_RECORDER = """
window.__busy = [];
document.addEventListener('DOMContentLoaded', () => {
  const region = document.getElementById('region');
  new MutationObserver(() => {
    const loading = document.querySelector('.loading');
    window.__busy.push({busy: region.getAttribute('aria-busy') === 'true',
                        shown: !!loading && getComputedStyle(loading).display !== 'none'});
  }).observe(region, {attributes: true, attributeFilter: ['aria-busy']});
});
"""


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_slow_answer_shows_a_loading_state(context_for, sample_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.add_init_script(BUSY_RECORDER)
    page.goto(sample_server.base + "/search?q=fine")

    def slow(route):
        time.sleep(0.8)
        route.continue_()

    open_filters(page, viewport)
    page.route(re.compile(r".*fragment=1.*"), slow)
    page.locator(".facet[data-facet=topic] input[type=checkbox]").first.check()
    expect(page).to_have_url(re.compile(r"topic="))
    expect(page.locator("#region[aria-busy=true]")).to_have_count(0, timeout=5000)
    states = page.evaluate("window.__busy")
    assert {"busy": True, "shown": True} in states             # while waiting: aria-busy and "Updating…"
    assert states[-1] == {"busy": False, "shown": False}        # and gone after
    expect(page.locator(".loading")).to_be_hidden()


# ---------------------------------------------------------------- paging

@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_next_scrolls_to_and_focuses_the_first_new_result(context_for, shared_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.goto(shared_server.base + "/search?q=privacy")
    pages = shared_server.json("/api/search?q=privacy")[1]["pages"]
    expect(page.locator(".pager .of")).to_have_text(f"Page 1 of {pages}")
    page.locator(".pager a[rel=next]").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator(".pager .of")).to_have_text(f"Page 2 of {pages}")
    first = page.locator(".hit .title a").first
    expect(first).to_be_focused()
    assert in_viewport(page, first)
    header = page.locator(".masthead").bounding_box()
    assert first.bounding_box()["y"] >= max(0, header["y"] + header["height"] - 1)  # not under the sticky header
    page.locator(".pager a.last").click()
    expect(page.locator(".pager .of")).to_have_text(f"Page {pages} of {pages}")
    expect(page.locator(".pager a[rel=next]")).to_have_count(0)
    page.locator(".pager a.first").click()
    expect(page.locator(".pager [aria-current=page]")).to_have_text("1")
    # the n and p keys
    page.locator("#status").click()
    page.keyboard.press("n")
    expect(page.locator(".pager [aria-current=page]")).to_have_text("2")
    page.keyboard.press("p")
    expect(page.locator(".pager [aria-current=page]")).to_have_text("1")


# ---------------------------------------------------------------- facets

@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_facet_show_more_and_search_within_a_facet(context_for, sample_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=facial+recognition")
    open_filters(page, viewport)
    places = page.locator("fieldset[data-facet=jurisdiction]")
    boxes = places.locator("input[type=checkbox]")
    expect(boxes).to_have_count(12)
    more = places.locator("a.more")
    extra = int(re.search(r"Show (\d+) more", more.inner_text()).group(1))
    more.click()
    expect(boxes).to_have_count(12 + extra)
    expect(boxes.nth(12)).to_be_focused()                  # the keyboard goes on from the first new value
    expect(places.locator("a.more")).to_have_count(0)
    search = places.locator("input.facet-search")
    search.fill("")
    search.press_sequentially("cal", delay=30)
    # the list for "cal" itself (the list for "ca" may be on screen first)
    page.wait_for_function("""() => {
        const names = [...document.querySelectorAll('fieldset[data-facet=jurisdiction] .name')];
        return names.length > 0 && names.every((n) => n.textContent.toLowerCase().includes('cal')); }""")
    names = places.locator(".name").all_inner_texts()
    assert names and all("cal" in n.lower() for n in names)
    assert "facet_query" not in page.url                   # a facet search is not a search state
    places.locator("input[type=checkbox]").first.check()
    expect(page).to_have_url(re.compile(r"jurisdiction="))
    # no list is a scroll box that cuts its last row
    overflow = page.evaluate("""() => [...document.querySelectorAll('.facet ul')].filter(
        (u) => u.scrollHeight > u.clientHeight + 1).length""")
    assert overflow == 0


# ---------------------------------------------------------------- chips, tags, bars: focus stays

@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_focus_never_drops_to_the_body(context_for, sample_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=fine&topic=Antitrust&topic=AI")
    chips = page.locator(".chips .chip")
    expect(chips.first).to_have_text(re.compile(r"^Topic: Antitrust"))
    assert chips.first.get_attribute("aria-label") == "Remove filter Topic: Antitrust"
    chips.first.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".chips .chip")).to_have_count(1)
    expect(page.locator(".chips .chip").first).to_be_focused()       # the next chip
    page.keyboard.press("Enter")
    expect(page.locator(".chips .chip")).to_have_count(0)
    assert focused(page)["tag"] != "BODY"
    expect(page.locator("#results-start")).to_be_focused()
    # a tag on a result adds its filter; the focus goes to the new chip
    tag = page.locator(".hit .tag").first
    facet, value = tag.get_attribute("data-facet"), tag.get_attribute("data-value")
    tag.focus()
    page.keyboard.press("Enter")
    chip = page.locator(f".chips .chip[data-facet='{facet}']")
    expect(chip).to_be_focused()
    assert chip.inner_text().startswith(("Jurisdiction: ", "Regulator: ")) and value in chip.inner_text()
    # "Clear all" removes every filter, keeps the words
    page.locator(".clear-all").click()
    expect(page).to_have_url(re.compile(r"/search\?q=fine$"))
    assert focused(page)["tag"] != "BODY"
    # a timeline bar (a phone's grouped bar): the chosen bar keeps the focus
    kind = "bar" if viewport == "desktop" else "bar-group"
    bar = page.locator(f".timeline a.{kind}").nth(1)
    period = bar.get_attribute("data-period")
    bar.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"from="))
    expect(page.locator(f".timeline a.{kind}[data-period='{period}']")).to_be_focused()
    expect(page.locator(f".timeline a.{kind}.selected[data-period='{period}']")).to_have_count(1)


def test_timeline_is_readable_and_not_nested_interactive(context_for, sample_server):
    page = context_for(DESKTOP)
    page.goto(sample_server.base + "/search?q=fine")
    assert page.locator(".timeline svg a, .timeline svg [tabindex]").count() == 0
    bars = page.locator(".timeline a.bar")
    name = bars.first.inner_text() or bars.first.text_content()
    assert re.match(r"^\d{4}(-\d\d)?: [\d,]+ items?$", name.strip())
    # bars against the page: at least 3:1
    ratio = page.evaluate("""() => {
      const lum = (c) => { const v = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map((x) => x / 255)
        .map((x) => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4); return 0.2126*v[0] + 0.7152*v[1] + 0.0722*v[2]; };
      const fill = getComputedStyle(document.querySelector('.timeline .fill')).fill;
      const bg = getComputedStyle(document.documentElement).backgroundColor;
      const [a, b] = [lum(fill), lum(bg)].sort((x, y) => y - x); return (a + 0.05) / (b + 0.05); }""")
    assert ratio >= 3, ratio


# ---------------------------------------------------------------- keyboard

@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_skip_link_goes_to_the_first_result(context_for, sample_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=privacy")
    skip = page.locator("a.skip")
    assert skip.inner_text() == "Skip to results"
    skip.focus()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    first = page.locator(".hit .title a").first
    expect(first).to_be_focused()


def test_sticky_header_never_hides_the_focused_element(context_for, sample_server):
    page = context_for(DESKTOP)
    page.goto(sample_server.base + "/search?q=privacy")
    page.mouse.wheel(0, 5000)
    page.wait_for_timeout(200)
    header = page.locator(".masthead").bounding_box()
    page.locator("footer a").first.focus()
    for _ in range(25):                                      # walk back up with Shift+Tab
        page.keyboard.press("Shift+Tab")
        where = focused(page)
        if where["tag"] in ("BODY", "INPUT") and where["id"] == "q":
            break
        if where["height"] and not where["id"] == "q" and where["cls"] not in ("skip",):
            assert where["top"] >= header["height"] - 1, where


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_escape_closes_suggestions_and_never_clears_the_query(context_for, sample_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/")
    page.locator("#q").press_sequentially("facial rec", delay=40)
    listbox = page.locator("#suggestions")
    expect(listbox).to_be_visible()
    # (the list may still show the suggestions of "facial r" for a moment: wait for those of "facial rec")
    expect(listbox.locator("[role=option].query b").first).to_have_text("facial rec")
    # sections, with the typed part in bold
    assert listbox.locator(".group-label").first.text_content() == "Searches"
    assert "Articles" in [t.strip() for t in listbox.locator(".group-label").all_text_contents()]
    assert listbox.locator("[role=group]").count() >= 2
    expect(listbox.locator("[role=option].query b").first).to_have_text("facial rec")
    texts = listbox.locator("[role=option]").all_inner_texts()
    assert len(texts) == len(set(texts))
    page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    page.keyboard.press("Escape")
    page.wait_for_timeout(200)
    assert page.input_value("#q") == "facial rec"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_regulator_suggestion_becomes_a_filter(context_for, sample_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/")
    page.locator("#q").press_sequentially("fine cn", delay=40)
    listbox = page.locator("#suggestions")
    expect(listbox.locator("[role=option].facet").first).to_be_visible()
    labels = [t.strip() for t in listbox.locator(".group-label").all_text_contents()]
    assert labels == [label for label in ("Searches", "Regulators and places", "Articles") if label in labels]
    assert "Regulators and places" in labels
    option = listbox.locator("[role=option].facet").first
    expect(option.locator("b")).to_have_text("CN")                  # the typed part, in bold
    option.click()
    expect(page).to_have_url(re.compile(r"regulator=CNIL"))
    assert query_of(page.url) == {"q": ["fine"], "regulator": ["CNIL"]}
    expect(page.locator(".chips .chip")).to_have_text(re.compile("^Regulator: CNIL"))
    assert page.input_value("#q") == "fine"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_question_mark_lists_the_shortcuts(context_for, sample_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=fine")
    page.locator("#status").click()
    page.keyboard.press("?")
    dialog = page.locator("dialog#shortcuts")
    expect(dialog).to_be_visible()
    assert "Go to the search box" in dialog.inner_text() and "Next or previous page" in dialog.inner_text()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.locator("[data-open-shortcuts]").click()
    expect(dialog).to_be_visible()
    dialog.locator("button.close-dialog").click()
    expect(dialog).to_be_hidden()


# ---------------------------------------------------------------- errors and the way back

@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_error_states_keep_the_state(context_for, sample_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=fine&topic=Antitrust&from=2024-01-01&to=2020-01-01")
    message = page.locator("#error-message")
    expect(message).to_contain_text("is after the “To” date")
    expect(message).to_contain_text("Change the “From” date to 2020-01-01 or earlier")   # which box, and to what
    # Review: the bad dates showed as an active "Published" chip. Only what is applied is a chip,
    # and it is applied: the results are those of the other filters.
    expect(page.locator(".chips .chip")).to_have_count(1)
    expect(page.locator(".chips .chip")).to_have_text(re.compile("^Topic: Antitrust"))
    rows = sample_server.json("/api/search?q=fine&topic=Antitrust")[1]["grouped_total"]
    expect(page.locator(".hit")).to_have_count(min(rows, 10))
    if viewport == "phone":
        expect(page.locator("#filters-toggle")).to_contain_text(f"Filters (1) · {rows} result")
        page.locator("#filters-toggle").click()
    expect(page.locator("input[name=from]")).to_have_value("2024-01-01")
    expect(page.locator("input[name=to]")).to_have_value("2020-01-01")
    assert page.locator("input[name=from]").get_attribute("aria-invalid") == "true"
    page.locator("input[name=to]").fill("2024-12-31")
    page.locator("input[name=to]").dispatch_event("change")
    expect(page.locator("#error-message")).to_have_count(0)
    assert query_of(page.url) == {"q": ["fine"], "topic": ["Antitrust"], "from": ["2024-01-01"], "to": ["2024-12-31"]}
    expect(page.locator(".chips .chip")).to_have_count(2)
    date_chip = page.locator(".chips .chip").nth(1)
    expect(date_chip).to_have_text(re.compile("^Published: 2024-01-01 – 2024-12-31"))
    # its name says what it shows (the issue: a date chip's label did not match its name)
    assert date_chip.get_attribute("aria-label") == "Remove filter " + date_chip.inner_text().replace("×", "").strip()
    page.goto(sample_server.base + "/search?q=%22fine&topic=AI")
    expect(page.locator(".chip")).to_have_text(re.compile("^Topic: AI"))


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_item_page_links_back_to_the_results(context_for, sample_server, viewport):
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=fine&topic=Antitrust")
    page.locator("a.details").first.click()
    page.wait_for_url(re.compile(r"/item/[0-9a-f]{16}\?back="))
    back = page.locator("#back-to-results")
    expect(back).to_contain_text("“fine”")
    page.wait_for_load_state("load")
    assert page.evaluate("document.activeElement.id") != "q"     # an item page is there to be read
    back.click()
    page.wait_for_url(re.compile(r"/search\?q=fine&topic=Antitrust$"))
    expect(page.locator(".chip")).to_have_text(re.compile("^Topic: Antitrust"))
    page.goto(sample_server.base + "/item/0123456789abcdef")
    expect(page.locator("header.masthead input#q")).to_be_visible()


# ---------------------------------------------------------------- axe-core

AXE_PAGES = {
    "home": "/",
    "results": "/search?q=facial+recognition",
    "filtered": "/search?q=fine&topic=Antitrust&jurisdiction=European+Union&from=2019-01-01",
    "error": "/search?q=fine&topic=AI&from=2024-01-01&to=2020-01-01",
    "query-error": "/search?q=%22fine&topic=AI",
    "item": None,
    "404": "/item/0123456789abcdef",
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_axe_finds_no_serious_or_critical_violations(context_for, sample_server, scheme, viewport):
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    axe = axe_module.Axe()
    page = context_for(DESKTOP if viewport == "desktop" else PHONE, scheme)
    page.goto(sample_server.base + "/search?q=fine")
    item = page.locator("a.details").first.get_attribute("href")
    found = {}
    for name, path in AXE_PAGES.items():
        page.goto(sample_server.base + (path or item))
        if name == "filtered" and viewport == "phone":
            page.locator("#filters-toggle").click()                 # the drawer open, too
        if name == "results" and viewport == "desktop":
            page.locator("#q").press("End")
            page.locator("#q").press_sequentially(" ba", delay=30)   # the suggestions open, too
            page.locator("#suggestions [role=option]").first.wait_for()
            expect(page.locator("#region[aria-busy]")).to_have_count(0)
        results = axe.run(page)
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        if bad:
            found[name] = bad
    assert found == {}


# ---------------------------------------------------------------- screenshots for the README

def test_screenshots_for_the_readme(context_for, sample_server):
    SCREENSHOTS.mkdir(exist_ok=True)
    page = context_for(DESKTOP)
    page.goto(sample_server.base + "/search?q=facial+recognition&topic=Biometrics")
    page.locator("#q").blur()
    page.screenshot(path=str(SCREENSHOTS / "search-desktop.png"))
    phone = context_for(PHONE)
    phone.goto(sample_server.base + "/search?q=facial+recognition")
    phone.locator("#filters-toggle").click()
    phone.locator(".facet[data-facet=topic] label").first.click()
    expect(phone).to_have_url(re.compile(r"topic="))
    expect(phone.locator("#region[aria-busy]")).to_have_count(0)
    phone.screenshot(path=str(SCREENSHOTS / "search-phone-drawer.png"))
    assert (SCREENSHOTS / "search-desktop.png").stat().st_size > 10_000
    assert (SCREENSHOTS / "search-phone-drawer.png").stat().st_size > 10_000


# ---------------------------------------------------------------- review findings (round 2)

@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_ticking_a_value_found_by_a_facet_search_keeps_the_search(context_for, sample_server, viewport):
    """Review: ticking a value found with the search box of a facet emptied the box and
    its list. The text, the filtered list and the focus survive the tick and the new request."""
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=facial+recognition")
    open_filters(page, viewport)
    places = page.locator("fieldset[data-facet=jurisdiction]")
    places.locator("input.facet-search").press_sequentially("a", delay=30)
    expect(places.locator("input[type=checkbox]")).not_to_have_count(12)
    found = places.locator(".name").all_inner_texts()
    assert len(found) >= 2 and all("a" in n.lower() for n in found), found
    for n, expected in enumerate(([found[1]], [found[1], found[0]])):
        value = found[1 - n]
        box = places.locator(f"input[type=checkbox][value='{value}']")
        box.check()
        expect(page).to_have_url(re.compile("".join(f"(?=.*{re.escape(urlencode({'jurisdiction': v}))})"
                                                    for v in expected)))
        assert sorted(query_of(page.url)["jurisdiction"]) == sorted(expected)
        expect(page.locator("#region[aria-busy]")).to_have_count(0)
        expect(places.locator("input.facet-search")).to_have_value("a")              # the box keeps its text
        expect(places.locator(".name")).to_have_text(found)                          # and the list the user was in
        expect(places.locator(f"input[type=checkbox][value='{value}']")).to_be_checked()
        expect(places.locator(f"input[type=checkbox][value='{value}']")).to_be_focused()
        assert "facet_query" not in page.url
    if viewport == "phone":
        expect(page.locator("#facets")).to_be_visible()                              # the drawer stays open
    # the search is the user's: emptying it brings the whole list back
    places.locator("input.facet-search").fill("")
    places.locator("input.facet-search").press("Enter")
    expect(places.locator("input[type=checkbox]")).to_have_count(12)
    # and "Clear all filters" clears facet searches too
    places.locator("input.facet-search").press_sequentially("a", delay=30)
    expect(places.locator(".name")).to_have_text(found)
    if viewport == "phone":
        page.locator(".show-results").click()
    page.locator(".clear-all").click()
    expect(page).to_have_url(re.compile(r"/search\?q=facial\+recognition$"))
    open_filters(page, viewport)
    expect(places.locator("input.facet-search")).to_have_value("")
    expect(places.locator("input[type=checkbox]")).to_have_count(12)


def test_a_facet_search_survives_a_tick_on_the_date_error_page(context_for, sample_server):
    """The date error answers 400 with results (without the dates): its facet lists are kept too."""
    page = context_for(DESKTOP)
    page.goto(sample_server.base + "/search?q=facial+recognition&from=2024-01-01&to=2020-01-01")
    places = page.locator("fieldset[data-facet=jurisdiction]")
    places.locator("input.facet-search").press_sequentially("a", delay=30)
    expect(places.locator("input[type=checkbox]")).not_to_have_count(12)
    found = places.locator(".name").all_inner_texts()
    places.locator(f"input[type=checkbox][value='{found[0]}']").check()
    expect(page).to_have_url(re.compile("jurisdiction="))
    expect(page.locator("#region[aria-busy]")).to_have_count(0)
    expect(page.locator("#error-message")).to_be_visible()
    expect(places.locator("input.facet-search")).to_have_value("a")
    expect(places.locator(".name")).to_have_text(found)
    expect(places.locator(f"input[type=checkbox][value='{found[0]}']")).to_be_focused()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_facet_counts_line_up_with_their_names_in_one_column(context_for, sample_server, viewport):
    """Review: in the phone drawer each count sat 7 px below its name (the results'
    count margin). Counts share one right edge and each is level with its name."""
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=facial+recognition")
    open_filters(page, viewport)
    rows = page.evaluate("""() => [...document.querySelectorAll('.facet li label')].filter((l) => l.getClientRects().length)
      .map((l) => { const n = l.querySelector('.name').getBoundingClientRect(), c = l.querySelector('.count').getBoundingClientRect();
                    return {facet: l.closest('fieldset').dataset.facet, nameTop: n.top, nameHeight: n.height,
                            countTop: c.top, countHeight: c.height, right: c.right}; })""")
    assert len(rows) > 12
    for row in rows:
        if row["nameHeight"] < 1.5 * row["countHeight"]:           # one line: level with the name
            assert abs((row["countTop"] + row["countHeight"] / 2) - (row["nameTop"] + row["nameHeight"] / 2)) <= 1, row
    for facet in {row["facet"] for row in rows}:
        rights = {round(row["right"]) for row in rows if row["facet"] == facet}
        assert len(rights) == 1, (facet, rights)                    # one column


@pytest.mark.parametrize("query, scheme", [("fine", "light"), ("garante", "dark"), ("garante", "light")])
def test_phone_timeline_bars_are_44_px_tap_targets(context_for, sample_server, query, scheme):
    """Review: on a 390 px phone the timeline's bars were narrower than 44 px ("garante":
    34 months, 10.5 px each). There it draws at most 6 grouped bars (years for "fine",
    months for "garante"); each is a keyboard-operable, named link of 44 px or more."""
    page = context_for(PHONE, scheme)
    page.goto(sample_server.base + "/search?" + urlencode({"q": query}))
    fine = page.locator(".timeline a.bar")
    assert fine.count() > 6 and not fine.first.is_visible()          # the desktop's bars are not on screen
    bars = page.locator(".timeline a.bar-group")
    expect(bars.first).to_be_visible()
    assert 2 <= bars.count() <= 6
    counts = [int(b.get_attribute("data-count")) for b in bars.all()]
    assert sum(counts) == sum(int(b.get_attribute("data-count")) for b in fine.all())
    for bar in bars.all():
        box = bar.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, box
        name = bar.inner_text().strip() or bar.text_content().strip()
        assert re.match(r"^\d{4}(-\d\d)?( to \d{4}(-\d\d)?)?: [\d,]+ items?$", name), name
    assert page.locator(".timeline .plot-coarse svg[role=img]").get_attribute("aria-labelledby") == "timeline-caption"
    ratio = page.evaluate("""() => {
      const lum = (c) => { const v = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map((x) => x / 255)
        .map((x) => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4); return 0.2126*v[0] + 0.7152*v[1] + 0.0722*v[2]; };
      const fill = getComputedStyle(document.querySelector('.timeline .plot-coarse .fill')).fill;
      const bg = getComputedStyle(document.documentElement).backgroundColor;
      const [a, b] = [lum(fill), lum(bg)].sort((x, y) => y - x); return (a + 0.05) / (b + 0.05); }""")
    assert ratio >= 3, ratio
    # the keyboard: Enter on a bar filters to its period; the focus stays on that bar
    busiest = bars.nth(counts.index(max(counts)))
    period = busiest.get_attribute("data-period")
    busiest.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"from="))
    chosen = page.locator(f".timeline a.bar-group[data-period='{period}']")
    expect(chosen).to_be_focused()
    expect(chosen).to_have_class(re.compile("selected"))
    assert chosen.get_attribute("aria-current") == "true"
    expect(page.locator("#status")).to_contain_text(f"{max(counts):,} result")


# ---------------------------------------------------------------- the typing benchmark, tiny, so it cannot rot

def test_typing_latency_bench_smoke_run(tmp_path):
    """bench/typing_latency.py (the issue's keypress -> own results / next paint, p50/p95)
    runs end to end: one query, one pace, on the sample corpus."""
    import subprocess
    import sys

    project = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(project / "bench" / "typing_latency.py"), "--corpus",
                           str(project / "corpus"), "--index", str(tmp_path / "index"), "--delays", "100",
                           "--queries", "garante", "--out", str(tmp_path / "out"), "--label", "smoke"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("| 100 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert int(cells[1]) == len("garante") and cells[2] != "–"        # keys typed, own-results p50 measured
    assert list((tmp_path / "out").glob("typing-smoke-*.json"))


# ---------------------------------------------------------------- review of issue 14, second round

def test_an_error_answer_is_never_replaced_by_an_older_answer(context_for, sample_server):
    """Finding 1: a kept 0-result answer for older text replaced the "unclosed
    quote" message after a pause, URL and all, while the box still said `"iris`."""
    warm(sample_server)
    page = context_for(DESKTOP)
    page.goto(sample_server.base + "/search?q=fine")
    expect(page.locator(".hit").first).to_be_visible()
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially('qzxw "iris', delay=150)
    status = page.locator("#status")
    expect(status).to_contain_text("unclosed quote")
    page.wait_for_timeout(2500)                                  # past the pause that showed the kept answer
    expect(status).to_contain_text("unclosed quote")
    assert page.locator(".empty", has_text="No news matches").count() == 0
    assert query_of(page.url).get("q") != ["qzxw "] and query_of(page.url).get("q") != ["qzxw"]
    assert page.locator("#q").input_value() == 'qzxw "iris'
    assert page.get_attribute("#q", "aria-invalid") == "true"   # re-review: the box says so too


def test_typing_on_a_slow_connection_updates_while_typing(context_for, sample_server):
    """Finding 2: with 800 ms of latency, every typing request was aborted at
    700 ms for newer text, so nothing updated until the typist stopped."""
    warm(sample_server)
    page = context_for(DESKTOP)
    page.add_init_script(RECORDER)
    page.goto(sample_server.base + "/search")
    expect(page.locator("#q")).to_be_focused()
    held = []
    page.route(re.compile(r".*typed=1.*"), lambda route: held.append((time.monotonic(), route)))

    def release_due():      # an 800 ms route delay, without blocking Playwright's dispatcher
        while held and time.monotonic() - held[0][0] >= 0.8:
            _, route = held.pop(0)
            try:
                route.continue_()
            except Exception:   # the page gave the request up
                pass

    def wait(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            page.wait_for_timeout(10)
            release_due()

    text = "facial recognition"
    for ch in text:
        page.keyboard.type(ch)
        wait(0.1)
    wait(2.5)
    renders = page.evaluate("window.__renders")
    keys = [k["t"] for k in page.evaluate("window.__keys")]
    assert len(keys) == len(text)
    before_last = [r for r in renders if keys[0] <= r["t"] < keys[-1]]
    assert len(before_last) >= 2, (renders, keys)
    assert renders[-1]["query"] == text and not renders[-1]["stale"]
    assert query_of(page.url) == {"q": [text]}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("pager", [False, True])
def test_back_from_an_item_returns_to_the_same_row(context_for, sample_server, viewport, pager):
    """Finding 3: `autofocus` on the box scrolled a page come back to to the top."""
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=data")           # 24 results: page 2 is full too
    expect(page.locator(".hit").first).to_be_visible()
    if pager:
        page.locator(".pager a[rel=next]").click()
        expect(page.locator(".pager [aria-current=page]")).to_have_text("2")
    target = min(1400, page.evaluate("document.documentElement.scrollHeight - innerHeight") - 50)
    assert target > 500
    page.evaluate(f"window.scrollTo(0, {target})")
    page.wait_for_timeout(200)
    before = page.evaluate("scrollY")
    page.evaluate("[...document.querySelectorAll('a.details')].find((a) => a.getBoundingClientRect().top > 80).click()")
    page.wait_for_url(re.compile(r"/item/"))
    page.go_back()
    page.wait_for_url(re.compile(r"/search\?q=data"))
    expect(page.locator(".hit").first).to_be_visible()
    page.wait_for_timeout(500)
    assert abs(page.evaluate("scrollY") - before) <= 40, (page.evaluate("scrollY"), before)
    # a fresh page still puts the focus in the box
    page.goto(sample_server.base + "/search?q=privacy")
    expect(page.locator("#q")).to_be_focused()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_double_click_on_a_chip_removes_one_filter(context_for, sample_server, viewport):
    """Finding 4: the second click of a double click (or tap) landed on the chip
    that slid into place and removed it too."""
    page = context_for(VIEWPORTS[viewport], has_touch=viewport == "phone")
    chips = page.locator(".chips .chip")

    def click():
        if viewport == "phone":
            page.touchscreen.tap(x, y)
        else:
            page.mouse.click(x, y)

    for _ in range(3):    # the redraw must come inside a double click's interval; a loaded machine retries
        page.goto(sample_server.base + "/search?q=fine&topic=Antitrust&topic=AI")
        expect(chips).to_have_count(2)
        box = chips.first.bounding_box()
        x, y = box["x"] + 20, box["y"] + box["height"] / 2
        start = time.monotonic()
        click()
        expect(chips).to_have_count(1)               # redrawn: the other chip is now under the pointer
        fast = time.monotonic() - start < 0.35
        # (read once the redraw has settled: on a loaded phone run the point once fell between layouts)
        under = page.evaluate(f"""(() => {{ const e = document.elementFromPoint({x}, {y});
                                           const chip = e && e.closest('.chip');
                                           return chip ? chip.dataset.value : null; }})()""")
        if fast and under == "AI":
            break
    else:
        pytest.fail(f"no redraw within 350 ms of a click, with the other chip under the pointer, in 3 tries "
                    f"(last: chip {under!r} under the pointer)")
    click()
    page.wait_for_timeout(700)
    expect(chips).to_have_count(1)
    assert query_of(page.url) == {"q": ["fine"], "topic": ["AI"]}
    box = chips.first.bounding_box()
    x, y = box["x"] + 20, box["y"] + box["height"] / 2
    click()                                           # a deliberate click later still removes it
    expect(chips).to_have_count(0)
    assert query_of(page.url) == {"q": ["fine"]}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_facet_show_more_keeps_the_result_count_on_screen(context_for, sample_server, viewport):
    """Finding 6: "142 provider values listed." replaced the result count."""
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=facial+recognition")
    status = page.locator("#status")
    expect(status).to_contain_text("results for “facial recognition”")
    open_filters(page, viewport)
    page.locator("fieldset[data-facet=jurisdiction] a.more").click()
    expect(page.locator("#facet-status")).to_contain_text("jurisdiction values listed")
    expect(status).to_contain_text("results for “facial recognition”")
    assert page.locator("#facet-status").evaluate("(e) => e.getBoundingClientRect().width") <= 1   # heard, not seen


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_typed_words_are_bidi_isolated(context_for, sample_server, viewport):
    """Finding 5, in the script's redraws: the status line, the kept-results note, the title."""
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=fine")
    page.locator("#q").fill("\u202efine privacy")
    expect(page.locator("#status bdi")).to_have_text("\u202efine privacy")
    assert "\u202e" not in page.title() and page.title().startswith("fine privacy")
    page.locator("#q").fill("\u202eqzxw")
    expect(page.locator(".stale-note bdi").first).to_have_text("\u202eqzxw")
    outside = page.evaluate("""() => { const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      const bad = []; for (let n = w.nextNode(); n; n = w.nextNode())
        if (n.data.includes('\\u202e') && !n.parentElement.closest('bdi')) bad.push(n.data);
      return bad; }""")
    assert outside == []


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_timeline_axis_is_labelled_once(context_for, sample_server, viewport):
    """Finding 7: desktops printed the end labels twice, on two rows."""
    page = context_for(VIEWPORTS[viewport])
    page.goto(sample_server.base + "/search?q=fine")
    expect(page.locator(".timeline.has-groups")).to_have_count(1)
    shown = page.locator(".timeline figcaption > span[aria-hidden]").evaluate_all(
        "(els) => els.filter((e) => e.getClientRects().length).length")
    assert shown == 1


def test_the_pages_feed_link_follows_the_results_on_screen(context_for, sample_server):
    """Re-review: the <head> feed link kept the first page's query after typing,
    and stayed on a query that cannot run."""
    warm(sample_server)
    page = context_for(DESKTOP)
    page.goto(sample_server.base + "/search?q=fine")
    feed = page.locator("link[rel=alternate][type='application/atom+xml']")
    assert "q=fine" in feed.get_attribute("href")
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("privacy", delay=60)
    expect(page.locator("#status")).to_contain_text("privacy")
    expect(feed).to_have_attribute("href", re.compile(r"q=privacy"))
    page.locator("#q").press_sequentially(' "iris', delay=60)
    expect(page.locator("#status")).to_contain_text("unclosed quote")
    expect(feed).to_have_count(0)


def test_typing_from_the_blank_page_never_shows_empty_quotes(context_for, sample_server):
    """Re-review: "c" typed on the blank page said "still showing “”"."""
    warm(sample_server)
    page = context_for(DESKTOP)
    page.goto(sample_server.base + "/search")
    page.locator("#q").press_sequentially("qzx", delay=40)          # nothing has it: the newest news stays, marked
    expect(page.locator(".stale-note")).to_contain_text("the newest news")
    expect(page.locator("#status")).to_contain_text("still showing the newest news")
    assert "“”" not in page.locator("#status").inner_text()


# ---------------------------------------------------------------- related articles (issue 12)

@pytest.fixture(scope="module")
def related_server(tmp_path_factory):
    """One item has "armadillo"; another tells the same news without it (a related item)."""
    from conftest import running_server, write_news
    from searchapp.indexing import update_index

    root = tmp_path_factory.mktemp("related-corpus")
    write_news(root, "a.md", title="Armadillo smuggling ring broken up in Lisbon harbour",
               excerpt="Customs officers dismantled a smuggling ring operating from Lisbon harbour.", topics=["AI"])
    write_news(root, "b.md", title="Smuggling ring dismantled in Lisbon harbour",
               excerpt="Customs officers found the ring's warehouse.", topics=["AI"])
    for n in range(20):   # words in more than a tenth of the items say nothing of one story
        write_news(root, f"other{n}.md", title=f"Tram fares in district {n}", excerpt=f"Fares rise {n}.")
    index_dir = tmp_path_factory.mktemp("related-index") / "index"
    update_index(root, index_dir)
    with running_server(index_dir) as server:
        yield server


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_related_articles_line_up_with_the_results_and_pass_axe(context_for, related_server, scheme, viewport):
    """The item page's `.related` lists are indented; the results' related
    list took that indent twice (its list and each item) and looked nested."""
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    page = context_for(VIEWPORTS[viewport], scheme)
    page.goto(related_server.base + "/search?q=armadillo")
    expect(page.locator("h2.related-title")).to_have_text("Related articles")
    hits = [page.locator(selector).first.bounding_box()
            for selector in ("ol.hits:not(.related) > li .title", "ol.hits.related > li .title", "h2.related-title")]
    assert hits[1]["x"] == hits[0]["x"] == hits[2]["x"] and hits[1]["width"] == hits[0]["width"]
    assert page.locator("ol.hits.related .badge").all_inner_texts() == ["related"]
    results = axe_module.Axe().run(page)
    assert [(v["id"], v["impact"]) for v in results.response["violations"]] == []
