// searchapp: as-you-type search, facets without reloads, a filter drawer on
// phones, autocomplete, keyboard shortcuts. Progressive enhancement: without
// this file the form submits as a plain GET and every link is a real URL.
(() => {
  "use strict";
  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  const dialog = document.getElementById("shortcuts");
  document.documentElement.classList.add("js");

  // ---- keyboard shortcuts (listed under "?")
  function typingIn(el) {
    const tag = (el.tagName || "").toLowerCase();
    return ["input", "textarea", "select"].includes(tag) || el.isContentEditable;
  }
  function openShortcuts() { if (dialog && !dialog.open) dialog.showModal(); }
  document.querySelectorAll("[data-open-shortcuts]").forEach((b) => b.addEventListener("click", openShortcuts));
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    if (e.key === "Escape" && drawerOpen()) { e.preventDefault(); closeDrawer(true); return; }
    if (typingIn(e.target) || (dialog && dialog.open)) return;
    if (e.key === "/") {
      e.preventDefault();
      if (input) { input.focus(); input.select(); }
    } else if (e.key === "?") {
      e.preventDefault();
      openShortcuts();
    } else if ((e.key === "n" || e.key === "p") && region) {
      const link = region.querySelector(e.key === "n" ? ".pager a[rel=next]" : ".pager a[rel=prev]");
      if (link) { e.preventDefault(); link.click(); }
    } else if (e.key === "f" && region) {
      e.preventDefault();
      if (toggle && getComputedStyle(toggle).display !== "none") openDrawer();
      else region.querySelector(".facets input, .facets a")?.focus();
    }
  });

  const region = document.getElementById("region");
  const status = document.getElementById("status");
  // The box takes the focus on a fresh page only (no autofocus attribute): focus on a page
  // come back to (Back from an item) scrolled it to the top, losing the row the user was on.
  const arrival = performance.getEntriesByType("navigation")[0];
  // (search pages only: an item page is there to be read)
  if (input && region && !(arrival && arrival.type === "back_forward") && !location.hash && window.scrollY === 0
      && (!document.activeElement || document.activeElement === document.body)) {
    input.focus({ preventScroll: true });
  }
  const list = document.getElementById("suggestions");
  const toggle = document.getElementById("filters-toggle");
  if (!form || !input || !region) return;

  const TYPING_INTERVAL_MS = 90;   // at most one as-you-type request per 90 ms (leading + trailing)
  const PARALLEL_AFTER_MS = 200;   // a typing request slower than this gets a second one beside it
  const SETTLE_MS = 1200;          // after this pause, a kept ("stale") list gives way to the real answer
  let seq = 0;                     // id of the newest request
  let shownSeq = 0;                // id of the answer on screen: an older answer never replaces a newer one
  const inflight = new Map();      // seq -> {controller, started, typing}
  let typingEntry = false;         // typing replaces the history entry it created
  let lastTypingSent = 0;
  let trailingTimer = null;
  let settleTimer = null;
  let pendingStale = null;         // the latest 0-result typing answer, kept off screen while typing

  function formParams() {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (typeof value !== "string" || value.trim() === "") continue;
      if (key.startsWith("facet_query.") || key === "facet_limit") continue;  // per facet, not the search
      params.append(key, value);
    }
    const sort = region.querySelector("select[name=sort]");
    if (params.get("sort") === "relevance" || (sort && sort.dataset.implied === sort.value)) params.delete("sort");
    return params;
  }

  function urlFor(params) {
    const qs = params.toString();
    return "/search" + (qs ? "?" + qs : "");
  }

  // Which control had focus, so that it can have it again after the region is redrawn.
  function focusKey() {
    const el = document.activeElement;
    if (!el || !region.contains(el) || !el.name) return null;
    return el.type === "checkbox" ? `[name="${CSS.escape(el.name)}"][value="${CSS.escape(el.value)}"]`
                                  : `[name="${CSS.escape(el.name)}"]`;
  }

  function setBusy(on) {
    document.body.classList.toggle("busy", on);
    if (on) region.setAttribute("aria-busy", "true");
    else region.removeAttribute("aria-busy");
  }

  function abortAll(exceptTyping = false) {
    for (const [id, r] of inflight) {
      if (exceptTyping && r.typing) continue;
      r.controller.abort();
      inflight.delete(id);
    }
  }

  function layoutOf(root) { return root.querySelector("[data-status]"); }

  // The status line as the server wrote it, the user's words in <bdi> (a U+202E in a
  // query mirrored the whole line); a template's content is inert until cloned.
  function showStatus(layout) {
    const markup = layout.querySelector("template.status-html");
    if (markup) status.replaceChildren(document.importNode(markup.content, true));
    else status.textContent = layout.dataset.status;
  }
  // Text with the user's words isolated: parts are strings, or {user: "words"}.
  function isolated(...parts) {
    const frag = document.createDocumentFragment();
    for (const part of parts) {
      if (typeof part === "string") { frag.append(part); continue; }
      const bdi = document.createElement("bdi");
      bdi.textContent = part.user;
      frag.append(bdi);
    }
    return frag;
  }
  const BIDI_CONTROLS = /[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

  function afterRender(params, opts) {
    const layout = layoutOf(region);
    if (layout) showStatus(layout); else status.textContent = "";
    if (toggle && layout) {
      const total = layout.dataset.total;
      const n = Number(layout.dataset.filters || 0);
      toggle.querySelector(".label").textContent = "Filters" + (n ? ` (${n})` : "");
      let count = toggle.querySelector(".n");
      if (!count) { count = document.createElement("span"); count.className = "n"; toggle.appendChild(count); }
      count.textContent = total === "" ? "" : ` · ${Number(total).toLocaleString("en")} result${total === "1" ? "" : "s"}`;
    }
    if (layout && layout.dataset.errorField === "q") {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "error-message");
    } else {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
    const words = (params.get("q") || "").replace(BIDI_CONTROLS, "").trim();
    document.title = (words ? words + " · " : "") + "searchapp";
    followFeed(words);
    document.dispatchEvent(new CustomEvent("searchapp:render", {
      detail: { query: params.get("q") || "", stale: region.classList.contains("stale"), t: performance.now() },
    }));
  }

  // The page's feed (for feed readers and browser extensions) follows the
  // results on screen: the answer's own feed link, or none when no search ran.
  function followFeed(words) {
    const shown = region.querySelector("a.feed");
    let link = document.querySelector("link[rel=alternate][type='application/atom+xml']");
    if (!shown) { if (link) link.remove(); return; }
    if (!link) {
      link = document.createElement("link");
      link.rel = "alternate";
      link.type = "application/atom+xml";
      document.head.appendChild(link);
    }
    link.href = shown.getAttribute("href");
    link.title = "Feed: " + (words || "all news");
  }

  function showStale(query, previous) {
    region.classList.add("stale");
    let note = region.querySelector(".stale-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "stale-note";
      region.querySelector("main")?.prepend(note);
    }
    if (previous) {
      note.replaceChildren(isolated("Nothing matches “", { user: query }, "” yet: keep typing. Below, the results for “",
                                    { user: previous }, "”."));
      status.replaceChildren(isolated("No results for “", { user: query }, "” yet; still showing “", { user: previous }, "”."));
    } else {   // from the blank page: what is below is the newest news, not a search
      note.replaceChildren(isolated("Nothing matches “", { user: query }, "” yet: keep typing. Below, the newest news."));
      status.replaceChildren(isolated("No results for “", { user: query }, "” yet; still showing the newest news."));
    }
    document.dispatchEvent(new CustomEvent("searchapp:render", {
      detail: { query, stale: true, t: performance.now() },
    }));
  }

  function render(html, params, mode, opts) {
    const drawer = drawerOpen();
    const drawerScroll = region.querySelector(".facets")?.scrollTop || 0;
    const refocus = opts.refocus;
    region.classList.remove("stale");
    region.innerHTML = html;
    for (const { facet, expanded, fresh } of opts.facets || []) {
      const fieldset = region.querySelector(`fieldset[data-facet="${CSS.escape(facet)}"]`);
      if (!fieldset || !fresh) continue;
      fieldset.replaceWith(fresh);
      if (expanded) fresh.dataset.expanded = "1";
    }
    const url = urlFor(params);
    if (mode === "push") history.pushState({ searchapp: true }, "", url);
    else if (mode === "replace") history.replaceState({ searchapp: true }, "", url);
    if (opts.typing) typingEntry = true;           // only once its history entry exists
    if (drawer) {
      const facets = region.querySelector(".facets");
      facets.classList.add("open");
      facets.scrollTop = drawerScroll;
      setInert(true);
    }
    afterRender(params, opts);
    placeFocus(opts.focus, refocus);
    if (!drawer && !opts.typing && !opts.focus) offerResults();
  }

  // A filter far down the column changed the results out of sight: say so where the user is.
  const toast = document.getElementById("toast");
  let toastTimer = null;
  function offerResults() {
    const start = document.getElementById("results-start") || document.getElementById("results");
    if (!toast || !start) return;
    const box = start.getBoundingClientRect();
    if (box.top >= 0 && box.top < window.innerHeight - 40) return;      // the results are on screen
    const layout = layoutOf(region);
    const total = layout && layout.dataset.total !== "" ? Number(layout.dataset.total) : null;
    toast.textContent = total === null ? "Results updated ↑" : `Show the ${total.toLocaleString("en")} result${total === 1 ? "" : "s"} ↑`;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { if (document.activeElement !== toast) toast.hidden = true; }, 6000);
  }
  toast?.addEventListener("click", () => { toast.hidden = true; showResults(); });
  toast?.addEventListener("blur", () => { toastTimer = setTimeout(() => { toast.hidden = true; }, 1500); });

  async function load(params, mode, opts = {}) {
    const mine = ++seq;
    if (!opts.typing) abortAll();                  // a click or Enter makes every running search stale
    const controller = new AbortController();
    inflight.set(mine, { controller, started: performance.now(), typing: !!opts.typing });
    opts.refocus = focusKey();
    const fetchParams = new URLSearchParams(params);
    fetchParams.set("fragment", "1");
    if (opts.typing) fetchParams.set("typed", "1");
    // A facet the user searched within (or expanded) keeps its list: fetched beside the
    // results and swapped in before the first paint, so ticking a value found with the
    // facet's search box never empties the box or the list the user was in.
    const kept = opts.typing || opts.clear ? [] : facetStates();
    const facetParts = kept.map((state) => fetchFacet(params, state, controller.signal).catch(() => null));
    setBusy(true);
    try {
      const response = await fetch("/search?" + fetchParams.toString(), {
        signal: controller.signal, headers: { Accept: "text/html" },
      });
      const html = await response.text();
      opts.facets = (await Promise.all(facetParts)).map((fresh, i) => ({ ...kept[i], fresh }));
      if (mine <= shownSeq || controller.signal.aborted) return;     // a newer answer is on screen
      if (response.status === 400 && opts.typing) {
        // Mid-typing (an unclosed quote...): say what is wrong, keep the results below.
        const doc = new DOMParser().parseFromString(html, "text/html");
        const layout = layoutOf(doc);
        shownSeq = mine;
        pendingStale = null;                       // an older 0-result answer must never replace this
        if (layout) showStatus(layout); else status.textContent = "This query cannot be searched yet.";
        document.querySelector("link[rel=alternate][type='application/atom+xml']")?.remove();  // no feed for these words
        input.setAttribute("aria-invalid", "true");   // until an answer for other words is drawn
        if (mode === "push" || mode === "replace") {   // the address says these words, as a reload would show
          history[mode === "push" ? "pushState" : "replaceState"]({ searchapp: true }, "", urlFor(params));
          typingEntry = true;
        }
        return;
      }
      if (!response.ok && response.status !== 400) {
        status.textContent = "Search failed (" + response.status + "). Press Enter to try again.";
        return;
      }
      shownSeq = mine;
      if (opts.typing) {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const layout = layoutOf(doc);
        const onScreen = layoutOf(region);
        if (layout && layout.dataset.total === "0" && region.querySelector(".hit") && onScreen
            && onScreen.dataset.total !== "0" && !region.querySelector(".error")) {
          // A part-typed word: keep the last results, visibly marked, rather than "No news matches".
          const previous = region.classList.contains("stale") ? region.dataset.shownQuery : onScreen.dataset.query;
          region.dataset.shownQuery = previous;
          pendingStale = { html, params, mode };
          if (mode === "push" || mode === "replace") {
            history[mode === "push" ? "pushState" : "replaceState"]({ searchapp: true }, "", urlFor(params));
            typingEntry = true;
          }
          showStale(params.get("q") || "", previous);
          return;
        }
      }
      pendingStale = null;
      render(html, params, mode, opts);
    } catch (error) {
      if (error.name !== "AbortError" && mine === seq) status.textContent = "Search failed. Press Enter to try again.";
    } finally {
      inflight.delete(mine);
      if (!inflight.size) setBusy(false);
      if (opts.typing) typingDone();
    }
  }

  function navigate(mode, opts) {
    const params = formParams();
    params.delete("page");
    return load(params, mode, opts);
  }

  // ---- typing: throttled (a leading call, then one at most every 90 ms, and a
  // trailing call for the last key), one typing request in flight at a time.
  let typingWanted = false;
  function typingInFlight() {
    for (const r of inflight.values()) if (r.typing) return r;
    return null;
  }
  function sendTyping() {
    clearTimeout(trailingTimer);
    trailingTimer = null;
    // At most two typing requests in flight, and none is ever aborted for newer text: with
    // 800 ms of latency, aborting those older than 700 ms meant no answer at all while typing
    // (review of issue 14). An older answer still shows (its words in the status line); the
    // latest text waits as one pending request, sent when one of the two answers.
    const running = [...inflight.values()].filter((r) => r.typing);
    if (running.length) {
      const newest = Math.max(...running.map((r) => r.started));
      if (running.length >= 2 || performance.now() - newest < PARALLEL_AFTER_MS) {
        return;                                          // typingDone() sends the next one
      }                                                  // else: a second request beside a slow one
    }
    typingWanted = false;
    lastTypingSent = performance.now();
    navigate(typingEntry ? "replace" : "push", { typing: true });
  }
  function scheduleTyping() {
    typingWanted = true;
    const wait = TYPING_INTERVAL_MS - (performance.now() - lastTypingSent);
    if (wait <= 0 && !typingInFlight()) sendTyping();
    else if (!trailingTimer) trailingTimer = setTimeout(sendTyping, Math.max(wait, typingInFlight() ? PARALLEL_AFTER_MS / 2 : 0));
  }
  function typingDone() {
    if (typingWanted && !trailingTimer) {
      const wait = TYPING_INTERVAL_MS - (performance.now() - lastTypingSent);
      trailingTimer = setTimeout(sendTyping, Math.max(wait, 0));
    }
  }

  input.addEventListener("input", () => {
    // A choice made with the arrow keys is for the words it was made on: typing on drops it,
    // or a later list still holding it would keep it and Enter would open it (review 9).
    if (active >= 0) highlight(-1);
    scheduleTyping();
    clearTimeout(settleTimer);
    settleTimer = setTimeout(() => {      // the user stopped: a kept list gives way to the real answer
      if (pendingStale && !typingWanted && !typingInFlight()
          && pendingStale.params.get("q") === formParams().get("q")) {   // only the box's own words' answer
        const { html, params } = pendingStale;
        pendingStale = null;
        render(html, params, null, {});
      }
    }, SETTLE_MS);
    suggestSoon();
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (document.activeElement && document.activeElement.matches(".facet-search")) return;
    clearTimeout(trailingTimer);
    trailingTimer = null;
    typingWanted = false;
    if (chooseActive()) return;
    closeList();
    typingEntry = false;
    navigate("push", { focus: document.activeElement === input ? null : { type: "start" } });
  });

  // Facets, sort, dates: any change in the page's controls other than the boxes.
  document.addEventListener("change", (e) => {
    const el = e.target;
    if (el === input || el.matches(".facet-search") || !region.contains(el)) return;
    typingEntry = false;
    navigate("push");
  });

  // ---- focus after a redraw: never left on the body
  function placeFocus(plan, refocus) {
    let target = null;
    if (plan) {
      if (plan.type === "chip") {
        const chips = region.querySelectorAll(".chips .chip");
        target = chips[Math.min(plan.index, chips.length - 1)] || region.querySelector(".clear-all");
      } else if (plan.type === "filter") {
        target = [...region.querySelectorAll(".chips .chip")].find(
          (c) => c.dataset.facet === plan.facet && c.dataset.value === plan.value);
      } else if (plan.type === "bar") {     // a phone's grouped bar or a desktop's bar: the one on screen
        target = [...region.querySelectorAll(`.timeline a[data-period="${CSS.escape(plan.period)}"]`)]
          .find((a) => a.getClientRects().length) || null;
      } else if (plan.type === "page") {
        target = region.querySelector(".hit .title a") || region.querySelector(".hit");
      }
      if (!target) target = region.querySelector("#results-start") || document.getElementById("results");
    } else if (refocus) {
      target = region.querySelector(refocus);
    }
    if (target) {
      target.focus({ preventScroll: true });
      if (plan && plan.type === "page") {
        (target.closest(".hit") || target).scrollIntoView({ block: "start" });
      } else if (plan) {
        target.scrollIntoView({ block: "nearest" });
      }
    } else if (document.activeElement === document.body || !document.activeElement) {
      if (refocus) document.getElementById("results")?.focus({ preventScroll: true });
    }
  }

  // Chips, tags, timeline bars, pages, "did you mean": links inside the results region.
  // A double click (or two quick taps) on a chip removed two filters: the second click
  // landed on the chip that slid into place. Pointer clicks on chips are ignored for a
  // moment after a removal; keyboard clicks (detail 0) are always deliberate.
  const CHIP_GUARD_MS = 500;
  let chipGuardUntil = 0;
  region.addEventListener("click", (e) => {
    const chip = e.target.closest(".chips .chip");
    if (chip && e.detail > 0) {
      if (performance.now() < chipGuardUntil) { e.preventDefault(); e.stopPropagation(); return; }
      chipGuardUntil = performance.now() + CHIP_GUARD_MS;
    }
  }, true);

  region.addEventListener("click", (e) => {
    const closer = e.target.closest("[data-close-drawer]");
    if (closer) {
      closeDrawer(!closer.hasAttribute("data-show-results"));
      if (closer.hasAttribute("data-show-results")) showResults();
      return;
    }
    const more = e.target.closest("a[data-facet-more]");
    if (more && !(e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0)) {
      e.preventDefault();
      loadFacet(more.dataset.facetMore, { more: true });
      return;
    }
    const link = e.target.closest("a[data-nav]");
    if (!link || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    const params = new URL(link.getAttribute("href"), location.href).searchParams;
    input.value = params.get("q") || "";
    typingEntry = false;
    let focus = { type: "start" };
    if (link.classList.contains("chip")) {
      focus = { type: "chip", index: [...region.querySelectorAll(".chips .chip")].indexOf(link) };
    } else if (link.classList.contains("tag")) {
      focus = { type: "filter", facet: link.dataset.facet, value: link.dataset.value };
    } else if (link.classList.contains("bar") || link.classList.contains("bar-group")) {
      focus = { type: "bar", period: link.dataset.period };
    } else if (link.closest(".pager")) {
      focus = { type: "page" };
    }
    load(params, "push", { focus, clear: link.hasAttribute("data-clear") });   // "Clear all" clears facet searches too
  });

  window.addEventListener("popstate", () => {
    const params = new URLSearchParams(location.search);
    input.value = params.get("q") || "";
    typingEntry = false;
    closeList();
    load(params, null);
  });

  // The skip link: to the first result (or what stands in its place).
  document.querySelector(".skip")?.addEventListener("click", (e) => {
    const start = document.getElementById("results-start");
    if (!start) return;
    e.preventDefault();
    start.focus({ preventScroll: true });
    start.scrollIntoView({ block: "start" });
  });

  // ---- facets: "show more" and a search box within each facet
  function facetStates() {
    return [...region.querySelectorAll("fieldset.facet[data-facet]")].map((fieldset) => ({
      facet: fieldset.dataset.facet,
      text: (fieldset.querySelector(".facet-search")?.value || "").trim(),
      expanded: fieldset.dataset.expanded === "1",
    })).filter((state) => state.text || state.expanded);
  }
  // One facet's fieldset for a search state, as the server renders it (fragment=facet).
  async function fetchFacet(params, { facet, text, expanded }, signal) {
    const query = new URLSearchParams(params);
    query.delete("page");
    query.set("fragment", "facet");
    query.set("facet", facet);
    query.set("per_page", "1");
    if (expanded || text) query.set("facet_limit", "1000");
    if (text) query.set("facet_query." + facet, text);
    const response = await fetch("/search?" + query.toString(), { signal, headers: { Accept: "text/html" } });
    if (!response.ok && response.status !== 400) return null;     // 400: a date error still lists the facets
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html")
      .querySelector(`fieldset.facet[data-facet="${CSS.escape(facet)}"]`);
    if (!fresh) return null;
    if (expanded) fresh.querySelector(".more")?.remove();
    return document.adoptNode(fresh);
  }
  const facetSeq = {};
  async function loadFacet(facet, { more = false } = {}) {
    const fieldset = region.querySelector(`fieldset[data-facet="${CSS.escape(facet)}"]`);
    if (!fieldset) return;
    const mine = (facetSeq[facet] = (facetSeq[facet] || 0) + 1);
    const params = formParams();
    params.delete("page");
    params.set("fragment", "facet");
    params.set("facet", facet);
    params.set("per_page", "1");
    const box = fieldset.querySelector(".facet-search");
    const wasExpanded = fieldset.dataset.expanded === "1";
    if (more || wasExpanded || (box && box.value.trim())) params.set("facet_limit", "1000");
    if (box && box.value.trim()) params.set("facet_query." + facet, box.value.trim());
    const before = fieldset.querySelectorAll("input[type=checkbox]").length;
    fieldset.setAttribute("aria-busy", "true");
    try {
      const response = await fetch("/search?" + params.toString(), { headers: { Accept: "text/html" } });
      if ((!response.ok && response.status !== 400) || mine !== facetSeq[facet]) return;   // 400: the date error
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.querySelector(`fieldset.facet[data-facet="${CSS.escape(facet)}"]`);
      if (!fresh) return;
      if (more) fieldset.dataset.expanded = "1";
      fieldset.querySelector("ul").replaceWith(fresh.querySelector("ul"));
      fieldset.querySelector(".more")?.remove();
      const freshMore = fresh.querySelector(".more");
      if (freshMore && !(more || wasExpanded)) fieldset.appendChild(freshMore);
      if (!box && fresh.querySelector(".facet-search")) {
        fieldset.querySelector("legend").after(fresh.querySelector(".facet-search"));
      }
      if (more) {   // keyboard: go on from the first value that was not shown before
        const boxes = fieldset.querySelectorAll("input[type=checkbox]");
        (boxes[before] || boxes[0] || fieldset.querySelector(".facet-search"))?.focus();
        const n = boxes.length;
        // its own (visually hidden) live region: the status line keeps the result count
        const said = document.getElementById("facet-status") || status;
        said.textContent = `${n} ${fieldset.querySelector("legend").textContent.toLowerCase()} values listed.`;
      }
    } finally {
      fieldset.removeAttribute("aria-busy");
    }
  }
  let facetTimer = null;
  region.addEventListener("input", (e) => {
    const box = e.target.closest(".facet-search");
    if (!box) return;
    clearTimeout(facetTimer);
    facetTimer = setTimeout(() => loadFacet(box.dataset.facetSearch), 120);
  });
  region.addEventListener("keydown", (e) => {
    const box = e.target.closest(".facet-search");
    if (box && e.key === "Enter") { e.preventDefault(); clearTimeout(facetTimer); loadFacet(box.dataset.facetSearch); }
    if (box && e.key === "Escape" && box.value) { e.preventDefault(); e.stopPropagation(); box.value = ""; loadFacet(box.dataset.facetSearch); }
  });

  // ---- the filter drawer (phones)
  function drawerOpen() { return !!region?.querySelector(".facets.open"); }
  // While the drawer covers the page, the rest of the page is inert (no Tab behind it).
  function setInert(on) {
    for (const el of [document.querySelector(".masthead"), document.querySelector(".statusbar"),
                      document.getElementById("results"), document.querySelector(".site-footer")]) {
      if (el) el.inert = on;
    }
  }
  function openDrawer() {
    const facets = region.querySelector(".facets");
    if (!facets) return;
    setInert(true);
    facets.classList.add("open");
    document.body.classList.add("drawer-open");
    toggle.setAttribute("aria-expanded", "true");
    (facets.querySelector(".facet input") || facets.querySelector("button"))?.focus();
  }
  function closeDrawer(refocusToggle) {
    region.querySelector(".facets")?.classList.remove("open");
    document.body.classList.remove("drawer-open");
    setInert(false);
    toggle?.setAttribute("aria-expanded", "false");
    if (refocusToggle) toggle?.focus();
  }
  function showResults() {
    const start = document.getElementById("results-start") || document.getElementById("results");
    start?.focus({ preventScroll: true });
    start?.scrollIntoView({ block: "start" });
  }
  toggle?.addEventListener("click", () => (drawerOpen() ? closeDrawer(true) : openDrawer()));
  // The drawer exists on phone widths only: a window widened (or a tablet turned)
  // past the breakpoint closes it, or the page behind would stay inert.
  const phoneWidth = window.matchMedia("(max-width: 760px)");
  phoneWidth.addEventListener("change", (event) => { if (!event.matches && drawerOpen()) closeDrawer(false); });

  // ---- autocomplete (WAI-ARIA combobox with a grouped listbox)
  let suggestTimer = null;
  let suggestSeq = 0;
  let suggestAbort = null;
  let active = -1;
  let items = [];
  const SECTIONS = [["query", "Searches"], ["facet", "Regulators and places"], ["item", "Articles"]];
  const FACET_NAMES = { topic: "Topic", jurisdiction: "Place", regulator: "Regulator", provider: "Provider", year: "Year" };

  function suggestSoon() {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(fetchSuggestions, 60);
  }

  async function fetchSuggestions() {
    const text = input.value;
    const mine = ++suggestSeq;
    if (suggestAbort) suggestAbort.abort();
    if (!text.trim()) { closeList(); return; }
    suggestAbort = new AbortController();
    try {
      const response = await fetch("/api/suggest?q=" + encodeURIComponent(text), { signal: suggestAbort.signal });
      const data = await response.json();
      if (mine !== suggestSeq || document.activeElement !== input) return;
      renderSuggestions(data.suggestions || [], text);
    } catch (error) { /* suggestions are optional */ }
  }

  // The typed words in bold: built as text nodes and <b> elements, never as HTML.
  function bolded(text, typed) {
    const words = typed.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
    const frag = document.createDocumentFragment();
    const lower = text.toLowerCase();
    const marks = new Array(text.length).fill(false);
    if (lower.startsWith(typed.toLowerCase().trimStart()) && typed.trim()) {
      marks.fill(true, 0, typed.trimStart().length);
    } else {
      for (const w of words) {
        let at = 0;
        while ((at = lower.indexOf(w, at)) !== -1) {
          const startsWord = at === 0 || !/[\p{L}\p{N}]/u.test(lower[at - 1]);
          if (startsWord) marks.fill(true, at, at + w.length);
          at += w.length;
        }
      }
    }
    let i = 0;
    while (i < text.length) {
      let j = i;
      while (j < text.length && marks[j] === marks[i]) j++;
      const piece = text.slice(i, j);
      if (marks[i]) { const b = document.createElement("b"); b.textContent = piece; frag.appendChild(b); }
      else frag.appendChild(document.createTextNode(piece));
      i = j;
    }
    return frag;
  }

  function renderSuggestions(suggestions, typed) {
    const seen = new Set();
    const kept = [];
    for (const s of suggestions) {
      const key = (s.kind === "facet" ? s.facet + ":" + s.value : s.text).toLowerCase();
      if (!s.text || seen.has(s.kind + key)) continue;
      if (s.kind === "query" && s.text.trim().toLowerCase() === typed.trim().toLowerCase()) continue;
      if (s.kind === "query") {              // "ai ai": a completion repeating an earlier word is no help
        const words = s.text.toLowerCase().split(/\s+/);
        if (words.length > 1 && words.slice(0, -1).includes(words[words.length - 1])) continue;
      }
      seen.add(s.kind + key);
      kept.push(s);
    }
    // A list arriving after the user has moved into the one on screen (a late answer
    // for the same words: CI caught ArrowDown's choice wiped this way) keeps that choice.
    const chosen = active >= 0 && items[active] ? suggestionKey(items[active]) : null;
    items = [];
    active = -1;
    list.replaceChildren();
    for (const [kind, title] of SECTIONS) {
      const group = kept.filter((s) => s.kind === kind);
      if (!group.length) continue;
      const section = document.createElement("div");
      section.setAttribute("role", "group");
      const label = document.createElement("div");
      label.className = "group-label";
      label.id = "suggest-group-" + kind;
      label.setAttribute("role", "presentation");
      label.textContent = title;
      section.setAttribute("aria-labelledby", label.id);
      section.appendChild(label);
      for (const s of group) {
        const i = items.length;
        items.push(s);
        const option = document.createElement("div");
        option.id = "suggestion-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.className = s.kind;
        option.appendChild(bolded(s.text, kind === "query" ? typed : typed));
        if (kind === "facet" && FACET_NAMES[s.facet]) {
          const what = document.createElement("span");
          what.className = "kind";
          what.textContent = " · " + FACET_NAMES[s.facet];
          option.appendChild(what);
        }
        option.addEventListener("mousedown", (e) => { e.preventDefault(); choose(i); });
        section.appendChild(option);
      }
      list.appendChild(section);
    }
    const open = items.length > 0;
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    input.removeAttribute("aria-activedescendant");
    const again = chosen === null ? -1 : items.findIndex((s) => suggestionKey(s) === chosen);
    if (again >= 0) highlight(again);
  }

  function suggestionKey(s) {
    // an article by its address: two articles may share a title
    const what = s.kind === "facet" ? s.facet + ":" + s.value : s.kind === "item" ? (s.url || s.text) : s.text;
    return s.kind + ":" + what.toLowerCase();
  }

  function closeList() {
    clearTimeout(suggestTimer);
    suggestSeq++;
    items = [];
    active = -1;
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    const options = list.querySelectorAll("[role=option]");
    options.forEach((o, i) => o.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  }

  function choose(index) {
    const s = items[index];
    if (!s) return false;
    closeList();
    clearTimeout(trailingTimer);
    trailingTimer = null;
    typingWanted = false;
    typingEntry = false;
    if (s.kind === "item") { window.location.assign(s.url); return true; }
    if (s.kind === "facet") {
      // A regulator or a place: a filter, and the words that named it leave the box.
      const params = formParams();
      params.delete("page");
      // The engine says which words remain (its url's q); else drop the word being typed.
      let rest = null;
      try { rest = new URL(s.url, location.href).searchParams.get("q"); } catch (error) { rest = null; }
      if (rest === null) { const words = input.value.trim().split(/\s+/); words.pop(); rest = words.join(" "); }
      input.value = rest;
      if (input.value) params.set("q", input.value); else params.delete("q");
      if (!params.getAll(s.facet).includes(s.value)) params.append(s.facet, s.value);
      load(params, "push", { focus: { type: "filter", facet: s.facet, value: s.value } });
      return true;
    }
    input.value = s.text;
    navigate("push");
    return true;
  }

  function chooseActive() { return active >= 0 && choose(active); }

  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      // The first Escape closes the suggestions; none clears the box (the browser's default for type=search).
      e.preventDefault();
      if (!list.hidden) closeList();
      return;
    }
    if (list.hidden || !items.length) return;
    if (e.key === "ArrowDown") { e.preventDefault(); highlight((active + 1) % items.length); }
    else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active <= 0 ? items.length - 1 : active - 1); }
  });
  input.addEventListener("blur", () => setTimeout(closeList, 120));
})();
