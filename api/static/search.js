/* Search as you type, name suggestions, click and vote feedback, dwell time, compare checkboxes and arrow-key
 * navigation for the search page.
 * Progressive enhancement: without this file the page is a plain GET form whose results link through /click
 * (which records the click on the server), whose pages are links and whose compare checkboxes submit a form.
 * With it, results come from /results: the server's own card, status, filter and pager HTML, so both paths
 * show the same card. Needs static/mg.js (user token, API calls). */
(function () {
  "use strict";
  var mg = window.matchgraph;

  var form = document.querySelector("form[data-search]");
  var results = document.getElementById("results");
  var status = document.getElementById("search-status");
  var chips = document.getElementById("active-filters");
  var pager = document.getElementById("pager");
  var compareBar = document.getElementById("compare-bar");
  var compareCount = document.getElementById("compare-count");
  var compareGo = document.getElementById("compare-go");
  var starts = document.querySelectorAll(".popular, .start, .browse");
  if (!form || !results || !status || !chips || !pager || !mg) return;
  var input = form.elements.q;
  var DEBOUNCE_MS = 250;
  var SETTLE_MS = 1500; /* previews while typing are not recorded; the query a person settles on is */
  var MIN_CHARS = 2;
  var MAX_COMPARED = 4; /* as /compare */
  var FIELDS = ["type", "pricing", "sort", "max_input_usd_per_mtok", "min_context_tokens", "license",
                "open_weights", "modality_in", "modality_out"];
  var timer = null;
  var controller = null;
  var lastKey = null;
  var picked = [];
  /* the page a server-rendered list is on; typing, a filter or the sort starts again from the first */
  var offset = Number(new URLSearchParams(location.search).get("offset")) || 0;
  /* constraints read from the words that the person removed (`ignore=`): kept until the words change */
  var ignore = new URLSearchParams(location.search).getAll("ignore");

  var artifactPath = mg.artifactPath;

  /* The /click link of a result: with the page's own token, since only the identity that made the search
   * may record a click on it (the server checks; the link still leads to the artifact either way). */
  function clickHref(searchId, artifactId) {
    var p = { search_id: searchId, artifact_id: artifactId };
    if (mg.supports("user_token")) p.user_token = mg.token();
    return "/click?" + new URLSearchParams(p);
  }

  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }

  /* Facet counts label each filter option with what this query would return; options that would return
   * nothing are disabled, the chosen one always stays. */
  function showFacets(facets) {
    ["type", "pricing"].forEach(function (name) {
      var select = form.elements[name];
      var counts = facets && facets[name];
      if (!select || !counts) return;
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) return;
        var n = counts[option.value] || 0;
        option.textContent = option.dataset.label + " (" + n.toLocaleString("en") + ")";
        option.disabled = !n && !option.selected;
      });
    });
  }

  function wire(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-feedback]"), function (fb) {
      mg.wireVotes(fb, function () {
        /* a vote on a preview (or on a page the server rendered for this address) first records the search
         * for this page's token, so the vote lands on a search its sender owns */
        var recorded = results.dataset.recorded === "true" ? Promise.resolve(null) : run(true);
        return recorded.then(function () { return results.dataset.searchId; });
      });
    });
    Array.prototype.forEach.call(root.querySelectorAll(".cmp-box"), function (box) {
      box.checked = picked.indexOf(box.value) >= 0;
    });
    showPicked();
  }

  function params() {
    var p = new URLSearchParams();
    p.set("q", input.value.trim());
    FIELDS.forEach(function (name) {
      var el = form.elements[name];
      var value = el && el.value.trim();
      if (value && !(name === "sort" && value === "relevance")) p.set(name, value);
    });
    if (offset) p.set("offset", String(offset));
    ignore.forEach(function (param) { p.append("ignore", param); });
    return p;
  }

  function showStart(on) {
    Array.prototype.forEach.call(starts, function (el) { el.hidden = !on; });
  }

  function clear() {
    results.replaceChildren();
    pager.replaceChildren();
    chips.replaceChildren();
    delete results.dataset.searchId;
    status.textContent = "";
    showStart(true);
    lastKey = null;
    history.replaceState(null, "", location.pathname);
  }

  function run(record) {
    var p = params();
    if (p.get("q").length < MIN_CHARS) { clear(); return Promise.resolve(null); }
    var key = p.toString();
    if (key === lastKey && (!record || results.dataset.recorded === "true")) return Promise.resolve(null);
    lastKey = key;
    if (controller) controller.abort();
    controller = new AbortController();
    form.setAttribute("aria-busy", "true");
    var ask = new URLSearchParams(p);
    ask.set("record", record ? "true" : "false");
    if (mg.supports("user_token")) ask.set("user_token", mg.token());
    return fetch("/results?" + ask, { headers: { Accept: "application/json" }, signal: controller.signal })
      .then(function (resp) {
        if (!resp.ok) { var err = new Error("HTTP " + resp.status); err.status = resp.status; throw err; }
        return resp.json();
      })
      .then(function (data) {
        var shown = Array.prototype.map.call(results.children, function (li) { return li.dataset.artifactId; });
        var same = shown.length === data.ids.length && data.ids.every(function (id, i) { return shown[i] === id; });
        if (same) {
          /* the same results, now recorded: keep the cards (and the focus of someone moving through them) */
          Array.prototype.forEach.call(results.querySelectorAll(".card-link, [data-feedback]"), function (el) {
            el.dataset.searchId = data.search_id;
            if (el.classList.contains("card-link")) el.href = clickHref(data.search_id, el.dataset.artifactId);
          });
        } else {
          results.replaceChildren(fragment(data.html.cards));
        }
        chips.replaceChildren(fragment(data.html.chips));
        pager.replaceChildren(fragment(data.html.pager));
        status.textContent = fragment(data.html.status).textContent.trim();
        results.dataset.searchId = data.search_id;
        results.dataset.recorded = data.recorded ? "true" : "false";
        if (!same) wire(results);
        if (compareBar) compareBar.hidden = !data.ids.length && !picked.length;
        showFacets(data.facets);
        showStart(false);
        history.replaceState(null, "", "?" + key);
      })
      .catch(function (err) {
        if (err.name === "AbortError") return;
        lastKey = null;
        status.textContent = "Search is unavailable right now. Press Enter to try again.";
      })
      .finally(function () { form.removeAttribute("aria-busy"); });
  }

  var settle = null;
  function schedule() {
    clearTimeout(timer);
    clearTimeout(settle);
    timer = setTimeout(function () { run(false); }, DEBOUNCE_MS);
    settle = setTimeout(function () { run(true); }, SETTLE_MS);
  }

  input.addEventListener("input", function () { offset = 0; ignore = []; schedule(); });
  form.addEventListener("change", function (e) {
    if (e.target === input || e.target.closest(".cmp-box")) return;
    offset = 0;
    if (names) names.close();  /* a filter was picked: the suggestions do not stay open over it */
    clearTimeout(timer);
    run(true);
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (names) names.close();
    offset = 0;
    clearTimeout(timer);
    clearTimeout(settle);
    lastKey = null;
    run(true);
  });

  /* Compare: up to four ticked results open /compare?ids=a,b,c (the no-JavaScript form sends ids=a&ids=b). */
  function showPicked() {
    if (!compareBar) return;
    var n = picked.length;
    compareBar.classList.toggle("picking", n > 0);  /* stays in view only while results are being picked */
    compareCount.textContent = n ? n + " of up to " + MAX_COMPARED + " picked to compare" +
      (n < 2 ? ": tick one more." : ".") : "Tick 2 to 4 results to compare them.";
    compareGo.setAttribute("aria-disabled", n < 2 ? "true" : "false");
    Array.prototype.forEach.call(results.querySelectorAll(".cmp-box"), function (box) {
      box.disabled = !box.checked && n >= MAX_COMPARED;
    });
  }
  results.addEventListener("change", function (e) {
    var box = e.target.closest(".cmp-box");
    if (!box) return;
    var at = picked.indexOf(box.value);
    if (box.checked && at < 0) picked.push(box.value);
    if (!box.checked && at >= 0) picked.splice(at, 1);
    showPicked();
  });
  if (compareGo) {
    compareGo.addEventListener("click", function (e) {
      e.preventDefault();
      if (picked.length < 2) { compareCount.textContent = "Tick at least 2 results to compare them."; return; }
      location.assign("/compare?ids=" + picked.map(encodeURIComponent).join(","));
    });
  }

  /* Click: record feedback (keepalive survives the navigation), then open the artifact page.
   * Modified clicks (new tab) keep the /click link, which records the click on the server. */
  results.addEventListener("click", function (e) {
    var link = e.target.closest(".card-link");
    if (!link || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    clearTimeout(timer);
    clearTimeout(settle);
    /* A click on a preview first records the search it came from, so the click has a search to land on. */
    var recorded = results.dataset.recorded === "true" ? Promise.resolve(null) : run(true);
    var sent = recorded.then(function () {
      mg.rememberVisit(results.dataset.searchId, link.dataset.artifactId);
      return mg.feedback(results.dataset.searchId, link.dataset.artifactId, "click", 0, true);
    }).catch(function () { return null; });
    var go = function () { location.assign(link.dataset.href); };
    Promise.race([sent, new Promise(function (resolve) { setTimeout(resolve, 800); })]).then(go, go);
  });

  /* Names that match what is typed, in a list under the box (mg.combobox; GET /v1/suggest records nothing):
   * picking one opens its artifact page. The results below keep updating as the person types. */
  var SUGGESTIONS = 5;
  var list = document.getElementById("q-list");
  var names = list && mg.supports("suggest") ? mg.combobox(input, list, function (q) {
    return mg.suggest(q, SUGGESTIONS, form.elements.type && form.elements.type.value);
  }, function (item) {
    clearTimeout(timer);
    clearTimeout(settle);  /* a name was picked: the half-typed query is not a search to record */
    if (controller) controller.abort();
    location.assign(artifactPath(item.id));
  }) : null;

  /* Keyboard: Down from the box goes into the suggestions while they are open (the combobox takes the key),
   * else to the first result; Up/Down move between results, Esc goes back. */
  function links() { return Array.prototype.slice.call(results.querySelectorAll(".card-link")); }
  form.addEventListener("keydown", function (e) {
    if (e.defaultPrevented) return;
    if (e.target === input && e.key === "ArrowDown" && links().length) { e.preventDefault(); links()[0].focus(); }
  });
  results.addEventListener("keydown", function (e) {
    var all = links();
    var i = all.indexOf(document.activeElement);
    if (i < 0) return;
    if (e.key === "ArrowDown" && i < all.length - 1) { e.preventDefault(); all[i + 1].focus(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); (i > 0 ? all[i - 1] : input).focus(); }
    else if (e.key === "Escape") { e.preventDefault(); input.focus(); }
  });

  /* Server-rendered results: recorded for this page's token only when the URL carried it; otherwise they
   * belong to this address, so the first vote or click records them again for the token (the same person:
   * Times Matched does not count it twice). A later page keeps its offset. */
  if (results.dataset.searchId) {
    lastKey = params().toString();
    results.dataset.recorded = results.dataset.token && results.dataset.token === mg.token() ? "true" : "false";
    wire(results);
  }

  /* Dwell: back from an artifact opened here (Back button, bfcache or a fresh load), send how long the
   * person stayed on it. */
  function sendDwell() {
    var v = mg.visit();
    if (!v || !v.search_id || !v.artifact_id) return;
    mg.endVisit();
    mg.feedback(v.search_id, v.artifact_id, "dwell", Date.now() - v.started, true).catch(function () { return null; });
  }
  window.addEventListener("pageshow", sendDwell);
})();
