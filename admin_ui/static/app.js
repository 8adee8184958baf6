// Small behaviours of the pages; everything works without this file except the print button.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print]");
  if (button) window.print();
});
