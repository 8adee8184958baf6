/* The display board: follow the calls as server-sent events (/api/queue/board/events) without reloading,
   show each at the top of the list and on its counter's row, and announce it in Arabic by speech synthesis.
   EventSource reconnects by itself after a stream ends, sending the last call id it saw (Last-Event-ID). */
(function () {
  "use strict";
  var root = document.getElementById("board");
  if (!root || !window.EventSource) { return; }
  var list = document.getElementById("calls");
  var keep = list ? Math.max(list.children.length, 8) : 8;

  function spoken(ticket) {
    // "P-014" is read as "P 14": the letter, then the number without its leading zeros.
    var parts = /^([A-Za-z]+)-?0*(\d+)$/.exec(ticket);
    return parts ? parts[1] + " " + parts[2] : ticket;
  }

  function announce(call) {
    if (!("speechSynthesis" in window) || typeof window.SpeechSynthesisUtterance !== "function") { return; }
    var text = "التذكرة رقم " + spoken(call.ticket) + " إلى الشباك رقم " + call.counter;
    var utterance = new window.SpeechSynthesisUtterance(text);
    utterance.lang = "ar-EG";
    utterance.rate = 0.9;
    window.speechSynthesis.speak(utterance);
  }

  function show(call) {
    if (list) {
      var row = document.createElement("tr");
      row.setAttribute("data-call", String(call.id));
      row.className = "fresh";
      var ticket = document.createElement("td");
      ticket.className = "ticket-cell";
      ticket.setAttribute("dir", "ltr");
      ticket.textContent = call.ticket;
      var counter = document.createElement("td");
      counter.className = "counter-cell";
      counter.textContent = String(call.counter);
      row.appendChild(ticket);
      row.appendChild(counter);
      list.insertBefore(row, list.firstChild);
      while (list.children.length > keep) { list.removeChild(list.lastChild); }
    }
    var cell = document.querySelector('[data-counter="' + call.counter + '"]');
    if (cell) { cell.textContent = call.ticket; }
  }

  var center = root.getAttribute("data-center");
  var source = new EventSource("/api/queue/board/events?after=" + encodeURIComponent(root.getAttribute("data-after") || "0") +
                               (center ? "&center=" + encodeURIComponent(center) : ""));
  source.addEventListener("call", function (event) {
    var call = JSON.parse(event.data);
    show(call);
    announce(call);
  });
})();
