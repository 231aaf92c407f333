/* Harbor & Pine Outfitters (Magento 1.9 theme): form, request and validation helpers, a small
 * plain-JS stand-in for Prototype and js/varien/js.js. */
var Form = {
  /* Enabled named controls, radios and checkboxes only when checked, as Form.serialize does. */
  serialize: function (form) {
    if (typeof form === 'string') form = document.getElementById(form);
    var pairs = [];
    if (!form) return '';
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i];
      if (!el.name || el.disabled || el.type === 'button' || el.type === 'submit') continue;
      if ((el.type === 'radio' || el.type === 'checkbox') && !el.checked) continue;
      pairs.push(encodeURIComponent(el.name) + '=' + encodeURIComponent(el.value));
    }
    return pairs.join('&');
  }
};

function isShown(el) {
  return !!(el && (el.offsetWidth || el.offsetHeight || el.getClientRects().length));
}

var Ajax = {
  /* POSTs form-urlencoded parameters; onSuccess(transport) on 2xx, onFailure otherwise. */
  Request: function (url, options) {
    var xhr = new XMLHttpRequest();
    xhr.open('POST', url, true);
    xhr.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded; charset=UTF-8');
    xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
    xhr.onload = function () {
      if (xhr.status >= 200 && xhr.status < 300) options.onSuccess(xhr); else options.onFailure(xhr);
      if (options.onComplete) options.onComplete(xhr);
    };
    xhr.onerror = function () {
      options.onFailure(xhr);
      if (options.onComplete) options.onComplete(xhr);
    };
    xhr.send(options.parameters || '');
  }
};

var Validation = {
  /* Checks the visible, enabled required controls of a container; marks the failed ones the
   * way Magento's validation.js does (class and a "validation-advice" below the field). */
  validate: function (container) {
    if (typeof container === 'string') container = document.getElementById(container);
    var ok = true, groups = {};
    var old = container.querySelectorAll('.validation-advice');
    for (var i = 0; i < old.length; i++) old[i].parentNode.removeChild(old[i]);
    var controls = container.querySelectorAll('input, select, textarea');
    for (var j = 0; j < controls.length; j++) {
      var el = controls[j];
      el.className = el.className.replace(/\s*validation-(failed|passed)/g, '');
      if (el.disabled || !isShown(el)) continue;
      if (/validate-one-required-by-name/.test(el.className)) {
        groups[el.name] = groups[el.name] || el.checked;
        if (!(el.name in Validation._firstOfGroup)) Validation._firstOfGroup[el.name] = el;
        continue;
      }
      if (!/required-entry/.test(el.className)) continue;
      var filled = el.type === 'checkbox' ? el.checked : el.value.replace(/^\s+|\s+$/g, '') !== '';
      if (!filled) {
        ok = false;
        Validation.advise(el, 'This is a required field.');
      } else {
        el.className += ' validation-passed';
      }
    }
    for (var name in groups) {
      if (!groups[name]) {
        ok = false;
        Validation.advise(Validation._firstOfGroup[name], 'Please select one of the options.');
      }
    }
    Validation._firstOfGroup = {};
    return ok;
  },
  _firstOfGroup: {},
  advise: function (el, text) {
    el.className += ' validation-failed';
    var advice = document.createElement('div');
    advice.className = 'validation-advice';
    advice.textContent = text;
    var box = el.parentNode;
    box.appendChild(advice);
  }
};

/* Swaps the region select for a text input when the chosen country has no region list. */
var RegionUpdater = function (countryId, regionTextId, regionSelectId, regions) {
  this.country = document.getElementById(countryId);
  this.text = document.getElementById(regionTextId);
  this.select = document.getElementById(regionSelectId);
  this.regions = regions;
  var self = this;
  this.country.addEventListener('change', function () { self.update(); });
  this.update();
};
RegionUpdater.prototype.update = function () {
  var list = this.regions[this.country.value];
  if (list) {
    if (this.select.getAttribute('data-country') !== this.country.value) {
      var keep = this.select.getAttribute('data-country') === null ? this.select.value : '';
      this.select.options.length = 1;
      for (var code in list) this.select.appendChild(new Option(list[code], code));
      this.select.value = keep;
      this.select.setAttribute('data-country', this.country.value);
    }
    this.select.style.display = '';
    this.select.disabled = false;
    this.text.style.display = 'none';
    this.text.disabled = true;
  } else {
    this.select.style.display = 'none';
    this.select.disabled = true;
    this.text.style.display = '';
    this.text.disabled = false;
  }
};
