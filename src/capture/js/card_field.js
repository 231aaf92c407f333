
  const cardWords = /(card.?num|cc.?num|cardnumber|credit.?card|(^|[^a-z])(card|cc|pan|cvv|cvc|csc|cvv2)([^a-z]|$)|security.?code|expir|exp.?date|exp.?month|exp.?year)/i;
  const getAttr = Element.prototype.getAttribute, matches = Element.prototype.matches;
  const attr = (el, n) => Reflect.apply(getAttr, el, [n]);
  const isCard = (el) => {
    try {
      if (!el || el.nodeType !== 1) return false;
      const tag = el.tagName;
      if (tag !== 'INPUT' && tag !== 'SELECT' && tag !== 'TEXTAREA') return false;
      for (const s of C.selectors) { try { if (Reflect.apply(matches, el, [s])) return true; } catch (e) {} }
      const ac = (attr(el, 'autocomplete') || '').toLowerCase();
      if (/(^|\s)cc-/.test(ac)) return true;
      for (const a of ['name', 'id', 'placeholder', 'aria-label', 'data-elements-stable-field-name']) {
        const v = attr(el, a);
        if (v && cardWords.test(v)) return true;
      }
      if (el.labels) for (const l of el.labels) if (cardWords.test(l.textContent || '')) return true;
    } catch (e) {}
    return false;
  };
  const desc = (el) => {
    const ac = (attr(el, 'autocomplete') || '').toLowerCase();
    const name = attr(el, 'name');
    return el.id ? '#' + CSS.escape(el.id)
      : name ? el.tagName.toLowerCase() + '[name="' + name.replace(/"/g, '\\"') + '"]'
      : el.tagName.toLowerCase() + '[autocomplete="' + ac + '"]';
  };
