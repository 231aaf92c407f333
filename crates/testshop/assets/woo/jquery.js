/* Harbor & Pine Outfitters: a small jQuery-compatible subset (selectors, delegated events,
 * values, classes, show/hide, serialize, $.ajax) standing in for jQuery on this test shop. */
(function (window, document) {
  'use strict';
  function toArray(list) { return Array.prototype.slice.call(list); }
  function Q(nodes) {
    this.length = nodes.length;
    for (var i = 0; i < nodes.length; i++) this[i] = nodes[i];
  }
  function $(selector, context) {
    if (typeof selector === 'function') {
      if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', function () { selector($); });
      } else {
        setTimeout(function () { selector($); }, 0);
      }
      return $(document);
    }
    if (selector instanceof Q) return selector;
    if (typeof selector === 'string') {
      var root = context ? $(context)[0] : document;
      return new Q(root ? toArray(root.querySelectorAll(selector)) : []);
    }
    if (selector && (selector.nodeType || selector === window)) return new Q([selector]);
    return new Q(selector ? toArray(selector) : []);
  }
  var fn = Q.prototype;
  fn.each = function (callback) {
    for (var i = 0; i < this.length; i++) callback.call(this[i], i, this[i]);
    return this;
  };
  /* .on(events, [delegateSelector], handler): a delegated handler runs with `this` set to the
   * closest match of the event target inside the bound element. */
  fn.on = function (events, selector, handler) {
    if (typeof selector === 'function') { handler = selector; selector = null; }
    var names = events.split(/\s+/);
    return this.each(function () {
      var bound = this;
      names.forEach(function (name) {
        if (!name) return;
        bound.addEventListener(name, function (event) {
          var target = bound;
          if (selector) {
            var node = event.target && event.target.nodeType === 3 ? event.target.parentNode : event.target;
            target = node && node.closest ? node.closest(selector) : null;
            if (!target || (bound !== document && bound !== window && !bound.contains(target))) return;
          }
          if (handler.call(target, event) === false) {
            event.preventDefault();
            event.stopPropagation();
          }
        });
      });
    });
  };
  fn.val = function (value) {
    if (value === undefined) return this[0] ? this[0].value : undefined;
    return this.each(function () { this.value = value; });
  };
  fn.prop = function (name, value) {
    if (value === undefined) return this[0] ? this[0][name] : undefined;
    return this.each(function () { this[name] = value; });
  };
  fn.attr = function (name, value) {
    if (value === undefined) return this[0] ? this[0].getAttribute(name) : undefined;
    return this.each(function () { this.setAttribute(name, value); });
  };
  fn.is = function (selector) {
    for (var i = 0; i < this.length; i++) if (this[i].matches && this[i].matches(selector)) return true;
    return false;
  };
  fn.find = function (selector) {
    var out = [];
    this.each(function () { out = out.concat(toArray(this.querySelectorAll(selector))); });
    return new Q(out);
  };
  fn.closest = function (selector) {
    var out = [];
    this.each(function () { var c = this.closest(selector); if (c && out.indexOf(c) < 0) out.push(c); });
    return new Q(out);
  };
  fn.addClass = function (name) { return this.each(function () { this.classList.add(name); }); };
  fn.removeClass = function (name) { return this.each(function () { this.classList.remove(name); }); };
  fn.hasClass = function (name) { return !!this[0] && this[0].classList.contains(name); };
  fn.show = function () { return this.each(function () { this.style.display = ''; }); };
  fn.hide = function () { return this.each(function () { this.style.display = 'none'; }); };
  fn.text = function (value) {
    if (value === undefined) return this[0] ? this[0].textContent : '';
    return this.each(function () { this.textContent = value; });
  };
  fn.html = function (value) {
    if (value === undefined) return this[0] ? this[0].innerHTML : '';
    return this.each(function () { this.innerHTML = value; });
  };
  fn.trigger = function (name) {
    return this.each(function () { this.dispatchEvent(new Event(name, { bubbles: true })); });
  };
  /* The successful controls of the first form, form-urlencoded, as jQuery's .serialize(). */
  fn.serialize = function () {
    var form = this[0], pairs = [];
    if (!form || !form.elements) return '';
    toArray(form.elements).forEach(function (el) {
      if (!el.name || el.disabled || /^(button|submit|reset|file)$/.test(el.type)) return;
      if ((el.type === 'radio' || el.type === 'checkbox') && !el.checked) return;
      pairs.push(encodeURIComponent(el.name) + '=' + encodeURIComponent(el.value).replace(/%20/g, '+'));
    });
    return pairs.join('&');
  };
  $.fn = fn;
  $.param = function (data) {
    return Object.keys(data).map(function (key) {
      return encodeURIComponent(key) + '=' + encodeURIComponent(data[key] == null ? '' : data[key]).replace(/%20/g, '+');
    }).join('&');
  };
  /* $.ajax({type, url, data, dataType, success, error, complete}) over XMLHttpRequest. */
  $.ajax = function (options) {
    var xhr = new XMLHttpRequest(), type = (options.type || options.method || 'GET').toUpperCase();
    var body = typeof options.data === 'string' ? options.data : options.data ? $.param(options.data) : null;
    var url = options.url;
    if (type === 'GET' && body) { url += (url.indexOf('?') < 0 ? '?' : '&') + body; body = null; }
    xhr.open(type, url, true);
    if (body !== null) xhr.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded; charset=UTF-8');
    xhr.onload = function () {
      var data = xhr.responseText;
      if (options.dataType === 'json' || /json/.test(xhr.getResponseHeader('Content-Type') || '')) {
        try { data = JSON.parse(data); } catch (e) { data = null; }
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        if (options.success) options.success(data, 'success', xhr);
      } else if (options.error) {
        options.error(xhr, 'error');
      }
      if (options.complete) options.complete(xhr);
    };
    xhr.onerror = function () {
      if (options.error) options.error(xhr, 'error');
      if (options.complete) options.complete(xhr);
    };
    xhr.send(body);
    return xhr;
  };
  $.post = function (url, data, success) {
    return $.ajax({ type: 'POST', url: url, data: data, success: success });
  };
  window.jQuery = window.$ = $;
})(window, document);
