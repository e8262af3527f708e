// recgate panel: the player's niceties. Every page works without it.
// On a recording's page, the keys j / k skip back / forward 5 seconds and
// the position is kept in the address (#t=SECONDS) so a link can point
// at a moment of the call.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var audio = document.getElementById("player");
  if (!audio) { return; }
  var m = /^#t=(\d+(?:\.\d+)?)$/.exec(location.hash);
  if (m) {
    audio.addEventListener("loadedmetadata", function () { audio.currentTime = parseFloat(m[1]); }, { once: true });
  }
  audio.addEventListener("pause", function () {
    history.replaceState(null, "", "#t=" + Math.floor(audio.currentTime));
  });
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) { return; }
    if (e.key === "j") { audio.currentTime = Math.max(0, audio.currentTime - 5); }
    if (e.key === "k") { audio.currentTime = audio.currentTime + 5; }
  });
});
