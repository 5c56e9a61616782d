// Copy buttons of the console's show-once secrets: progressive enhancement (the secret is in a
// read-only field that can be selected and copied by hand without this script).
document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
  var field = document.getElementById(button.getAttribute("data-copy-target"));
  if (!field || !navigator.clipboard) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(function () { button.textContent = "Copied"; },
      function () { field.select(); });
  });
});
