/* Harbor & Pine Outfitters: one-page checkout, after Magento 1.9's skin/frontend/base/default/js/opcheckout.js */
var Accordion = function (id, titleSelector) {
  this.container = document.getElementById(id);
  this.titleSelector = titleSelector;
};
Accordion.prototype.openSection = function (sectionId) {
  var sections = this.container.querySelectorAll('li.section');
  for (var i = 0; i < sections.length; i++) {
    var li = sections[i], step = li.querySelector('.step');
    if (li.id === sectionId) {
      li.className = 'section allow active';
      step.style.display = '';
    } else {
      li.className = li.className.replace(/\s*active/, '');
      step.style.display = 'none';
    }
  }
};

var Checkout = function (accordion, urls) {
  this.accordion = accordion;
  this.urls = urls;
  this.loadWaiting = false;
};
Checkout.prototype.gotoSection = function (section) {
  this.accordion.openSection('opc-' + section);
  var title = document.getElementById('opc-' + section);
  if (title && title.scrollIntoView) title.scrollIntoView();
};
Checkout.prototype.setLoadWaiting = function (step, keep) {
  var wait = step && document.getElementById(step + '-please-wait');
  if (step) {
    this.loadWaiting = step;
    if (wait) wait.style.display = '';
  } else if (this.loadWaiting) {
    var shown = document.getElementById(this.loadWaiting + '-please-wait');
    if (shown && !keep) shown.style.display = 'none';
    this.loadWaiting = false;
  }
};
Checkout.prototype.showMessage = function (text) {
  var box = document.getElementById('checkout-messages');
  document.getElementById('checkout-message-text').textContent = text;
  box.style.display = text ? '' : 'none';
};
Checkout.prototype.ajaxFailure = function () {
  checkout.setLoadWaiting(false);
  checkout.showMessage('There was an error processing your request. Please try again.');
};
/* Reads the JSON answer of a save request; opens the section it names. */
Checkout.prototype.setStepResponse = function (transport) {
  checkout.setLoadWaiting(false);
  var response;
  try {
    response = JSON.parse(transport.responseText);
  } catch (e) {
    return checkout.ajaxFailure();
  }
  if (response.error) {
    checkout.showMessage(response.message || 'Please check the information you entered.');
    return false;
  }
  checkout.showMessage('');
  if (response.goto_section) checkout.gotoSection(response.goto_section);
  return true;
};
Checkout.prototype.saveStep = function (step, form, url) {
  if (this.loadWaiting !== false) return;
  if (!Validation.validate(form)) return;
  this.setLoadWaiting(step);
  new Ajax.Request(url, {
    parameters: Form.serialize(form),
    onSuccess: this.setStepResponse,
    onFailure: this.ajaxFailure
  });
};

var Billing = function (form, saveUrl) {
  this.form = document.getElementById(form);
  this.saveUrl = saveUrl;
  this.form.addEventListener('submit', function (e) { e.preventDefault(); });
};
Billing.prototype.save = function () {
  checkout.saveStep('billing', this.form, this.saveUrl);
};

var ShippingMethod = function (form, saveUrl) {
  this.form = document.getElementById(form);
  this.saveUrl = saveUrl;
  this.form.addEventListener('submit', function (e) { e.preventDefault(); });
};
ShippingMethod.prototype.save = function () {
  checkout.saveStep('shipping-method', this.form, this.saveUrl);
};

var Payment = function (form, saveUrl) {
  this.form = document.getElementById(form);
  this.saveUrl = saveUrl;
  this.currentMethod = null;
};
Payment.prototype.init = function () {
  var self = this;
  this.form.addEventListener('submit', function (e) { e.preventDefault(); self.save(); });
  var radios = this.form.querySelectorAll('input[name="payment[method]"]');
  for (var i = 0; i < radios.length; i++) {
    radios[i].addEventListener('change', function () { if (this.checked) self.switchMethod(this.value); });
    if (radios[i].checked) this.currentMethod = radios[i].value;
  }
  /* Every method's fields stay disabled (and out of the request) until it is chosen. */
  var blocks = this.form.querySelectorAll('ul[id^="payment_form_"]');
  for (var j = 0; j < blocks.length; j++) this.toggle(blocks[j], false);
  if (this.currentMethod) this.switchMethod(this.currentMethod);
};
Payment.prototype.toggle = function (block, on) {
  block.style.display = on ? '' : 'none';
  var controls = block.querySelectorAll('input, select, textarea');
  for (var i = 0; i < controls.length; i++) controls[i].disabled = !on;
};
Payment.prototype.switchMethod = function (method) {
  if (this.currentMethod && document.getElementById('payment_form_' + this.currentMethod)) {
    this.toggle(document.getElementById('payment_form_' + this.currentMethod), false);
  }
  var block = document.getElementById('payment_form_' + method);
  if (block) this.toggle(block, true);
  this.currentMethod = method;
};
Payment.prototype.save = function () {
  checkout.saveStep('payment', this.form, this.saveUrl);
};

var Review = function (saveUrl, successUrl, agreementsForm) {
  this.saveUrl = saveUrl;
  this.successUrl = successUrl;
  this.agreementsForm = document.getElementById(agreementsForm);
};
/* Places the order: the payment form again plus the agreements, then to the success page. */
Review.prototype.save = function () {
  if (checkout.loadWaiting !== false) return;
  if (!Validation.validate(this.agreementsForm)) return;
  checkout.setLoadWaiting('review');
  var params = Form.serialize(payment.form);
  if (this.agreementsForm) params += '&' + Form.serialize(this.agreementsForm);
  var self = this;
  new Ajax.Request(this.saveUrl, {
    parameters: params,
    onSuccess: function (transport) {
      var response = {};
      try { response = JSON.parse(transport.responseText); } catch (e) { response = {}; }
      if (response.redirect) {
        checkout.setLoadWaiting(false, true);
        window.location.href = response.redirect;
        return;
      }
      checkout.setLoadWaiting(false);
      if (response.success) {
        window.location.href = self.successUrl;
      } else {
        checkout.showMessage(response.error_messages || 'There was an error processing your order.');
      }
    },
    onFailure: checkout.ajaxFailure
  });
};
