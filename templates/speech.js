// Added to the script when the transcript holds speech: the "Show" filter (everything, chat or
// speech), as a class on <body> that the stylesheet reads, so it combines with the search.
(function () {
  "use strict";
  var kind = document.getElementById("search-kind");
  if (!kind) { return; }
  function apply() {
    document.body.classList.toggle("only-chat", kind.value === "chat");
    document.body.classList.toggle("only-speech", kind.value === "speech");
  }
  kind.addEventListener("change", apply);
  apply();
})();
