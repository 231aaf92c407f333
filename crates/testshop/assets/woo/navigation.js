/* Storefront theme: navigation (Harbor & Pine child theme) */
(function () {
  var nav = document.querySelector('.main-navigation');
  if (!nav) return;
  var links = nav.querySelectorAll('a');
  for (var i = 0; i < links.length; i++) {
    if (links[i].getAttribute('href') === location.pathname) links[i].className = 'current-menu-item';
  }
})();
