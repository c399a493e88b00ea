/* Shared by the page scripts: the visitor's user token and calls to the matchgraph API.
 *
 * The token is first-party and random (never derived from the person), kept in localStorage, and sent as
 * `user_token` (query parameter on /v1/search, JSON field on /v1/feedback) so the API can count a person's
 * searches and votes once. If this server does not know a parameter yet (a 422 naming it), the call is
 * repeated without it and the parameter is not sent again on this page. */
(function () {
  "use strict";
  var KEY = "matchgraph:user_token";
  var unsupported = {};
  /* The server says which optional contracts it has (<meta name="matchgraph-api">); others are not sent. */
  var meta = document.querySelector('meta[name="matchgraph-api"]');
  if (meta) {
    var have = meta.content.split(/\s+/);
    ["user_token", "facets", "suggest"].forEach(function (k) { if (have.indexOf(k) < 0) unsupported[k] = true; });
  }
  var memoryToken = null;

  function randomToken() {
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function token() {
    try {
      var t = localStorage.getItem(KEY);
      if (!t || !/^[0-9a-f]{32}$/.test(t)) { t = randomToken(); localStorage.setItem(KEY, t); }
      return t;
    } catch (e) { /* storage blocked: one token per page view */
      if (!memoryToken) memoryToken = randomToken();
      return memoryToken;
    }
  }

  function rejectedField(resp) {
    if (resp.status !== 422) return Promise.resolve(null);
    return resp.clone().json().then(function (body) {
      var field = body && body.error && body.error.field;
      return field && field in OPTIONAL ? field : null;
    }, function () { return null; });
  }
  var OPTIONAL = { user_token: 1, facets: 1 };

  /* GET path?params as JSON; `extra` holds optional parameters the server may not know yet. */
  function getJSON(path, params, extra, init) {
    var p = new URLSearchParams(params);
    Object.keys(extra || {}).forEach(function (k) { if (!unsupported[k]) p.set(k, extra[k]); });
    return fetch(path + "?" + p, Object.assign({ headers: { Accept: "application/json" } }, init || {}))
      .then(function (resp) {
        return rejectedField(resp).then(function (field) {
          if (field && extra && field in extra && !unsupported[field]) {
            unsupported[field] = true;
            return getJSON(path, params, extra, init);
          }
          if (!resp.ok) { var err = new Error("HTTP " + resp.status); err.status = resp.status; throw err; }
          return resp.json();
        });
      });
  }

  function search(params, init) {
    return getJSON("/v1/search", params, { user_token: token() }, init);
  }

  /* POST /v1/feedback; resolves with the Response (202 when recorded). */
  function feedback(searchId, artifactId, event, dwellMs, keepalive) {
    var body = { search_id: searchId, artifact_id: artifactId, event: event };
    if (event === "dwell") body.dwell_ms = Math.max(0, Math.min(86400000, Math.round(dwellMs || 0)));
    if (!unsupported.user_token) body.user_token = token();
    return fetch("/v1/feedback", {
      method: "POST", keepalive: !!keepalive, headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return rejectedField(resp).then(function (field) {
        if (field === "user_token" && !unsupported.user_token) {
          unsupported.user_token = true;
          return feedback(searchId, artifactId, event, dwellMs, keepalive);
        }
        return resp;
      });
    });
  }

  function artifactPath(id) {
    return "/artifacts/" + id.split("/").map(encodeURIComponent).join("/");
  }

  /* What a person opened from a result: the search page sends the dwell when they come back. */
  var VISIT = "matchgraph:visit";
  function rememberVisit(searchId, artifactId) {
    try {
      sessionStorage.setItem(VISIT, JSON.stringify({ search_id: searchId, artifact_id: artifactId,
                                                      started: Date.now() }));
    } catch (e) { /* no storage: no dwell */ }
  }
  function visit() {
    try { return JSON.parse(sessionStorage.getItem(VISIT) || "null"); } catch (e) { return null; }
  }
  function endVisit() {
    try { sessionStorage.removeItem(VISIT); } catch (e) { /* ignore */ }
  }

  /* Helpful / Not helpful buttons inside `root` (a [data-feedback] element with data-search-id and
   * data-artifact-id), as toggle buttons: pressing the other one changes the vote (the API replaces it),
   * pressing the pressed one withdraws it (event `unvote`). The status line (aria-live) says what counted. */
  var SAID = {
    upvote: "Counted: marked helpful. Press it again to withdraw.",
    downvote: "Counted: marked not helpful. Press it again to withdraw.",
    changed_upvote: "Changed: now marked helpful.",
    changed_downvote: "Changed: now marked not helpful.",
    unvote: "Your vote is withdrawn."
  };
  function wireVotes(root, getSearchId) {
    var buttons = root.querySelectorAll("button[data-vote]");
    var status = root.querySelector(".fb-status");
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", function () {
        if (root.dataset.busy) return;
        root.dataset.busy = "1";
        var before = root.dataset.vote || "";
        var event = before === button.dataset.vote ? "unvote" : button.dataset.vote;
        status.textContent = "Sending\u2026";
        Promise.resolve(getSearchId ? getSearchId() : root.dataset.searchId).then(function (searchId) {
          return feedback(searchId, root.dataset.artifactId, event, 0, false);
        }).then(function (resp) {
          if (!resp.ok) throw new Error("HTTP " + resp.status);
          var now = event === "unvote" ? "" : event;
          root.dataset.vote = now;
          Array.prototype.forEach.call(buttons, function (b) {
            b.setAttribute("aria-pressed", b.dataset.vote === now ? "true" : "false");
          });
          delete root.dataset.busy;
          root.classList.toggle("fb-done", !!now);
          status.textContent = SAID[before && now ? "changed_" + now : event];
        }).catch(function () {
          delete root.dataset.busy;
          status.textContent = event === "unvote" ? "Could not withdraw your vote. Try again." :
            "Could not send your vote. Try again.";
        });
      });
    });
    root.hidden = false;
  }

  function supports(name) { return !unsupported[name]; }

  /* Name completions from GET /v1/suggest as [{id, name, type}] (`type`: an optional type filter). Resolves
   * null where this server has no /v1/suggest; asks nothing for text longer than any name. Records nothing. */
  var SUGGEST_MAX = 200;
  function suggest(q, k, type) {
    if (unsupported.suggest) return Promise.resolve(null);
    if (q.length > SUGGEST_MAX) return Promise.resolve([]);
    var params = { q: q, k: String(k) };
    if (type) params.type = type;
    return getJSON("/v1/suggest", params).then(function (data) {
      return data.suggestions.map(function (s) { return { id: s.artifact_id, name: s.name, type: s.type }; });
    }, function (err) {
      if (err.status !== 404 && err.status !== 405) throw err;
      unsupported.suggest = true;
      return null;
    });
  }

  /* An ARIA combobox (the WAI-ARIA "list autocomplete" pattern) on `input` with the listbox `list`: as the
   * text changes, `source(q)` (a Promise of [{id, name, type}]) fills the list; Down/Up move through it
   * (Up from the first option goes back to the text), Enter or a click calls `pick(item)`, Esc or leaving
   * the box closes it. Keys it uses are preventDefault()ed, so page handlers skip e.defaultPrevented ones.
   * Returns {close, isOpen}; close() also drops an answer still on its way. */
  function combobox(input, list, source, pick, opts) {
    var delay = (opts && opts.delay) || 150;
    var minChars = (opts && opts.minChars) || 2;
    var timer = null;
    var active = -1;
    var items = [];
    var asked = 0;
    var controls = (input.getAttribute("aria-controls") || "").split(/\s+/).filter(Boolean);
    if (controls.indexOf(list.id) < 0) input.setAttribute("aria-controls", [list.id].concat(controls).join(" "));
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");

    function close() {
      clearTimeout(timer);
      asked++;
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(i) {
      var options = list.querySelectorAll("[role=option]");
      active = i;
      Array.prototype.forEach.call(options, function (o, j) { o.setAttribute("aria-selected", j === i ? "true" : "false"); });
      if (options[i]) {
        input.setAttribute("aria-activedescendant", options[i].id);
        options[i].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function choose(i) {
      var item = items[i];
      if (!item) return;
      close();
      pick(item);
    }

    function render(found) {
      items = found;
      list.replaceChildren();
      found.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = input.id + "-opt-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.id = item.id;
        var name = document.createElement("span");
        name.className = "s-name";
        name.textContent = item.name;
        var meta = document.createElement("span");
        meta.className = "s-meta";
        meta.textContent = item.type + (item.id.toLowerCase() !== item.name.toLowerCase() ? " \u00b7 " + item.id : "");
        li.append(name, meta);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); });  /* keep focus in the input */
        li.addEventListener("click", function () { choose(i); });
        list.appendChild(li);
      });
      list.hidden = !found.length;
      input.setAttribute("aria-expanded", found.length ? "true" : "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    input.addEventListener("input", function () {
      var q = input.value.trim();
      clearTimeout(timer);
      var ticket = ++asked;  /* an older answer is dropped; the list shown stays until the new one */
      highlight(-1);
      if (q.length < minChars) { close(); return; }
      timer = setTimeout(function () {
        source(q).then(function (found) {
          /* an answer that arrives after focus left the box opens nothing over the page */
          if (ticket === asked && input.value.trim() === q && document.activeElement === input) render(found || []);
        }).catch(function () { if (ticket === asked) close(); });
      }, delay);
    });

    input.addEventListener("keydown", function (e) {
      if (list.hidden) return;
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(Math.min(items.length - 1, active + 1)); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(Math.max(-1, active - 1)); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); choose(active); }
      else if (e.key === "Escape") { e.preventDefault(); close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 100); });

    return { close: close, isOpen: function () { return !list.hidden; } };
  }

  window.matchgraph = { supports: supports, token: token, getJSON: getJSON, search: search, feedback: feedback,
                        suggest: suggest, combobox: combobox, artifactPath: artifactPath,
                        rememberVisit: rememberVisit, visit: visit, endVisit: endVisit, wireVotes: wireVotes };
})();
