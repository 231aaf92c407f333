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
    // `complete` knows Magento's card code (`payment[cc_cid]`) and card type fields too.
    if (C.complete && /(^|[^a-z])c?cid([^a-z]|$)|verification/.test(w)) return 'cvc';
    if (C.complete && /c(c|ard).?type|cardtype/.test(w)) return 'card-type';
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
    if (!C.complete) return null;
    // `complete`: every other field a checkout asks for gets a plausible value; the cart's
    // own inputs (quantity, coupon, search, login) are left alone.
    if (/qty|quantity|coupon|discount|voucher|gift|promo|search|captcha|password|login|username/.test(w)) return null;
    if (/country/.test(w)) return 'country';
    if (/region|state|province|county/.test(w)) return 'region';
    if (/company|organi[sz]ation/.test(w)) return 'company';
    if (/fax/.test(w)) return 'tel';
    if (el.tagName === 'TEXTAREA' || /comment|note|instruction/.test(w)) return 'note';
    if (el.type === 'number') return 'count';
    return 'text';
  };
  const visibleOrLabel = (el) => visible(el) || (el.labels && Array.from(el.labels).some(visible));
  // A select's options that a shopper could mean: not disabled, not a placeholder.
  const placeholder = (o) => o.disabled || o.value === '' || /^\s*(-+|please|select|choose|--)/i.test(o.textContent || '');
  const BRANDS = { visa: /^vi$|visa/i, mastercard: /^mc$|master/i, amex: /^ae$|amex|american/i, discover: /^di$|discover/i, jcb: /jcb/i };
  const chooseOption = (el, kind) => {
    const opts = Array.from(el.options);
    const real = opts.map((o, i) => [o, i]).filter(([o]) => !placeholder(o));
    const find = (re) => real.find(([o]) => re.test(o.value) || re.test((o.textContent || '').trim()));
    let hit = null;
    if (kind === 'card-type' || (kind === 'number' && real.some(([o]) => BRANDS.visa.test(o.value + ' ' + o.textContent)))) {
      hit = BRANDS[C.brand] ? find(BRANDS[C.brand]) : null;
      if (!hit) return { problem: 'no card type option for ' + C.brand };
    } else if (kind === 'exp-month') {
      hit = find(/^(0?12|12\b.*|dec.*)$/i);
    } else if (kind === 'exp-year') {
      hit = find(new RegExp('^(' + C.year + '|' + String(C.year).slice(2) + ')$'));
      if (!hit) hit = real.filter(([o]) => +o.value > new Date().getFullYear() % 100).pop() || null;
    } else if (kind === 'country') {
      hit = find(new RegExp('^(' + C.country.join('|') + ')$', 'i'));
    }
    if (!hit) hit = real[0] || null;
    if (!hit) return { problem: 'no plausible option' };
    return { option: hit[1] };
  };
  const radioWords = (el) => [attr(el, 'name'), el.value, el.id].concat(el.labels ? Array.from(el.labels).map((l) => l.textContent || '') : []).join(' ').toLowerCase();
  const cardMethod = /(^|[^a-z])cc|ccsave|card|credit|stripe|braintree|authori[sz]e/;
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none' && +s.opacity > 0.05;
  };
  const skipTypes = ['hidden', 'checkbox', 'radio', 'submit', 'button', 'image', 'reset', 'file', 'password', 'search', 'range', 'color'];
  const fields = [];
  const place = (el) => { const r = (visible(el) ? el : (el.labels && Array.from(el.labels).find(visible)) || el).getBoundingClientRect(); return { y: r.top + scrollY, x: r.left + scrollX }; };
  const groups = {};
  all.forEach((el, index) => {
    if (!C.complete || el.disabled) return;
    const type = (el.type || '').toLowerCase();
    if (el.tagName === 'SELECT' && !el.multiple && visible(el)) {
      const card = isCard(el);
      const kind = kindOf(el, card) || 'choice';
      const cur = el.options[el.selectedIndex];
      if (cur && !placeholder(cur)) return;
      const pick = chooseOption(el, kind);
      fields.push(Object.assign({ index, selector: desc(el), kind: 'select', card, empty: true, max: 0 }, pick, place(el)));
    } else if (el.tagName === 'INPUT' && type === 'radio' && visibleOrLabel(el)) {
      const g = attr(el, 'name') || ('#' + index);
      (groups[g] = groups[g] || []).push([el, index]);
    } else if (el.tagName === 'INPUT' && type === 'checkbox' && visibleOrLabel(el) && !el.checked
        && /terms|agree|agreement|accept|conditions/.test(radioWords(el))) {
      fields.push(Object.assign({ index, selector: desc(el), kind: 'check', card: false, empty: true, max: 0 }, place(el)));
    }
  });
  for (const g of Object.values(groups)) {
    const payment = g.some(([el]) => /payment|method/.test(radioWords(el)) && cardMethod.test(radioWords(el)));
    const card = payment ? g.find(([el]) => cardMethod.test(radioWords(el))) : null;
    const checked = g.find(([el]) => el.checked);
    const want = card || checked || g[0];
    if (want[0].checked) continue;
    const [el, index] = want;
    fields.push(Object.assign({ index, selector: desc(el), kind: 'check', card: false, empty: true, max: 0 }, place(el)));
  }
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
  const everything = Array.from(document.querySelectorAll('*'));
  if (pick) submit = { index: everything.indexOf(pick), selector: desc(pick) };
  // `complete`: every step button and pay button a checkout shows, in page order. What looks
  // destructive or leads elsewhere is never listed.
  const steps = [];
  if (C.complete) {
    const said = (b) => (label(b) + ' ' + (attr(b, 'title') || '')).replace(/\s+/g, ' ').trim();
    const how = (b) => [b.id, attr(b, 'name'), attr(b, 'class'), attr(b, 'onclick'), said(b)].filter(Boolean).join(' ').toLowerCase();
    const bad = /log.?out|sign.?out|log.?in|sign.?in|register|remove|delete|cancel|clear|empty|edit|back|coupon|discount|voucher|gift|newsletter|subscribe|search|update.?cart|wishlist|print/;
    const stepRe = /(billing|shipping|shippingmethod|payment)\.save\(|checkout\.setmethod\(|(^|[^a-z])(continue|next|proceed)([^a-z]|$)/;
    const payRe = /review\.save\(|place.?order|onestepcheckout|(^|[^a-z])(pay|buy|submit|complete.?order|confirm.?order|checkout)([^a-z]|$)/;
    const foreign = (b) => {
      const target = b.tagName === 'A' ? attr(b, 'href') : (attr(b, 'formaction') || (b.form && attr(b.form, 'action')));
      if (!target || /^\s*(#|javascript:)/i.test(target)) return false;
      try { return new URL(target, location.href).origin !== location.origin; } catch (e) { return true; }
    };
    const bdesc = (b) => {
      const tag = b.tagName.toLowerCase();
      const oc = attr(b, 'onclick');
      if (b.id) return '#' + CSS.escape(b.id);
      if (oc && oc.length < 80) return tag + '[onclick="' + oc.replace(/"/g, '\\"') + '"]';
      if (attr(b, 'name')) return tag + '[name="' + attr(b, 'name').replace(/"/g, '\\"') + '"]';
      const cls = (attr(b, 'class') || '').trim().split(/\s+/).filter(Boolean).slice(0, 3);
      return tag + cls.map((c) => '.' + CSS.escape(c)).join('');
    };
    const pressable = Array.from(document.querySelectorAll('button, input[type=submit], input[type=button], input[type=image], [role=button], a[onclick]'));
    for (const b of pressable) {
      // A page of a million buttons gets a bounded listing (checkouts have a handful).
      if (steps.length >= 200) break;
      if (!visible(b) || b.disabled || foreign(b)) continue;
      const h = how(b);
      if (bad.test(said(b).toLowerCase()) || /log.?out|remove|delete|cancel|back\(|edit/.test(h.replace(said(b).toLowerCase(), ''))) continue;
      const kind = /review\.save\(|place.?order/.test(h) ? 'pay' : stepRe.test(h) ? 'step' : payRe.test(h) ? 'pay' : (b.type === 'submit' ? 'pay' : null);
      if (!kind) continue;
      const r = b.getBoundingClientRect();
      steps.push({ index: everything.indexOf(b), selector: bdesc(b), label: said(b).slice(0, 200), kind, y: r.top + scrollY, x: r.left + scrollX });
    }
  }
  return JSON.stringify({ url: String(location.href), fields, configured, submit, buttons: steps });
})()