(() => {
  const C = __CONFIG__;
  const send = self[C.binding];
  try { delete self[C.binding]; } catch (e) {}
  const stringify = JSON.stringify;
  __CARD_FIELD_JS__
  // Patched functions say they are native code, like the originals.
  const FP = Function.prototype, origToString = FP.toString;
  const natives = new WeakMap();
  const toString = ({ toString() { return natives.has(this) ? natives.get(this) : Reflect.apply(origToString, this, arguments); } }).toString;
  natives.set(toString, Reflect.apply(origToString, origToString, []));
  Object.defineProperty(FP, 'toString', { value: toString, writable: true, configurable: true, enumerable: false });
  const disguise = (fake, real) => { try { natives.set(fake, Reflect.apply(origToString, real, [])); } catch (e) {} return fake; };
  const getter = (obj, prop, make) => {
    const d = obj && Object.getOwnPropertyDescriptor(obj, prop);
    if (!d || !d.get) return;
    const real = d.get;
    const fake = Object.getOwnPropertyDescriptor({ get [prop]() { return make(this, real); } }, prop).get;
    Object.defineProperty(obj, prop, { get: disguise(fake, real), set: d.set, enumerable: d.enumerable, configurable: true });
  };

  // --- profile: what a real browser on a real machine shows ------------------------------
  for (const G of [self.WebGLRenderingContext, self.WebGL2RenderingContext]) {
    if (!G) continue;
    const real = G.prototype.getParameter;
    const fake = ({ getParameter(p) {
      if (p === 37445) return C.gl[0];
      if (p === 37446) return C.gl[1];
      return Reflect.apply(real, this, arguments);
    } }).getParameter;
    Object.defineProperty(G.prototype, 'getParameter', { value: disguise(fake, real), writable: true, enumerable: true, configurable: true });
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
  const where = () => {
    const E = Error, prep = E.prepareStackTrace, limit = E.stackTraceLimit;
    let st = '';
    try { E.prepareStackTrace = undefined; E.stackTraceLimit = 40; st = String(new E().stack || ''); } catch (e) {}
    try { E.prepareStackTrace = prep; E.stackTraceLimit = limit; } catch (e) {}
    for (const line of st.split('\n').slice(1)) {
      const m = line.match(/\(([^()\s]+):(\d+):(\d+)\)/) || line.match(/at ([^()\s]+):(\d+):(\d+)\s*$/);
      if (!m || m[1].indexOf(C.marker) >= 0) continue;
      return { u: m[1], l: +m[2], c: +m[3], ev: line.indexOf('eval at') >= 0 };
    }
    return null;
  };
  const note = (action, event, el, field) => {
    try {
      const w = where();
      if (!w) return;
      const f = field || desc(el);
      const key = action + '|' + event + '|' + f + '|' + w.u + ':' + w.l + ':' + w.c;
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
    if (P) getter(P.prototype, 'value', (el, real) => {
      const v = Reflect.apply(real, el, []);
      if (v !== '' && isCard(el)) note('read', null, el);
      return v;
    });
  }

  const KEYS = ['keydown', 'keypress', 'keyup', 'input', 'beforeinput', 'change', 'blur', 'focusout', 'paste', 'submit'];
  const origAdd = EventTarget.prototype.addEventListener;
  const add = ({ addEventListener(type, listener, options) {
    try {
      const t = String(type).toLowerCase();
      if (KEYS.indexOf(t) >= 0) {
        if (this === self) { if (t !== 'blur') note('listen', t, null, 'window'); }
        else if (this === document || this === document.body || this === document.documentElement) note('listen', t, null, 'document');
        else if (this instanceof HTMLFormElement) { if (formHasCard(this)) note('listen', t, null, formName(this)); }
        else if (isCard(this)) note('listen', t, this);
      }
    } catch (e) {}
    return Reflect.apply(origAdd, this, arguments);
  } }).addEventListener;
  Object.defineProperty(EventTarget.prototype, 'addEventListener', { value: disguise(add, origAdd), writable: true, enumerable: true, configurable: true });

  for (const P of [self.HTMLElement, self.Document]) {
    if (!P) continue;
    for (const prop of ['oninput', 'onkeydown', 'onkeyup', 'onkeypress', 'onchange', 'onblur', 'onpaste', 'onsubmit']) {
      const d = Object.getOwnPropertyDescriptor(P.prototype, prop);
      if (!d || !d.set) continue;
      const real = d.set;
      const fake = Object.getOwnPropertyDescriptor({ set [prop](v) {
        try {
          if (v) {
            const t = prop.slice(2);
            if (this === document) note('listen', t, null, 'document');
            else if (this instanceof HTMLFormElement) { if (formHasCard(this)) note('listen', t, null, formName(this)); }
            else if (isCard(this)) note('listen', t, this);
          }
        } catch (e) {}
        return Reflect.apply(real, this, [v]);
      } }, prop).set;
      Object.defineProperty(P.prototype, prop, { get: d.get, set: disguise(fake, real), enumerable: d.enumerable, configurable: true });
    }
  }

  // Image URLs are loaded later, so their requests carry no script stack: note who set them.
  const sent = (url) => {
    try {
      const w = where();
      if (!w) return;
      if (images >= MAX_REPORTS) return drop('image');
      images++;
      const href = String(new URL(String(url), document.baseURI).href).slice(0, 8192);
      send(stringify({ a: 'send', e: 'image', f: '', u: String(location.href), s: w, url: href }));
    } catch (e) {}
  };
  if (self.HTMLImageElement) {
    const d = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, 'src');
    if (d && d.set) {
      const real = d.set;
      const fake = Object.getOwnPropertyDescriptor({ set src(v) { sent(v); return Reflect.apply(real, this, [v]); } }, 'src').set;
      Object.defineProperty(HTMLImageElement.prototype, 'src', { get: d.get, set: disguise(fake, real), enumerable: d.enumerable, configurable: true });
    }
    const realSet = Element.prototype.setAttribute;
    const setAttribute = ({ setAttribute(name, value) {
      try { if (this instanceof HTMLImageElement && String(name).toLowerCase() === 'src') sent(value); } catch (e) {}
      return Reflect.apply(realSet, this, arguments);
    } }).setAttribute;
    Object.defineProperty(Element.prototype, 'setAttribute', { value: disguise(setAttribute, realSet), writable: true, enumerable: true, configurable: true });
  }

  const RealFormData = self.FormData;
  if (RealFormData) {
    const FD = new Proxy(RealFormData, { construct(target, args, newTarget) {
      try {
        const form = args[0];
        if (form instanceof HTMLFormElement) for (const el of form.elements) if (isCard(el)) note('read', 'formdata', el);
      } catch (e) {}
      return Reflect.construct(target, args, newTarget);
    } });
    disguise(FD, RealFormData);
    Object.defineProperty(self, 'FormData', { value: FD, writable: true, enumerable: false, configurable: true });
  }
})();