(() => {
  const out = { url: location.href, inline: [], handlers: [], fields: [] };
  const desc = (el) => {
    let d = el.tagName.toLowerCase();
    if (el.id) return d + '#' + el.id;
    const n = el.getAttribute('name');
    if (n) return d + '[name=' + JSON.stringify(n) + ']';
    return d;
  };
  for (const s of document.querySelectorAll('script:not([src])')) {
    out.inline.push({ text: s.text, id: s.id || null });
  }
  let count = 0;
  for (const el of document.querySelectorAll('*')) {
    if (++count > 20000) break;
    for (const a of el.attributes) {
      if (/^on/i.test(a.name)) out.handlers.push({ ctx: desc(el) + '@' + a.name.toLowerCase(), value: a.value });
    }
  }
  const cardWords = /(card.?num|cc.?num|cardnumber|credit.?card|(^|[^a-z])(card|cc|pan|cvv|cvc|csc|cvv2)([^a-z]|$)|security.?code|expir|exp.?date|exp.?month|exp.?year)/i;
  for (const el of document.querySelectorAll('input, select')) {
    const ac = (el.getAttribute('autocomplete') || '').toLowerCase();
    let reason = null;
    if (/(^|\s)cc-/.test(ac)) reason = 'autocomplete=' + ac;
    else {
      for (const attr of ['name', 'id', 'placeholder', 'aria-label', 'data-elements-stable-field-name']) {
        const v = el.getAttribute(attr);
        if (v && cardWords.test(v)) { reason = attr + '~' + v.slice(0, 40); break; }
      }
      if (!reason && el.labels) for (const l of el.labels) {
        if (cardWords.test(l.textContent || '')) { reason = 'label~' + (l.textContent || '').trim().slice(0, 40); break; }
      }
    }
    if (reason) {
      let sel = el.id ? '#' + CSS.escape(el.id)
        : el.getAttribute('name') ? el.tagName.toLowerCase() + '[name="' + el.getAttribute('name').replace(/"/g, '\\"') + '"]'
        : el.tagName.toLowerCase() + '[autocomplete="' + ac + '"]';
      out.fields.push({ selector: sel, reason });
    }
  }
  return JSON.stringify(out);
})()
//# sourceURL=__skimwatch_probe__.js