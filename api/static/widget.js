/* Embeddable "similar artifacts" widget for any site (pages of any origin, local files included).
 *
 * Script variant (inserts the iframe):
 *   <script src="https://MATCHGRAPH/static/widget.js" data-artifact="bigcode/the-stack-v2" async></script>
 *   options: data-k="5" (1-10 alternatives), data-type="dataset" (only that type),
 *            data-theme="light|dark|auto", data-target="#css-selector" (where to put it)
 * Iframe variant (the same script beside it, without data-artifact, keeps the height right):
 *   <iframe src="https://MATCHGRAPH/widget/similar/bigcode/the-stack-v2?k=5&theme=auto" class="matchgraph-similar"
 *           width="100%" height="360" style="border:0"></iframe>
 *   <script src="https://MATCHGRAPH/static/widget.js" async></script>
 * The framed page reports its height by postMessage whenever its content changes; the iframe follows. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src, location.href).origin;

  /* One listener per page and server, however many widgets and scripts the page holds. */
  var listeners = window.__matchgraphWidget = window.__matchgraphWidget || {};
  if (!listeners[origin]) {
    listeners[origin] = true;
    window.addEventListener("message", function (e) {
      var data = e.data;
      if (e.origin !== origin || !data || data.type !== "matchgraph:height") return;
      var frames = document.getElementsByTagName("iframe");
      for (var i = 0; i < frames.length; i++) {
        if (frames[i].contentWindow !== e.source) continue;
        var height = Math.ceil(Number(data.height));
        if (height > 0 && height < 5000) {
          frames[i].style.height = height + "px";
          frames[i].setAttribute("height", String(height));
        }
      }
    });
  }

  var id = script.dataset.artifact;
  if (!id) return;
  var params = new URLSearchParams();
  params.set("k", String(Math.min(10, Math.max(1, parseInt(script.dataset.k || "5", 10) || 5))));
  if (script.dataset.type) params.set("type", script.dataset.type);
  if (script.dataset.theme) params.set("theme", script.dataset.theme);
  var src = origin + "/widget/similar/" + id.split("/").map(encodeURIComponent).join("/") + "?" + params;

  var frame = document.createElement("iframe");
  frame.src = src;
  frame.title = "Artifacts similar to " + id;
  frame.loading = "lazy";
  frame.width = "100%";
  frame.height = "120";
  frame.className = "matchgraph-similar";
  frame.setAttribute("frameborder", "0");
  frame.style.border = "0";
  frame.style.width = "100%";
  frame.style.maxWidth = "100%";
  frame.style.colorScheme = "normal";

  var target = script.dataset.target ? document.querySelector(script.dataset.target) : null;
  if (target) target.appendChild(frame);
  else script.parentNode.insertBefore(frame, script.nextSibling);
})();
