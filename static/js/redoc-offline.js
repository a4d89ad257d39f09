// ReDoc's bundle ends its sidebar with a credit whose image comes from cdn.redoc.ly, with no option
// to leave it out; the docs call nowhere (the Content-Security-Policy would refuse it, an error in
// every console). Loaded before the bundle: an image source on another site is never set, however
// it is set, so it is never asked for.
(function () {
  "use strict";
  const elsewhere = (value) => new URL(String(value), document.baseURI).origin !== location.origin;
  const source = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...source,
    set(value) {
      if (elsewhere(value)) this.hidden = true;
      else source.set.call(this, value);
    },
  });
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src" && elsewhere(value)) {
      this.hidden = true;
      return;
    }
    setAttribute.call(this, name, value);
  };
})();
