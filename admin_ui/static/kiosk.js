/* The kiosk's ticket page: print the ticket (a kiosk's printer, or the browser's print dialog). */
(function () {
  "use strict";
  var button = document.getElementById("print-ticket");
  if (button) {
    button.addEventListener("click", function () { window.print(); });
  }
})();
