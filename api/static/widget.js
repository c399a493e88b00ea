/* Embeddable "similar artifacts" widget for any site:
 *   <script src="https://MATCHGRAPH/static/widget.js" data-artifact="bigcode/the-stack-v2" async></script>
 * Optional: data-k="5" (1-10 alternatives), data-target="#css-selector" (where to put it).
 * It inserts an iframe of /widget/similar/<id> from the same server as this script and resizes it
 * to its content when the framed page reports its height. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.artifact) return;
  var origin = new URL(script.src, location.href).origin;
  var id = script.dataset.artifact;
  var k = parseInt(script.dataset.k || "5", 10) || 5;
  var src = origin + "/widget/similar/" + id.split("/").map(encodeURIComponent).join("/") + "?k=" + k;

  var frame = document.createElement("iframe");
  frame.src = src;
  frame.title = "Artifacts similar to " + id;
  frame.loading = "lazy";
  frame.width = "100%";
  frame.height = "360";
  frame.className = "matchgraph-similar";
  frame.setAttribute("frameborder", "0");
  frame.style.border = "0";
  frame.style.width = "100%";
  frame.style.maxWidth = "100%";

  var target = script.dataset.target ? document.querySelector(script.dataset.target) : null;
  if (target) target.appendChild(frame);
  else script.parentNode.insertBefore(frame, script.nextSibling);

  window.addEventListener("message", function (e) {
    var data = e.data;
    if (e.origin !== origin || e.source !== frame.contentWindow || !data || data.type !== "matchgraph:height") return;
    var height = Math.ceil(Number(data.height));
    if (height > 0 && height < 5000) frame.style.height = height + "px";
  });
})();
