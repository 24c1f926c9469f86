/*
 * truetrace embed: paste
 *   <script src="https://YOUR-TRUETRACE/static/embed.js" data-gtin="04712345000022" data-lot="RICE-2611-01" async></script>
 * where the card should appear (data-lot is optional: without it the product's latest lot is
 * shown; data-lang="en" or "zh-Hant" picks the language). The script inserts an iframe after
 * itself and keeps its height equal to the card's.
 *
 * Without data-gtin (the oEmbed snippet), it sizes the iframes marked data-truetrace-embed
 * that show a card of the same server.
 *
 * Until the card says how tall it is (or where scripts cannot run) the frame keeps the fallback
 * height, which fits the tallest card without a recall notice in both languages (docs/embed.md).
 */
(function () {
  var FALLBACK_HEIGHT = 360;
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src).origin;
  var frames = [];

  function insertCard() {
    var gtin = script.getAttribute("data-gtin") || "";
    var lot = script.getAttribute("data-lot");
    var lang = script.getAttribute("data-lang");
    if (!/^\d{14}$/.test(gtin)) {
      console.error("truetrace embed: data-gtin must be a 14-digit GTIN");
      return;
    }
    var src = origin + "/embed/01/" + gtin + (lot ? "/10/" + encodeURIComponent(lot) : "");
    if (lang) src += "?lang=" + encodeURIComponent(lang);
    var frame = document.createElement("iframe");
    frame.src = src;
    frame.title = "truetrace provenance";
    frame.loading = "lazy";
    frame.style.cssText =
      "border:0;width:100%;max-width:360px;height:" + FALLBACK_HEIGHT + "px;display:block";
    script.parentNode.insertBefore(frame, script.nextSibling);
    frames.push(frame);
  }

  function adoptCards() {
    var marked = document.querySelectorAll("iframe[data-truetrace-embed]");
    for (var i = 0; i < marked.length; i++) {
      var frame = marked[i];
      if (frame.src.indexOf(origin + "/embed/") === 0) frames.push(frame);
    }
  }

  if (script.hasAttribute("data-gtin")) insertCard();
  else adoptCards();

  window.addEventListener("message", function (event) {
    if (event.origin !== origin) return;
    var data = event.data;
    if (!data || data.type !== "truetrace:height" || typeof data.height !== "number") return;
    for (var i = 0; i < frames.length; i++) {
      if (event.source === frames[i].contentWindow) {
        frames[i].style.height = Math.min(Math.max(data.height, 80), 2000) + "px";
      }
    }
  });
})();
