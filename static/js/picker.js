/* Filter the teacher list as you type (name or group): <input data-filter="list-id"> filters the
 * <li>s of #list-id (templates/inbox/_choose.html). Works without JS too: then all are shown. */
(() => {
  "use strict";
  document.querySelectorAll("input[data-filter]").forEach((input) => {
    const list = document.getElementById(input.getAttribute("data-filter"));
    if (!list) { return; }
    input.addEventListener("input", () => {
      const q = input.value.trim().toLowerCase();
      list.querySelectorAll("li").forEach((li) => {
        li.hidden = q !== "" && li.textContent.toLowerCase().indexOf(q) === -1;
      });
    });
  });
})();
