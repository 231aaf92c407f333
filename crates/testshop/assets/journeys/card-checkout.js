/**
 * Harbor & Pine trade checkout: checks the card form before it is posted, and groups the card
 * number in fours as the shopper types.
 */
(function () {
  'use strict';
  var form = document.getElementById('payment-form');
  if (!form) return;
  var number = document.getElementById('cc-number');
  var error = document.getElementById('payment-error');

  number.addEventListener('input', function () {
    var digits = number.value.replace(/\D/g, '').slice(0, 19);
    var grouped = digits.replace(/(\d{4})(?=\d)/g, '$1 ');
    if (grouped !== number.value) number.value = grouped;
  });

  form.addEventListener('submit', function (event) {
    var missing = [].filter.call(form.querySelectorAll('[required]'), function (input) {
      return !input.value.trim();
    });
    if (missing.length) {
      event.preventDefault();
      error.textContent = 'Please fill in every card field.';
      missing[0].focus();
    }
  });
})();
