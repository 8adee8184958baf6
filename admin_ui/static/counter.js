// The cash desk: the change to give as the cashier types what was handed over (the server works it out again).
"use strict";
(function () {
  const toMinor = (text) => {
    const ascii = String(text).trim().replace(/[\u0660-\u0669]/g, (d) => String(d.charCodeAt(0) - 0x0660))
      .replace(/[\u06F0-\u06F9]/g, (d) => String(d.charCodeAt(0) - 0x06F0)).replace("\u066B", ".");
    if (!/^[0-9]{1,15}(\.[0-9]{1,2})?$/.test(ascii)) return null;
    const [whole, cents = ""] = ascii.split(".");
    return Number(whole) * 100 + Number((cents + "00").slice(0, 2));
  };
  document.querySelectorAll("form.pay-form").forEach((form) => {
    const due = toMinor(form.dataset.due);
    const out = form.querySelector(".change");
    const update = () => {
      const given = toMinor(form.elements.amount.value);
      const cash = form.querySelector("input[name=method]:checked")?.value === "cash";
      out.textContent = given !== null && cash && due !== null && given > due
        ? ((given - due) / 100).toFixed(2) : "";
    };
    form.addEventListener("input", update);
    update();
    form.addEventListener("submit", () => {  // one submit: a second click waits for the first answer
      const button = form.querySelector("button[type=submit]");
      setTimeout(() => { button.disabled = true; }, 0);
    });
  });
})();
