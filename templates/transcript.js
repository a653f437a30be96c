// The HTML transcript's search: filters messages by text and by sender as you type, offline.
// It reads the page once (lazily, on first use) and then only toggles the `hidden` attribute
// of messages whose state changes, so it stays smooth on very long chats.
(function () {
  "use strict";
  var form = document.querySelector(".search");
  if (!form) { return; }
  var input = document.getElementById("search-text");
  var who = document.getElementById("search-who");
  var status = document.getElementById("search-status");
  var groups = Array.prototype.slice.call(document.querySelectorAll(".log .group"));
  var index = null;
  form.hidden = false;
  form.addEventListener("submit", function (event) { event.preventDefault(); });

  // Walks the DOM by hand: selector queries scoped to each of thousands of groups (like
  // `group.querySelector(".who .name")`) take seconds in Chromium on long chats.
  function childWithClass(node, name) {
    for (var child = node.firstElementChild; child; child = child.nextElementSibling) {
      if (child.classList.contains(name)) { return child; }
    }
    return null;
  }

  function build() {
    index = [];
    groups.forEach(function (group) {
      var who = childWithClass(group, "who");
      var name = who ? who.textContent : "";
      var lowerName = name.toLowerCase();
      var entries = [];
      for (var node = group.firstElementChild; node; node = node.nextElementSibling) {
        if (!node.classList.contains("msg")) { continue; }
        var body = childWithClass(node, "body");
        entries.push({ node: node, text: lowerName + "\n" + (body ? body.textContent.toLowerCase() : ""), shown: true });
      }
      index.push({ node: group, name: name, messages: entries, shown: true });
    });
  }

  function apply() {
    if (!index) { build(); }
    var query = input.value.trim().toLowerCase();
    var sender = who.value;
    // What the count covers: every message, unless an addition to this script narrows it by
    // setting `form.scope` to { counts(group node) -> boolean, noun } and sending "scope".
    var scope = form.scope;
    var total = 0;
    var shown = 0;
    index.forEach(function (group) {
      var senderMatches = sender === "" || group.name === sender;
      var counted = !scope || scope.counts(group.node);
      var any = false;
      group.messages.forEach(function (entry) {
        var match = senderMatches && (query === "" || entry.text.indexOf(query) !== -1);
        if (counted) {
          total += 1;
          if (match) { shown += 1; }
        }
        if (match) { any = true; }
        if (match !== entry.shown) { entry.node.hidden = !match; entry.shown = match; }
      });
      if (any !== group.shown) { group.node.hidden = !any; group.shown = any; }
    });
    var filtering = query !== "" || sender !== "";
    document.body.classList.toggle("filtering", filtering);
    status.textContent = filtering ? shown + " of " + total + (scope ? scope.noun : " messages") : "";
  }

  // Read the page while the browser is idle, so the first keystroke does not wait for it.
  if (window.requestIdleCallback) {
    window.requestIdleCallback(function () { if (!index) { build(); } }, { timeout: 3000 });
  }

  var timer = 0;
  function later() {
    clearTimeout(timer);
    timer = setTimeout(apply, groups.length > 2000 ? 150 : 30);
  }
  input.addEventListener("input", later);
  who.addEventListener("change", apply);
  form.addEventListener("scope", function () { if (index) { apply(); } });
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA");
    if (event.key === "/" && !typing) { event.preventDefault(); input.focus(); }
    if (event.key === "Escape" && target === input) { input.value = ""; apply(); }
  });
})();
