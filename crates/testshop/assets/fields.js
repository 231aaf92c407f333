/*! TidePay hosted fields v3.2.0 | https://tidepay.example/docs/hosted-fields */
(function () {
  'use strict';

  var params = new URLSearchParams(location.search);
  var parentOrigin = params.get('parent');
  var session = params.get('session');

  var number = document.getElementById('tp-number');
  var expiry = document.getElementById('tp-expiry');
  var cvc = document.getElementById('tp-cvc');
  var holder = document.getElementById('tp-name');
  var error = document.getElementById('tp-error');

  function digits(value) {
    return value.replace(/\D/g, '');
  }

  function luhn(value) {
    var sum = 0;
    var double = false;
    for (var i = value.length - 1; i >= 0; i--) {
      var d = value.charCodeAt(i) - 48;
      if (double) {
        d *= 2;
        if (d > 9) {
          d -= 9;
        }
      }
      sum += d;
      double = !double;
    }
    return sum % 10 === 0;
  }

  function brand(value) {
    if (/^4/.test(value)) return 'visa';
    if (/^(5[1-5]|2[2-7])/.test(value)) return 'mastercard';
    if (/^3[47]/.test(value)) return 'amex';
    return 'unknown';
  }

  function reply(message) {
    if (parentOrigin) {
      window.parent.postMessage(message, parentOrigin);
    }
  }

  number.addEventListener('input', function () {
    var value = digits(number.value).slice(0, 19);
    number.value = value.replace(/(\d{4})(?=\d)/g, '$1 ');
    number.setAttribute('data-brand', brand(value));
  });

  expiry.addEventListener('input', function () {
    var value = digits(expiry.value).slice(0, 4);
    expiry.value = value.length > 2 ? value.slice(0, 2) + ' / ' + value.slice(2) : value;
  });

  cvc.addEventListener('input', function () {
    cvc.value = digits(cvc.value).slice(0, 4);
  });

  function check() {
    var n = digits(number.value);
    var e = digits(expiry.value);
    if (n.length < 12 || !luhn(n)) return 'Your card number is invalid.';
    if (e.length !== 4 || +e.slice(0, 2) < 1 || +e.slice(0, 2) > 12) return 'Your card\u2019s expiry date is invalid.';
    if (digits(cvc.value).length < 3) return 'Your card\u2019s security code is incomplete.';
    return '';
  }

  window.addEventListener('message', function (event) {
    if (event.origin !== parentOrigin || !event.data) {
      return;
    }
    if (event.data.type === 'hp:cardholder') {
      holder.value = String(event.data.name || '');
    } else if (event.data.type === 'hp:tokenize') {
      var problem = check();
      error.textContent = problem;
      if (problem) {
        reply({ type: 'hp:error', message: problem });
        return;
      }
      fetch('/v1/tokens', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          session: session,
          number: digits(number.value),
          exp: digits(expiry.value),
          cvc: digits(cvc.value),
          name: holder.value
        })
      })
        .then(function (response) {
          return response.json();
        })
        .then(function (token) {
          reply({ type: 'hp:token', token: token.id });
        })
        .catch(function () {
          reply({ type: 'hp:error', message: 'The payment service is unavailable.' });
        });
    }
  });

  reply({ type: 'hp:ready' });
})();
