(() => {
  const C = __CONFIG__;
  __CARD_FIELD_JS__
  const all = Array.from(document.querySelectorAll('input, select, textarea'));
  const words = (el) => {
    const parts = [attr(el, 'name'), el.id, attr(el, 'placeholder'), attr(el, 'aria-label')];
    if (el.labels) for (const l of el.labels) parts.push(l.textContent || '');
    return parts.filter(Boolean).join(' ').toLowerCase();
  };
  const KIND = { 'cc-number': 'number', 'cc-exp': 'exp', 'cc-exp-month': 'exp-month', 'cc-exp-year': 'exp-year',
    'cc-csc': 'cvc', 'cc-name': 'name', 'cc-given-name': 'given', 'cc-family-name': 'family', 'email': 'email',
    'given-name': 'given', 'family-name': 'family', 'name': 'name', 'street-address': 'street',
    'address-line1': 'street', 'postal-code': 'postal', 'address-level2': 'city', 'tel': 'tel' };
  const kindOf = (el, card) => {
    const ac = (attr(el, 'autocomplete') || '').toLowerCase().split(/\s+/).pop();
    if (KIND[ac]) return KIND[ac];
    const w = words(el);
    if (/cvv|cvc|csc|security.?code/.test(w)) return 'cvc';
    if (/exp.{0,8}(month|mm\b)/.test(w)) return 'exp-month';
    if (/exp.{0,8}(year|yy)/.test(w)) return 'exp-year';
    if (/expir|exp.?date|mm.?\/.?yy/.test(w)) return 'exp';
    if (/holder|name.?on.?card|owner|ccname/.test(w)) return 'name';
    if (/card.?num|cc.?num|cardnumber|credit.?card|(^|[^a-z])(card|cc|pan)([^a-z]|$)/.test(w)) return 'number';
    if (card) return 'number';
    if (el.type === 'email' || /e-?mail/.test(w)) return 'email';
    if (el.type === 'tel' || /phone|mobile|tel/.test(w)) return 'tel';
    if (/first.?name|given/.test(w)) return 'given';
    if (/last.?name|surname|family/.test(w)) return 'family';
    if (/street|address/.test(w)) return 'street';
    if (/post.?code|postal|zip/.test(w)) return 'postal';
    if (/city|town/.test(w)) return 'city';
    return null;
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none' && +s.opacity > 0.05;
  };
  const skipTypes = ['hidden', 'checkbox', 'radio', 'submit', 'button', 'image', 'reset', 'file', 'password', 'search', 'range', 'color'];
  const fields = [];
  all.forEach((el, index) => {
    if (el.tagName === 'SELECT' || el.disabled || el.readOnly) return;
    if (el.tagName === 'INPUT' && skipTypes.indexOf((el.type || '').toLowerCase()) >= 0) return;
    if (!visible(el)) return;
    const card = isCard(el);
    const kind = kindOf(el, card);
    if (!kind) return;
    const r = el.getBoundingClientRect();
    fields.push({ index, selector: desc(el), kind, card, empty: el.value === '', max: el.maxLength > 0 ? el.maxLength : 0,
      y: r.top + scrollY, x: r.left + scrollX });
  });
  const configured = {};
  for (const s of C.selectors) { try { configured[s] = document.querySelectorAll(s).length; } catch (e) { configured[s] = -1; } }
  let submit = null;
  const buttons = Array.from(document.querySelectorAll('button, input[type=submit], input[type=button], [role=button]'));
  const label = (b) => ((b.textContent || '') + ' ' + (b.value || '') + ' ' + (attr(b, 'aria-label') || '')).toLowerCase();
  const payWords = /pay|place.?order|buy|complete|confirm|checkout|submit|order/;
  const pick = buttons.find((b) => visible(b) && !b.disabled && (b.type === 'submit') && payWords.test(label(b)))
    || buttons.find((b) => visible(b) && !b.disabled && payWords.test(label(b)))
    || buttons.find((b) => visible(b) && !b.disabled && b.type === 'submit');
  if (pick) submit = { index: Array.from(document.querySelectorAll('*')).indexOf(pick), selector: desc(pick) };
  return JSON.stringify({ url: String(location.href), fields, configured, submit });
})()