/* Tagwell Tag Manager | container TW-HP4821 | published version 37 */
(function (w, d) {
  'use strict';
  var base = new URL(d.currentScript.src).origin;
  var container = {
    id: 'TW-HP4821',
    version: 37,
    tags: [
      { name: 'Tagwell Analytics', src: '/analytics.js', trigger: 'pageview' }
    ]
  };

  w.twDataLayer = w.twDataLayer || [];
  w.twDataLayer.push({ event: 'tw.js', container: container.id, version: container.version });

  // Each tag is a script inserted at run time, so the page only ever names the container.
  container.tags.forEach(function (tag) {
    var script = d.createElement('script');
    script.async = true;
    script.src = base + tag.src + '?id=' + encodeURIComponent(container.id);
    script.setAttribute('data-tag', tag.name);
    d.head.appendChild(script);
  });
})(window, document);
