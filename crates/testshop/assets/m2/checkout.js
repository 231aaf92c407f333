/**
 * Harbor & Pine (Magento 2 theme "luma"): the one-page checkout, after Magento_Checkout's
 * Knockout components, without Knockout.
 *
 * One document: "Next" validates the shipping step and saves it through the REST API, then the
 * shipping step is hidden, the URL hash becomes #payment and the payment step is rendered. The
 * Braintree card fields arrive a moment later, in the provider's iframe, as Braintree's client
 * inserts them once its client token is checked. "Place Order" sends payment-information, which
 * places the order.
 */
(function () {
  'use strict';
  var config = window.checkoutConfig || {};
  var cartId = config.quoteData && config.quoteData.entity_id;
  var rest = '/m2/rest/' + (config.storeCode || 'default') + '/V1/guest-carts/' + cartId;
  var form = document.getElementById('co-shipping-form');
  var steps = document.getElementById('checkoutSteps');
  var messages = document.getElementById('checkout-messages');
  var required = ['username', 'firstname', 'lastname', 'street[0]', 'city', 'postcode', 'country_id', 'telephone'];
  var address = null;

  function field(name) {
    return form.querySelector('[name="' + name + '"]');
  }

  function showError(text) {
    messages.innerHTML = '';
    var box = document.createElement('div');
    box.className = 'message message-error error';
    box.textContent = text;
    messages.appendChild(box);
  }

  function postJson(path, data) {
    return fetch(rest + path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'XMLHttpRequest' },
      body: JSON.stringify(data)
    }).then(function (response) {
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return response.json();
    });
  }

  // Magento's validation: a message under every empty required field, and a plausible email.
  function validate() {
    var ok = true;
    [].forEach.call(form.querySelectorAll('.mage-error'), function (e) { e.parentNode.removeChild(e); });
    required.forEach(function (name) {
      var input = field(name);
      var value = input.value.trim();
      var bad = !value || (name === 'username' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value));
      if (!bad) return;
      ok = false;
      var note = document.createElement('div');
      note.className = 'mage-error';
      note.setAttribute('generated', 'true');
      note.textContent = value ? 'Please enter a valid email address (Ex: johndoe@domain.com).' : 'This is a required field.';
      input.parentNode.appendChild(note);
    });
    return ok;
  }

  function collectAddress() {
    return {
      email: field('username').value.trim(),
      firstname: field('firstname').value.trim(),
      lastname: field('lastname').value.trim(),
      street: [field('street[0]').value.trim()],
      city: field('city').value.trim(),
      postcode: field('postcode').value.trim(),
      countryId: field('country_id').value,
      telephone: field('telephone').value.trim()
    };
  }

  function markProgress(step) {
    [].forEach.call(document.querySelectorAll('.opc-progress-bar-item'), function (item) {
      item.classList.toggle('_active', item.getAttribute('data-step') === step);
    });
  }

  // Braintree's client checks its token before it inserts the hosted field, hence the delay.
  function insertHostedField(container) {
    setTimeout(function () {
      var frame = document.createElement('iframe');
      frame.name = 'braintree-hosted-field-number';
      frame.id = 'braintree-hosted-field-number';
      frame.title = 'Secure Credit Card Frame - Credit Card Number';
      frame.setAttribute('frameborder', '0');
      frame.setAttribute('allowtransparency', 'true');
      frame.src = config.payment.braintree.hostedFieldsUrl;
      container.appendChild(frame);
      container.classList.add('braintree-hosted-fields-ready');
    }, 300);
  }

  function placeOrder(button) {
    button.disabled = true;
    postJson('/payment-information', {
      cartId: cartId,
      email: address.email,
      paymentMethod: { method: 'braintree', additional_data: { payment_method_nonce: 'tokencc_bh_8x3kq2_7mfw4d', device_data: '' } },
      billingAddress: address
    })
      .then(function () {
        location.href = config.defaultSuccessPageUrl;
      })
      .catch(function () {
        button.disabled = false;
        showError('A server error stopped your order from being placed. Please try to place your order again.');
      });
  }

  function renderPayment() {
    var step = document.createElement('li');
    step.id = 'payment';
    step.className = 'checkout-payment-method';
    step.setAttribute('role', 'presentation');
    step.innerHTML =
      '<div class="step-title" data-role="title">Payment Method</div>' +
      '<div id="checkout-payment-method-load" class="opc-payment">' +
      '<div class="payment-method _active">' +
      '<div class="payment-method-title field choice">' +
      '<input type="radio" name="payment[method]" class="radio" id="braintree" value="braintree" checked>' +
      '<label class="label" for="braintree"><span>Credit Card (Braintree)</span></label></div>' +
      '<div class="payment-method-content">' +
      '<fieldset class="fieldset payment items ccard braintree" id="payment_form_braintree">' +
      '<div class="field number required"><label class="label"><span>Credit Card Number</span></label>' +
      '<div class="control"><div id="braintree_cc_number" class="hosted-control"></div></div></div>' +
      '</fieldset>' +
      '<div class="checkout-billing-address"><input type="checkbox" id="billing-address-same-as-shipping-braintree" checked>' +
      '<label for="billing-address-same-as-shipping-braintree">My billing and shipping address are the same</label></div>' +
      '<div class="actions-toolbar"><div class="primary">' +
      '<button class="action primary checkout" type="submit" title="Place Order"><span>Place Order</span></button>' +
      '</div></div></div></div></div>';
    steps.appendChild(step);
    step.querySelector('button.checkout').addEventListener('click', function (event) {
      event.preventDefault();
      placeOrder(event.currentTarget);
    });
    insertHostedField(step.querySelector('#braintree_cc_number'));
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (!validate()) return;
    var button = form.querySelector('button.continue');
    button.disabled = true;
    address = collectAddress();
    postJson('/shipping-information', {
      addressInformation: {
        shipping_address: address,
        billing_address: address,
        shipping_method_code: 'flatrate',
        shipping_carrier_code: 'flatrate'
      }
    })
      .then(function () {
        messages.innerHTML = '';
        document.getElementById('shipping').style.display = 'none';
        location.hash = '#payment';
        markProgress('payment');
        renderPayment();
      })
      .catch(function () {
        button.disabled = false;
        showError('Unable to save shipping information. Please check input data.');
      });
  });
})();
