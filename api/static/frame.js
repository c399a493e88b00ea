/* Inside the widget iframe: tell the embedding page how tall the content is, whenever it changes.
 * The body's own box is measured (the document's scrollHeight never drops below the iframe's current
 * height, so a widget could grow but never shrink). */
(function () {
  "use strict";
  if (window.parent === window) return;
  var last = 0;
  function report() {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    if (!height || height === last) return;
    last = height;
    window.parent.postMessage({ type: "matchgraph:height", height: height }, "*");
  }
  report();
  window.addEventListener("load", report);
  if (window.ResizeObserver) new ResizeObserver(report).observe(document.body);
})();
