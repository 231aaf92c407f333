/*! Tagwell Analytics v2.8.1 | (c) Tagwell Ltd */
(function (w, d, n) {
  'use strict';
  var endpoint = new URL('/g/collect', d.currentScript.src).href;
  var tid = 'TW-HP4821';

  function clientId() {
    var match = d.cookie.match(/(?:^|; )_twa=([^;]*)/);
    if (match) {
      return match[1];
    }
    var id = Math.floor(Math.random() * 2147483647) + '.' + Math.floor(Date.now() / 1000);
    d.cookie = '_twa=' + id + '; path=/; max-age=63072000; SameSite=Lax';
    return id;
  }

  var cid = clientId();

  function send(type, extra) {
    var hit = { v: 2, tid: tid, cid: cid, t: type, dl: location.href, dt: d.title, sr: screen.width + 'x' + screen.height };
    for (var key in extra) {
      hit[key] = extra[key];
    }
    var body = Object.keys(hit).map(function (k) {
      return encodeURIComponent(k) + '=' + encodeURIComponent(hit[k]);
    }).join('&');
    if (n.sendBeacon && n.sendBeacon(endpoint, body)) {
      return;
    }
    new Image().src = endpoint + '?' + body;
  }

  w.twa = { send: send };
  send('pageview', {});

  // Funnel step only: which form was submitted, never what was typed into it.
  d.addEventListener('submit', function (event) {
    send('event', { ec: 'checkout', ea: 'submit', el: event.target.id || 'form' });
  }, true);
})(window, document, navigator);
