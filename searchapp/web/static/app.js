// searchapp: as-you-type search, facets without reloads, autocomplete.
// Progressive enhancement: without this file the form submits as a plain GET.
(() => {
  "use strict";
  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  document.documentElement.classList.add("js");
  document.addEventListener("keydown", (e) => {
    const tag = (e.target.tagName || "").toLowerCase();
    if (e.key === "/" && !["input", "textarea", "select"].includes(tag) && !e.target.isContentEditable) {
      e.preventDefault();
      if (input) { input.focus(); input.select(); }
    }
  });
  if (!form || !input) return;

  const region = document.getElementById("region");
  const status = document.getElementById("status");
  const list = document.getElementById("suggestions");
  const DEBOUNCE_MS = 140;
  let seq = 0;               // id of the newest request: an older answer never wins
  let inflight = null;       // AbortController of the running search
  let typingTimer = null;
  let typingEntry = false;   // typing replaces the history entry it created

  function formParams() {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (typeof value === "string" && value.trim() !== "") params.append(key, value);
    }
    if (params.get("sort") === "relevance") params.delete("sort");
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

  async function load(params, mode, opts = {}) {
    const mine = ++seq;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const url = urlFor(params);
    const fetchParams = new URLSearchParams(params);
    fetchParams.set("fragment", "1");
    const refocus = focusKey();
    region.setAttribute("aria-busy", "true");
    try {
      const response = await fetch("/search?" + fetchParams.toString(), {
        signal: inflight.signal, headers: { Accept: "text/html" },
      });
      const html = await response.text();
      if (mine !== seq) return;                      // a newer search was started
      if (response.status === 400 && opts.typing) {
        // Mid-typing (an unclosed quote...): say what is wrong, keep the results and the URL.
        const doc = new DOMParser().parseFromString(html, "text/html");
        const layout = doc.querySelector("[data-status]");
        status.textContent = layout ? layout.dataset.status : "This query cannot be searched yet.";
        return;
      }
      if (!response.ok && response.status !== 400) {
        status.textContent = "Search failed (" + response.status + "). Press Enter to try again.";
        return;
      }
      region.innerHTML = html;
      const layout = region.querySelector("[data-status]");
      status.textContent = layout ? layout.dataset.status : "";
      if (mode === "push") history.pushState({ searchapp: true }, "", url);
      else if (mode === "replace") history.replaceState({ searchapp: true }, "", url);
      if (opts.typing) typingEntry = true;           // only once its history entry exists
      document.title = (params.get("q") ? params.get("q") + " · " : "") + "searchapp";
      if (refocus) region.querySelector(refocus)?.focus();
    } catch (error) {
      if (error.name !== "AbortError" && mine === seq) status.textContent = "Search failed. Press Enter to try again.";
    } finally {
      if (mine === seq) region.removeAttribute("aria-busy");
    }
  }

  function navigate(mode, opts) {
    const params = formParams();
    params.delete("page");
    return load(params, mode, opts);
  }

  // Typing: debounced, newest answer only, the URL follows.
  input.addEventListener("input", () => {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => navigate(typingEntry ? "replace" : "push", { typing: true }), DEBOUNCE_MS);
    suggestSoon();
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(typingTimer);
    if (chooseActive()) return;
    closeList();
    typingEntry = false;
    navigate("push");
  });

  // Facets, sort, dates: any change in the form's controls other than the box.
  form.addEventListener("change", (e) => {
    if (e.target === input) return;
    typingEntry = false;
    navigate("push");
  });

  // Chips, pages, "did you mean": links inside the results region.
  region.addEventListener("click", (e) => {
    const link = e.target.closest("a[data-nav]");
    if (!link || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    // getAttribute: SVG links (the timeline's bars) have no .search
    const params = new URL(link.getAttribute("href"), location.href).searchParams;
    input.value = params.get("q") || "";
    typingEntry = false;
    load(params, "push").then(() => {
      if (link.rel === "next" || link.rel === "prev" || params.has("page")) {
        document.getElementById("results")?.focus({ preventScroll: false });
      }
    });
  });

  window.addEventListener("popstate", () => {
    const params = new URLSearchParams(location.search);
    input.value = params.get("q") || "";
    typingEntry = false;
    closeList();
    load(params, null);
  });

  // ---- autocomplete (WAI-ARIA combobox with a listbox)
  let suggestTimer = null;
  let suggestSeq = 0;
  let suggestAbort = null;
  let active = -1;
  let items = [];

  function suggestSoon() {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(fetchSuggestions, 90);
  }

  async function fetchSuggestions() {
    const text = input.value;
    const mine = ++suggestSeq;
    if (suggestAbort) suggestAbort.abort();
    if (text.trim().length < 2) { closeList(); return; }
    suggestAbort = new AbortController();
    try {
      const response = await fetch("/api/suggest?q=" + encodeURIComponent(text), { signal: suggestAbort.signal });
      const data = await response.json();
      if (mine !== suggestSeq || document.activeElement !== input) return;
      render(data.suggestions || []);
    } catch (error) { /* suggestions are optional */ }
  }

  function render(suggestions) {
    items = suggestions;
    active = -1;
    list.replaceChildren();
    suggestions.forEach((s, i) => {
      const li = document.createElement("li");
      li.id = "suggestion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.className = s.kind;
      li.textContent = s.text;                       // text, never HTML
      li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(i); });
      list.appendChild(li);
    });
    const open = suggestions.length > 0;
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    input.removeAttribute("aria-activedescendant");
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
    if (index >= 0) input.setAttribute("aria-activedescendant", options[index].id);
    else input.removeAttribute("aria-activedescendant");
  }

  function choose(index) {
    const s = items[index];
    if (!s) return false;
    closeList();
    if (s.kind === "item") { window.location.assign(s.url); return true; }
    input.value = s.text;
    clearTimeout(typingTimer);
    typingEntry = false;
    navigate("push");
    return true;
  }

  function chooseActive() { return active >= 0 && choose(active); }

  input.addEventListener("keydown", (e) => {
    if (list.hidden || !items.length) return;
    if (e.key === "ArrowDown") { e.preventDefault(); highlight((active + 1) % items.length); }
    else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active <= 0 ? items.length - 1 : active - 1); }
    else if (e.key === "Escape") { e.preventDefault(); closeList(); }
  });
  input.addEventListener("blur", () => setTimeout(closeList, 120));
})();
