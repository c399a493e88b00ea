/* The artifact page opened from a search result: "Was this what you searched for?" votes on that search, and
 * "← Search" goes back to the results (where the dwell time is sent). Needs static/mg.js. */
(function () {
  "use strict";
  var mg = window.matchgraph;
  var fb = document.querySelector(".fb-page[data-feedback]");
  if (!mg || !fb) return;
  var visit = mg.visit();
  if (!visit || visit.artifact_id !== fb.dataset.artifactId) return;
  fb.dataset.searchId = visit.search_id;
  mg.wireVotes(fb);
  var back = document.querySelector("a[data-back]");
  var from = null;
  try { from = document.referrer ? new URL(document.referrer) : null; } catch (e) { from = null; }
  if (back && from && from.origin === location.origin && from.pathname === "/" && history.length > 1) {
    back.href = from.pathname + from.search;
    back.addEventListener("click", function (e) {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      history.back();
    });
  }
})();
