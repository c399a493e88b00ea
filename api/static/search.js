/* Search as you type, name suggestions, click and vote feedback, dwell time and arrow-key navigation for the
 * search page.
 * Progressive enhancement: without this file the page is a plain GET form whose results link
 * through /click (which records the click on the server). Needs static/mg.js (user token, API calls). */
(function () {
  "use strict";
  var mg = window.matchgraph;

  var form = document.querySelector("form[data-search]");
  var results = document.getElementById("results");
  var status = document.getElementById("search-status");
  var template = document.getElementById("card-template");
  var popular = document.querySelector(".popular");
  if (!form || !results || !status || !template || !mg) return;
  var input = form.elements.q;
  var DEBOUNCE_MS = 250;
  var SETTLE_MS = 1500; /* previews while typing are not recorded; the query a person settles on is */
  var MIN_CHARS = 2;
  var MIN_CAPABILITY_SCORE = 0.2; /* as in api/pages.py: the best capability, then only strong ones */
  var STOPWORDS = ["the", "and", "for", "with", "that", "from", "into", "this", "are", "can", "how", "what"];
  var timer = null;
  var controller = null;
  var lastKey = null;

  /* The rule of _terms_pattern() in api/pages.py: words of 3+ letters, no stopwords, plural "s" dropped. */
  function termsPattern(query) {
    var words = (query.toLowerCase().match(/[\p{L}\p{N}_]+/gu) || []).filter(function (w) {
      return w.length >= 3 && STOPWORDS.indexOf(w) < 0;
    }).map(function (w) {
      return w.length > 4 && w.charAt(w.length - 1) === "s" ? w.slice(0, -1) : w;
    }).filter(function (w, i, all) { return all.indexOf(w) === i; });
    if (!words.length) return null;
    words.sort(function (a, b) { return b.length - a.length || (a < b ? -1 : 1); });
    return new RegExp(words.map(function (w) { return w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }).join("|"), "gi");
  }

  function highlighted(text, pattern) {
    var frag = document.createDocumentFragment();
    if (!pattern) { frag.appendChild(document.createTextNode(text)); return frag; }
    var last = 0;
    text.replace(pattern, function (match, offset) {
      frag.appendChild(document.createTextNode(text.slice(last, offset)));
      var mark = document.createElement("mark");
      mark.textContent = match;
      frag.appendChild(mark);
      last = offset + match.length;
      return match;
    });
    frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  var artifactPath = mg.artifactPath;

  /* The /click link of a result: with the page's own token, since only the identity that made the search
   * may record a click on it (the server checks; the link still leads to the artifact either way). */
  function clickHref(searchId, artifactId) {
    var p = { search_id: searchId, artifact_id: artifactId };
    if (mg.supports("user_token")) p.user_token = mg.token();
    return "/click?" + new URLSearchParams(p);
  }

  function card(r, searchId, pattern) {
    var li = template.content.firstElementChild.cloneNode(true);
    var link = li.querySelector(".card-link");
    li.dataset.artifactId = r.artifact_id;
    link.textContent = r.name;
    link.href = clickHref(searchId, r.artifact_id);
    link.dataset.href = artifactPath(r.artifact_id);
    link.dataset.searchId = searchId;
    link.dataset.artifactId = r.artifact_id;
    li.querySelector(".card-type").textContent = r.type;
    li.querySelector(".card-rank").textContent = r.unfragile_rank;
    li.querySelector(".card-tm").textContent = r.times_matched;
    var fb = li.querySelector("[data-feedback]");
    fb.dataset.artifactId = r.artifact_id;
    fb.dataset.searchId = searchId;
    fb.setAttribute("aria-label", "Was " + r.name + " helpful?");
    var caps = li.querySelector(".caps");
    r.matched_capabilities.filter(function (c, i) { return i === 0 || c.score >= MIN_CAPABILITY_SCORE; }).forEach(function (c) {
      var item = document.createElement("li");
      item.className = "cap";
      var title = document.createElement("span");
      title.className = "cap-title";
      title.appendChild(highlighted(c.title, pattern));
      var score = document.createElement("span");
      score.className = "cap-score";
      score.title = "similarity to your query";
      score.textContent = c.score.toFixed(2);
      item.append(title, " ", score);
      caps.appendChild(item);
    });
    return li;
  }

  /* Worded as templates/_status.html: a weak search never claims that hundreds of artifacts "match". */
  function describe(data) {
    var q = "\u201c" + data.query + "\u201d";
    var shown = data.results.length;
    if (!data.total) return "No artifact matches " + q + ". Try other words or remove a filter.";
    if (data.low_confidence) {
      return "No close match for " + q + "; " + (shown === 1 ? "the nearest artifact is" : "the nearest " + shown + " are") +
        " shown. Try other words.";
    }
    var text = data.total.toLocaleString("en") + (data.total === 1 ? " artifact matches " : " artifacts match ") + q;
    if (data.total > shown) text += "; the top " + shown + " are shown";
    return text + ".";
  }

  /* Facet counts (when the API sends them) label each filter option with what this query would return;
   * options that would return nothing are disabled, the chosen one always stays. */
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
        /* a vote on a preview first records the search it came from, so the vote has a search to land on */
        var recorded = results.dataset.recorded === "true" ? Promise.resolve(null) : run(true);
        return recorded.then(function () { return results.dataset.searchId; });
      });
    });
  }

  function params() {
    var p = new URLSearchParams();
    p.set("q", input.value.trim());
    ["type", "pricing"].forEach(function (name) {
      var value = form.elements[name] && form.elements[name].value;
      if (value) p.set(name, value);
    });
    return p;
  }

  function clear() {
    results.replaceChildren();
    delete results.dataset.searchId;
    status.textContent = "";
    if (popular) popular.hidden = false;
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
    var api = new URLSearchParams(p);
    api.set("k", "10");
    api.set("record", record ? "true" : "false");
    return mg.getJSON("/v1/search", api, { user_token: mg.token(), facets: "type,pricing" },
                      { signal: controller.signal })
      .then(function (data) {
        var pattern = termsPattern(data.query);
        var shown = Array.prototype.map.call(results.children, function (li) { return li.dataset.artifactId; });
        var same = shown.length === data.results.length &&
          data.results.every(function (r, i) { return shown[i] === r.artifact_id; });
        if (same) {
          /* the same results, now recorded: keep the cards (and the focus of someone moving through them) */
          Array.prototype.forEach.call(results.querySelectorAll(".card-link, [data-feedback]"), function (el) {
            el.dataset.searchId = data.search_id;
            if (el.classList.contains("card-link")) {
              el.href = clickHref(data.search_id, el.dataset.artifactId);
            }
          });
        } else {
          var cards = data.results.map(function (r) { return card(r, data.search_id, pattern); });
          results.replaceChildren.apply(results, cards);
        }
        results.dataset.searchId = data.search_id;
        results.dataset.recorded = data.recorded ? "true" : "false";
        if (!same) wire(results);
        showFacets(data.facets);
        status.textContent = describe(data);
        if (popular) popular.hidden = true;
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

  input.addEventListener("input", schedule);
  form.addEventListener("change", function (e) { if (e.target !== input) { clearTimeout(timer); run(true); } });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (names) names.close();
    clearTimeout(timer);
    clearTimeout(settle);
    lastKey = null;
    run(true);
  });

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

  /* Server-rendered results count as the current query, so a refocus does not search again. */
  if (results.dataset.searchId) { lastKey = params().toString(); results.dataset.recorded = "true"; wire(results); }

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
