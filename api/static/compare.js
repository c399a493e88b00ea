/* The compare form's A/B pickers: names suggested as you type (an ARIA combobox with a listbox).
 * Suggestions come from GET /v1/suggest (name completions); where a server does not have it yet they come
 * from a preview search (record=false, nothing stored). Without this script the form still works: the server
 * accepts names as well as ids and offers choices when a name is unknown or ambiguous. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-compare]");
  if (!form || !window.matchgraph) return;
  var mg = window.matchgraph;
  var DEBOUNCE_MS = 150;
  var K = 8;
  var suggestMissing = !mg.supports("suggest");

  function fromSearch(q) {
    return mg.search({ q: q, k: String(K), record: "false" }).then(function (data) {
      return data.results.map(function (r) { return { id: r.artifact_id, name: r.name, type: r.type }; });
    });
  }

  /* Name completions first; when they are few (several words, a description rather than a name), topped up
   * with what a preview search finds, without duplicates. */
  function suggestions(q) {
    if (suggestMissing) return fromSearch(q);
    return mg.getJSON("/v1/suggest", { q: q, k: String(K) }).then(function (data) {
      var named = data.suggestions.map(function (s) { return { id: s.artifact_id, name: s.name, type: s.type }; });
      if (named.length >= 3) return named;
      return fromSearch(q).then(function (found) {
        var seen = {};
        named.forEach(function (s) { seen[s.id] = true; });
        return named.concat(found.filter(function (s) { return !seen[s.id]; })).slice(0, K);
      }, function () { return named; });
    }, function (err) {
      if (err.status !== 404 && err.status !== 405) throw err;
      suggestMissing = true;
      return fromSearch(q);
    });
  }

  Array.prototype.forEach.call(form.querySelectorAll("[data-picker]"), function (box) {
    var input = box.querySelector("input");
    var list = box.querySelector("[role=listbox]");
    var timer = null;
    var active = -1;
    var items = [];
    var asked = 0;

    function close() {
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
      }
    }

    function pick(i) {
      var item = items[i];
      if (!item) return;
      input.value = item.name;
      input.dataset.id = item.id;
      input.dataset.name = item.name;
      input.removeAttribute("aria-invalid");
      close();
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
        li.addEventListener("click", function () { pick(i); });
        list.appendChild(li);
      });
      list.hidden = !found.length;
      input.setAttribute("aria-expanded", found.length ? "true" : "false");
      active = -1;
    }

    input.addEventListener("input", function () {
      delete input.dataset.id;
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) { close(); return; }
      timer = setTimeout(function () {
        var ticket = ++asked;
        suggestions(q).then(function (found) {
          if (ticket === asked && input.value.trim() === q) render(found);
        }).catch(function () { if (ticket === asked) close(); });  /* typed ids still work */
      }, DEBOUNCE_MS);
    });

    input.addEventListener("keydown", function (e) {
      if (list.hidden) return;
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(Math.min(items.length - 1, active + 1)); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(Math.max(0, active - 1)); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); pick(active); }
      else if (e.key === "Escape") { e.preventDefault(); close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 100); });
  });

  /* A picked suggestion is sent as its id, so two artifacts with one name never get mixed up. */
  form.addEventListener("submit", function () {
    Array.prototype.forEach.call(form.querySelectorAll("[data-picker] input"), function (input) {
      if (input.dataset.id && input.value === input.dataset.name) input.value = input.dataset.id;
    });
  });
})();
