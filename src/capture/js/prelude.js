(() => {
  const C = __CONFIG__;
  const send = self[C.binding];
  try { delete self[C.binding]; } catch (e) {}
  // Everything the instrumentation calls later is taken now, before any page code runs: a page
  // may replace Reflect, Error, Object, Array or RegExp methods to blind or fool it.
  const stringify = JSON.stringify, apply = Reflect.apply, construct = Reflect.construct;
  const defProp = Object.defineProperty, getDesc = Object.getOwnPropertyDescriptor, isArray = Array.isArray;
  const exec = RegExp.prototype.exec;
  __CARD_FIELD_JS__
  // Patched functions say they are native code, like the originals.
  const FP = Function.prototype, origToString = FP.toString;
  const natives = new WeakMap();
  const toString = ({ toString() { return natives.has(this) ? natives.get(this) : apply(origToString, this, arguments); } }).toString;
  natives.set(toString, apply(origToString, origToString, []));
  defProp(FP, 'toString', { value: toString, writable: true, configurable: true, enumerable: false });
  // Same `toString()`, `length` and `name` as the real function: pages check them to spot hooks.
  const disguise = (fake, real, shape = true) => {
    try { natives.set(fake, apply(origToString, real, [])); } catch (e) {}
    for (const k of shape ? ['length', 'name'] : []) {
      try { const d = getDesc(real, k); if (d) defProp(fake, k, d); } catch (e) {}
    }
    return fake;
  };
  const getter = (obj, prop, make) => {
    const d = obj && getDesc(obj, prop);
    if (!d || !d.get) return;
    const real = d.get;
    const fake = getDesc({ get [prop]() { return make(this, real, fake); } }, prop).get;
    defProp(obj, prop, { get: disguise(fake, real), set: d.set, enumerable: d.enumerable, configurable: true });
  };

  // --- profile: what a real browser on a real machine shows ------------------------------
  for (const G of [self.WebGLRenderingContext, self.WebGL2RenderingContext]) {
    if (!G) continue;
    const real = G.prototype.getParameter;
    const fake = ({ getParameter(p) {
      if (p === 37445) return C.gl[0];
      if (p === 37446) return C.gl[1];
      return apply(real, this, arguments);
    } }).getParameter;
    defProp(G.prototype, 'getParameter', { value: disguise(fake, real), writable: true, enumerable: true, configurable: true });
  }
  if (self.Navigator) {
    getter(Navigator.prototype, 'hardwareConcurrency', () => C.cores);
    getter(Navigator.prototype, 'deviceMemory', () => C.memory);
  }
  if (self.Screen) {
    getter(Screen.prototype, 'width', () => C.screen[0]);
    getter(Screen.prototype, 'height', () => C.screen[1]);
    getter(Screen.prototype, 'availWidth', () => C.screen[0]);
    getter(Screen.prototype, 'availHeight', () => C.screen[1] - C.screen[2]);
  }
  if (self.window === self) {
    getter(self, 'outerWidth', () => self.innerWidth);
    getter(self, 'outerHeight', () => self.innerHeight + C.toolbars);
  }
  if (!self.document) return;

  // --- instrumentation: who touches card fields ----------------------------------------
  const seen = Object.create(null);
  // Reports per frame at most (limits::PRELUDE_MAX_REPORTS); past it, say how many were dropped.
  const MAX_REPORTS = 2000;
  let count = 0, images = 0;
  const dropped = { access: 0, image: 0 };
  const drop = (kind) => {
    const n = ++dropped[kind];
    if (n === 1 || n % 500 === 0) {
      try { send(stringify({ a: 'drop', e: kind, f: '', u: '', s: { u: '', l: 1, c: 1 }, n: n })); } catch (e) {}
    }
  };
  // Who called a hooked function: the stack is read as V8's own call sites, with the Error
  // constructor, `captureStackTrace` and the call-site methods taken before page code ran, and
  // cut at the hook itself (`captureStackTrace(holder, hook)`), so neither a marker nor a stack
  // the page formats (its own `Error`, `prepareStackTrace`, `stackTraceLimit`) decides. A call
  // site's file name is the resource V8 compiled the code from (not its `sourceURL`). When the
  // stack cannot be read as ours, the sender is unknown (null) and still reported.
  const RealError = Error, capture = Error.captureStackTrace;
  const sites = (e, cs) => { sites.ran = true; return cs; };
  let CS = null;
  try {
    const h = {};
    defProp(RealError, 'prepareStackTrace', { value: sites, writable: true, configurable: true });
    capture(h);
    const cs = h.stack;
    delete RealError.prepareStackTrace;
    if (isArray(cs) && cs.length) {
      const P = Object.getPrototypeOf(cs[0]);
      CS = { file: P.getFileName, line: P.getLineNumber, col: P.getColumnNumber, isEval: P.isEval,
        origin: P.getEvalOrigin, label: P.getScriptNameOrSourceURL };
    }
  } catch (e) {}
  const evalAt = /\(([^()\s]+):(\d+):(\d+)\)/;
  const where = (hook) => {
    if (!CS) return null;
    const E = RealError, prep = getDesc(E, 'prepareStackTrace'), limit = getDesc(E, 'stackTraceLimit');
    let cs = null;
    sites.ran = false;
    try {
      defProp(E, 'prepareStackTrace', { value: sites, writable: true, configurable: true });
      defProp(E, 'stackTraceLimit', { value: 40, writable: true, configurable: true });
      const h = {};
      capture(h, hook);
      cs = h.stack;
    } catch (e) {}
    try {
      if (prep) defProp(E, 'prepareStackTrace', prep); else delete E.prepareStackTrace;
      if (limit) defProp(E, 'stackTraceLimit', limit);
    } catch (e) {}
    if (!sites.ran || !isArray(cs)) return null;
    for (let i = 0; i < cs.length; i++) {
      const c = cs[i];
      try {
        if (apply(CS.isEval, c, [])) {
          const m = apply(exec, evalAt, [String(apply(CS.origin, c, []) || '')]);
          if (m) return { u: m[1], l: +m[2], c: +m[3], ev: true };
          continue;
        }
        const line = apply(CS.line, c, []), col = apply(CS.col, c, []);
        if (line == null) continue;
        const label = apply(CS.label, c, []);
        return { u: String(apply(CS.file, c, []) || ''), n: label ? String(label) : '', l: +line, c: +col };
      } catch (e) { return null; }
    }
    return null;
  };
  const note = (action, event, el, field, hook) => {
    try {
      const w = where(hook);
      const f = field || desc(el);
      const at = w ? w.u + '|' + w.n + ':' + w.l + ':' + w.c : '?';
      const key = action + '|' + event + '|' + f + '|' + at;
      if (seen[key]) return;
      if (count >= MAX_REPORTS) return drop('access');
      seen[key] = 1;
      count++;
      send(stringify({ a: action, e: event, f: f, u: String(location.href), s: w }));
    } catch (e) {}
  };
  const formHasCard = (form) => { try { for (const el of form.elements) if (isCard(el)) return true; } catch (e) {} return false; };
  const formName = (form) => 'form' + (form.id ? '#' + CSS.escape(form.id) : '');

  for (const P of [self.HTMLInputElement, self.HTMLSelectElement, self.HTMLTextAreaElement]) {
    if (P) getter(P.prototype, 'value', (el, real, hook) => {
      const v = apply(real, el, []);
      if (v !== '' && isCard(el)) note('read', null, el, null, hook);
      return v;
    });
  }

  const KEYS = ['keydown', 'keypress', 'keyup', 'input', 'beforeinput', 'change', 'blur', 'focusout', 'paste', 'submit'];
  const origAdd = EventTarget.prototype.addEventListener;
  const add = ({ addEventListener(type, listener, options) {
    try {
      const t = String(type).toLowerCase();
      if (KEYS.indexOf(t) >= 0) {
        if (this === self) { if (t !== 'blur') note('listen', t, null, 'window', add); }
        else if (this === document || this === document.body || this === document.documentElement) note('listen', t, null, 'document', add);
        else if (this instanceof HTMLFormElement) { if (formHasCard(this)) note('listen', t, null, formName(this), add); }
        else if (isCard(this)) note('listen', t, this, null, add);
      }
    } catch (e) {}
    return apply(origAdd, this, arguments);
  } }).addEventListener;
  defProp(EventTarget.prototype, 'addEventListener', { value: disguise(add, origAdd), writable: true, enumerable: true, configurable: true });

  for (const P of [self.HTMLElement, self.Document]) {
    if (!P) continue;
    for (const prop of ['oninput', 'onkeydown', 'onkeyup', 'onkeypress', 'onchange', 'onblur', 'onpaste', 'onsubmit']) {
      const d = getDesc(P.prototype, prop);
      if (!d || !d.set) continue;
      const real = d.set;
      const fake = getDesc({ set [prop](v) {
        try {
          if (v) {
            const t = prop.slice(2);
            if (this === document) note('listen', t, null, 'document', fake);
            else if (this instanceof HTMLFormElement) { if (formHasCard(this)) note('listen', t, null, formName(this), fake); }
            else if (isCard(this)) note('listen', t, this, null, fake);
          }
        } catch (e) {}
        return apply(real, this, [v]);
      } }, prop).set;
      defProp(P.prototype, prop, { get: d.get, set: disguise(fake, real), enumerable: d.enumerable, configurable: true });
    }
  }

  // Image URLs are loaded later, so their requests carry no script stack: note who set them.
  const sent = (url, hook) => {
    try {
      const w = where(hook);
      if (images >= MAX_REPORTS) return drop('image');
      images++;
      const href = String(new URL(String(url), document.baseURI).href).slice(0, 8192);
      send(stringify({ a: 'send', e: 'image', f: '', u: String(location.href), s: w, url: href }));
    } catch (e) {}
  };
  if (self.HTMLImageElement) {
    const d = getDesc(HTMLImageElement.prototype, 'src');
    if (d && d.set) {
      const real = d.set;
      const fake = getDesc({ set src(v) { sent(v, fake); return apply(real, this, [v]); } }, 'src').set;
      defProp(HTMLImageElement.prototype, 'src', { get: d.get, set: disguise(fake, real), enumerable: d.enumerable, configurable: true });
    }
    const realSet = Element.prototype.setAttribute;
    const setAttribute = ({ setAttribute(name, value) {
      try { if (this instanceof HTMLImageElement && String(name).toLowerCase() === 'src') sent(value, setAttribute); } catch (e) {}
      return apply(realSet, this, arguments);
    } }).setAttribute;
    defProp(Element.prototype, 'setAttribute', { value: disguise(setAttribute, realSet), writable: true, enumerable: true, configurable: true });
  }

  // Cookies written by scripts: who wrote which name (values never leave the page).
  let cookieWrites = 0;
  if (self.Document) {
    const d = getDesc(Document.prototype, 'cookie');
    if (d && d.set) {
      const real = d.set;
      const fake = getDesc({ set cookie(v) {
        try {
          if (cookieWrites < MAX_REPORTS) {
            const text = String(v), eq = text.indexOf('='), semi = text.indexOf(';');
            const name = text.slice(0, eq >= 0 && (semi < 0 || eq < semi) ? eq : 0).trim().slice(0, 300);
            const w = where(fake);
            const key = 'cookie|' + name + '|' + (w ? w.u + ':' + w.l + ':' + w.c : '?');
            if (name && !seen[key]) {
              seen[key] = 1;
              cookieWrites++;
              send(stringify({ a: 'cookie', e: name, f: '', u: String(location.href), s: w }));
            }
          }
        } catch (e) {}
        return apply(real, this, [v]);
      } }, 'cookie').set;
      defProp(Document.prototype, 'cookie', { get: d.get, set: disguise(fake, real), enumerable: d.enumerable, configurable: true });
    }
  }

  const RealFormData = self.FormData;
  if (RealFormData) {
    const traps = { construct(target, args, newTarget) {
      try {
        const form = args[0];
        if (form instanceof HTMLFormElement) for (const el of form.elements) if (isCard(el)) note('read', 'formdata', el, null, traps.construct);
      } catch (e) {}
      return construct(target, args, newTarget);
    } };
    const FD = new Proxy(RealFormData, traps);
    disguise(FD, RealFormData, false);
    defProp(self, 'FormData', { value: FD, writable: true, enumerable: false, configurable: true });
  }
})();