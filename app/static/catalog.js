// Filters the server-rendered catalog rows by family and maximum price.
(function () {
  "use strict";
  var family = document.getElementById("family-filter");
  var price = document.getElementById("price-filter");
  var shown = document.getElementById("shown-count");
  function apply() {
    var max = price.value === "" ? Infinity : Number(price.value);
    var count = 0;
    document.querySelectorAll("tr.service").forEach(function (row) {
      var ok = (!family.value || row.dataset.family === family.value) &&
               Number(row.dataset.price) <= max;
      row.classList.toggle("hidden", !ok);
      if (ok) { count += 1; }
    });
    shown.textContent = String(count);
  }
  family.addEventListener("change", apply);
  price.addEventListener("input", apply);
})();
