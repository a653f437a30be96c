// Added to the script when the transcript holds speech: the "Show" filter (everything, chat or
// speech), as a class on <body> that the stylesheet reads, so it combines with the search;
// the search's count covers what the filter shows (its `scope`, see transcript.js).
(function () {
  "use strict";
  var kind = document.getElementById("search-kind");
  var form = document.querySelector(".search");
  if (!kind || !form) { return; }
  function apply() {
    var only = kind.value;
    document.body.classList.toggle("only-chat", only === "chat");
    document.body.classList.toggle("only-speech", only === "speech");
    form.scope = {
      counts: function (group) { return only === "" || (only === "speech") === group.classList.contains("speech"); },
      noun: only === "speech" ? " utterances" : only === "chat" ? " messages" : " messages and utterances"
    };
    form.dispatchEvent(new Event("scope"));
  }
  kind.addEventListener("change", apply);
  apply();
})();
