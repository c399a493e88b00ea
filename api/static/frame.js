/* Inside the widget iframe: tell the embedding page how tall the content is, whenever it changes. */
(function () {
  "use strict";
  if (window.parent === window) return;
  var last = 0;
  function report() {
    var height = document.documentElement.scrollHeight;
    if (height === last) return;
    last = height;
    window.parent.postMessage({ type: "matchgraph:height", height: height }, "*");
  }
  report();
  window.addEventListener("load", report);
  if (window.ResizeObserver) new ResizeObserver(report).observe(document.body);
})();
