/* The compare form's A/B pickers: names suggested as you type (mg.combobox, an ARIA combobox with a listbox).
 * Suggestions come from GET /v1/suggest (name completions); where a server does not have it yet they come
 * from a preview search (record=false, nothing stored). Without this script the form still works: the server
 * accepts names as well as ids and offers choices when a name is unknown or ambiguous. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-compare]");
  if (!form || !window.matchgraph) return;
  var mg = window.matchgraph;
  var K = 8;

  function fromSearch(q) {
    return mg.search({ q: q, k: String(K), record: "false" }).then(function (data) {
      return data.results.map(function (r) { return { id: r.artifact_id, name: r.name, type: r.type }; });
    });
  }

  /* Name completions first; when they are few (several words, a description rather than a name), topped up
   * with what a preview search finds, without duplicates. */
  function suggestions(q) {
    return mg.suggest(q, K).then(function (named) {
      if (named === null) return fromSearch(q);  /* no /v1/suggest on this server */
      if (named.length >= 3) return named;
      return fromSearch(q).then(function (found) {
        var seen = {};
        named.forEach(function (s) { seen[s.id] = true; });
        return named.concat(found.filter(function (s) { return !seen[s.id]; })).slice(0, K);
      }, function () { return named; });
    });
  }

  Array.prototype.forEach.call(form.querySelectorAll("[data-picker]"), function (box) {
    var input = box.querySelector("input");
    input.addEventListener("input", function () { delete input.dataset.id; });
    mg.combobox(input, box.querySelector("[role=listbox]"), suggestions, function (item) {
      input.value = item.name;
      input.dataset.id = item.id;
      input.dataset.name = item.name;
      input.removeAttribute("aria-invalid");
    });
  });

  /* A picked suggestion is sent as its id, so two artifacts with one name never get mixed up. */
  form.addEventListener("submit", function () {
    Array.prototype.forEach.call(form.querySelectorAll("[data-picker] input"), function (input) {
      if (input.dataset.id && input.value === input.dataset.name) input.value = input.dataset.id;
    });
  });
})();
