/* Harbor & Pine Outfitters: WooCommerce checkout (after woocommerce/assets/js/frontend/checkout.js) */
jQuery(function ($) {
  'use strict';
  if (typeof wc_checkout_params === 'undefined') return;
  var $form = $('form.checkout');
  var params = window.wc_checkout_params;
  var countries = (window.wc_country_select_params || {}).countries || {};

  function endpoint(name) { return params.wc_ajax_url.replace('%%endpoint%%', name); }
  function method() { return $form.find('input[name="payment_method"]:checked').val() || ''; }

  function showPaymentBox() {
    var chosen = method();
    $('div.payment_box').hide();
    if (chosen) $('div.payment_box.payment_method_' + chosen).show();
  }

  /* The totals depend on the address and the payment method; the card gateway's fields are
   * not part of this request. */
  function updateOrderReview() {
    var post = [];
    $form.find('input, select, textarea').each(function () {
      if (!this.name || this.disabled || this.closest('.payment_box') || /^(button|submit)$/.test(this.type)) return;
      if ((this.type === 'radio' || this.type === 'checkbox') && !this.checked) return;
      post.push(encodeURIComponent(this.name) + '=' + encodeURIComponent(this.value));
    });
    $.ajax({
      type: 'POST',
      url: endpoint('update_order_review'),
      dataType: 'json',
      data: {
        security: params.update_order_review_nonce,
        payment_method: method(),
        country: $('#billing_country').val(),
        state: $('#billing_state').val(),
        postcode: $('#billing_postcode').val(),
        city: $('#billing_city').val(),
        address: $('#billing_address_1').val(),
        has_full_address: !!($('#billing_address_1').val() && $('#billing_city').val() && $('#billing_postcode').val()),
        post_data: post.join('&')
      },
      success: function (data) {
        if (data && data.fragments) {
          Object.keys(data.fragments).forEach(function (selector) { $(selector).html(data.fragments[selector]); });
        }
      }
    });
  }

  function fillStates() {
    var states = countries[$('#billing_country').val()] || {};
    var select = $('#billing_state')[0];
    var keep = select.value;
    select.options.length = 1;
    Object.keys(states).forEach(function (code) { select.appendChild(new Option(states[code], code)); });
    select.value = states[keep] ? keep : '';
  }

  function digits(value) { return value.replace(/\D/g, ''); }
  function formatNumber() {
    var d = digits(this.value).slice(0, 19), groups;
    groups = /^3[47]/.test(d) ? d.match(/^(\d{0,4})(\d{0,6})(\d{0,5})/).slice(1) : d.match(/.{1,4}/g) || [];
    var formatted = groups.filter(Boolean).join(' ');
    if (formatted !== this.value) this.value = formatted;
  }
  function formatExpiry() {
    var d = digits(this.value).slice(0, 4);
    var formatted = d.length > 2 ? d.slice(0, 2) + ' / ' + d.slice(2) : d;
    if (formatted !== this.value) this.value = formatted;
  }

  function showError(html) {
    $('.woocommerce-NoticeGroup-checkout').each(function () { this.parentNode.removeChild(this); });
    var group = document.createElement('div');
    group.className = 'woocommerce-NoticeGroup woocommerce-NoticeGroup-checkout';
    group.innerHTML = '<ul class="woocommerce-error" role="alert"><li>' + html + '</li></ul>';
    $form[0].insertBefore(group, $form[0].firstChild);
  }

  $(document.body).on('click change', 'input[name="payment_method"]', showPaymentBox);
  $form.on('change', '#billing_country', fillStates);
  $form.on('change', '.address-field input.input-text, .address-field select, input[name="payment_method"]', updateOrderReview);
  $form.on('input', '#card_gateway-card-number', formatNumber);
  $form.on('input', '#card_gateway-card-expiry', formatExpiry);

  $form.on('submit', function (event) {
    event.preventDefault();
    if ($form.is('.processing')) return false;
    $form.addClass('processing');
    $.ajax({
      type: 'POST',
      url: params.checkout_url,
      data: $form.serialize(),
      dataType: 'json',
      success: function (result) {
        if (result && result.result === 'success' && result.redirect) {
          window.location = result.redirect;
          return;
        }
        $form.removeClass('processing');
        showError((result && result.messages) || params.i18n_checkout_error);
      },
      error: function () {
        $form.removeClass('processing');
        showError(params.i18n_checkout_error);
      }
    });
    return false;
  });

  showPaymentBox();
});
