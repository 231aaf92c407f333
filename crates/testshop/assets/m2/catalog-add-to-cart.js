/**
 * Harbor & Pine (Magento 2 theme "luma"): AJAX add-to-cart, after Magento_Catalog/js/catalog-add-to-cart.
 *
 * The product form is posted with fetch instead of navigating, as Magento's catalogAddToCart
 * widget does; the server checks the form key and answers JSON, then the minicart counter
 * shows the new quantity and "Proceed to Checkout" appears.
 */
(function () {
  'use strict';
  var form = document.getElementById('product_addtocart_form');
  if (!form) return;
  var button = document.getElementById('product-addtocart-button');
  var messages = document.getElementById('product-messages');

  function message(kind, text) {
    messages.innerHTML = '';
    var box = document.createElement('div');
    box.className = 'message-' + kind + ' ' + kind + ' message';
    box.setAttribute('data-ui-id', 'message-' + kind);
    box.textContent = text;
    messages.appendChild(box);
  }

  function showCount(count) {
    var counter = document.querySelector('.minicart-wrapper .counter');
    counter.className = 'counter qty';
    counter.querySelector('.counter-number').textContent = String(count);
    document.getElementById('top-cart-btn-checkout').style.display = '';
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    button.disabled = true;
    button.classList.add('disabled');
    button.querySelector('span').textContent = 'Adding...';
    var body = new URLSearchParams(new FormData(form));
    fetch('/m2/checkout/cart/add/', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-Requested-With': 'XMLHttpRequest' },
      body: body
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error(data.message || 'HTTP ' + response.status);
          return data;
        });
      })
      .then(function (data) {
        showCount(data.cart.summary_count);
        message('success', 'You added Blue Enamel Mug to your shopping cart.');
        button.querySelector('span').textContent = 'Added';
      })
      .catch(function (error) {
        message('error', error.message);
        button.querySelector('span').textContent = 'Add to Cart';
      })
      .then(function () {
        button.disabled = false;
        button.classList.remove('disabled');
      });
  });
})();
