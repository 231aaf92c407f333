/*
 * Harbor & Pine Outfitters: checkout page.
 *
 * Validates the contact and address form, loads shipping rates for the chosen
 * country and, on "Place order", asks the TidePay hosted fields (a cross-origin
 * iframe) for a card token. Card numbers never reach this page; only the token
 * is sent to our order API.
 */
(function ($, config) {
  'use strict';

  var form = document.getElementById('checkout-form');
  if (!form || !$ || !config) {
    return;
  }

  var paymentFrame = document.getElementById('payment-frame');
  var paymentOrigin = paymentFrame ? new URL(paymentFrame.src).origin : null;
  var placeOrder = $('#place-order');
  var pending = null;
  var rates = [];

  var required = ['email', 'firstname', 'lastname', 'street', 'postcode', 'city', 'country', 'cardholder'];

  function checkField(name) {
    var field = form.elements[name];
    var value = field ? field.value.trim() : '';
    var message = '';
    if (!value) {
      message = 'This field is required.';
    } else if (name === 'email' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
      message = 'Please enter a valid email address.';
    } else if (name === 'postcode' && !/^[A-Za-z0-9 -]{3,10}$/.test(value)) {
      message = 'Please enter a valid postcode.';
    }
    var box = $(field).closest('.field');
    box.toggleClass('has-error', message !== '');
    box.find('.field-error').text(message);
    return message === '';
  }

  function validate() {
    var ok = true;
    required.forEach(function (name) {
      if (!checkField(name)) {
        ok = false;
      }
    });
    return ok;
  }

  function renderTotals() {
    var chosen = form.querySelector('input[name="shipping_method"]:checked');
    var shipping = 0;
    rates.forEach(function (rate) {
      if (chosen && rate.code === chosen.value) {
        shipping = rate.price;
      }
    });
    $('#summary-shipping').text($.money(shipping, config.currency, config.locale));
    $('#summary-total').text($.money(config.cart.subtotal + shipping, config.currency, config.locale));
  }

  function renderRates() {
    var list = $('#shipping-methods').html('');
    rates.forEach(function (rate, index) {
      var label = $('<label class="radio"><input type="radio" name="shipping_method"> <span class="rate-label"></span> <span class="rate-price"></span></label>');
      label.find('input').val(rate.code).prop('checked', index === 0);
      label.find('.rate-label').text(rate.label);
      label.find('.rate-price').text($.money(rate.price, config.currency, config.locale));
      list.append(label);
    });
    renderTotals();
  }

  function loadRates() {
    var query = $.param({ country: form.elements.country.value, cart: config.cartId });
    $.getJSON(config.apiBase + '/shipping-methods?' + query)
      .then(function (data) {
        rates = data.methods || [];
        renderRates();
      })
      .catch(function (error) {
        console.warn('Shipping rates unavailable:', error.message);
      });
  }

  function sendToPaymentFrame(message) {
    if (paymentFrame && paymentFrame.contentWindow) {
      paymentFrame.contentWindow.postMessage(message, paymentOrigin);
    }
  }

  // The hosted fields answer a tokenize request with either a token or an error.
  function requestToken() {
    return new Promise(function (resolve, reject) {
      if (!paymentFrame) {
        reject(new Error('The payment form did not load. Please reload the page.'));
        return;
      }
      var timer = setTimeout(function () {
        pending = null;
        reject(new Error('The payment provider did not answer. Please try again.'));
      }, 8000);
      pending = { resolve: resolve, reject: reject, timer: timer };
      sendToPaymentFrame({ type: 'hp:tokenize' });
    });
  }

  window.addEventListener('message', function (event) {
    if (event.origin !== paymentOrigin || !event.data || !pending) {
      return;
    }
    var request = pending;
    pending = null;
    clearTimeout(request.timer);
    if (event.data.type === 'hp:token') {
      request.resolve(event.data.token);
    } else if (event.data.type === 'hp:error') {
      request.reject(new Error(event.data.message));
    }
  });

  function showMessage(text) {
    $('#form-message').text(text).show();
  }

  $(form).on('submit', function (event) {
    event.preventDefault();
    $('#form-message').hide();
    if (!validate()) {
      showMessage('Please check the highlighted fields.');
      return;
    }
    placeOrder.attr('disabled', 'disabled').text('Processing\u2026');
    requestToken()
      .then(function (token) {
        var order = $(form).serialize();
        order.cart_id = config.cartId;
        order.payment_token = token;
        return $.ajax(config.apiBase + '/orders', {
          method: 'POST',
          json: order,
          headers: { 'X-Form-Key': config.formKey }
        });
      })
      .then(function (result) {
        var done = $('<section class="order-done"><h2>Thank you for your order</h2><p>Your order number is <strong></strong>.</p></section>');
        done.find('strong').text(result.orderId);
        $('#checkout').html('').append(done);
      })
      .catch(function (error) {
        showMessage(error.message);
        placeOrder.attr('disabled', null).text('Place order');
      });
  });

  // Validate a field when the shopper leaves it, not on every keystroke.
  $(form).on('focusout', 'input, select', function () {
    if (required.indexOf(this.name) >= 0 && this.value !== '') {
      checkField(this.name);
    }
  });

  $(form).on('change', 'input[name="shipping_method"]', renderTotals);
  $(form.elements.country).on('change', loadRates);

  // The card holder's name is shown (read-only) inside the hosted fields.
  $(form.elements.cardholder).on('input', $.debounce(function () {
    sendToPaymentFrame({ type: 'hp:cardholder', name: form.elements.cardholder.value });
  }, 150));

  $.ready(loadRates);
})(window.dash, window.shopConfig);
