// pow-ext-passkeys: runs the WebAuthn ceremony of a pow-rs passkey form in the browser and
// posts its result with the form. No build step; the rest of the page works without it.
(function () {
  "use strict";

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeList(list) {
    return (list || []).map(function (item) {
      var copy = Object.assign({}, item);
      copy.id = fromB64url(item.id);
      return copy;
    });
  }

  function publicKey(options) {
    var key = Object.assign({}, options.publicKey);
    key.challenge = fromB64url(key.challenge);
    if (key.user) {
      key.user = Object.assign({}, key.user, { id: fromB64url(key.user.id) });
    }
    if (key.excludeCredentials) { key.excludeCredentials = decodeList(key.excludeCredentials); }
    if (key.allowCredentials) { key.allowCredentials = decodeList(key.allowCredentials); }
    return key;
  }

  function encode(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toB64url(response.attestationObject);
      if (response.getTransports) { out.response.transports = response.getTransports(); }
    } else {
      out.response.authenticatorData = toB64url(response.authenticatorData);
      out.response.signature = toB64url(response.signature);
      out.response.userHandle = toB64url(response.userHandle);
    }
    return JSON.stringify(out);
  }

  function field(form, name) {
    return form.querySelector('input[name="user[' + name + ']"]');
  }

  function ceremony(form, mediation, signal) {
    var options = JSON.parse(field(form, "webauthn_options").value);
    var request = { publicKey: publicKey(options) };
    if (mediation) { request.mediation = mediation; }
    if (signal) { request.signal = signal; }
    var create = field(form, "webauthn_mode").value === "create";
    var call = create ? navigator.credentials.create(request) : navigator.credentials.get(request);
    return call.then(function (credential) {
      field(form, "credential").value = encode(credential);
      form.submit();
    });
  }

  function setUp(form) {
    var pending = null;
    form.addEventListener("submit", function (event) {
      if (field(form, "credential").value) { return; }
      event.preventDefault();
      if (pending) { pending.abort(); pending = null; }
      ceremony(form).catch(function (error) {
        form.setAttribute("data-passkey-error", error && error.name ? error.name : "error");
      });
    });
    // Sign-in pages offer the browser's passkeys in the address field's autofill too.
    var autofill = form.querySelector('input[autocomplete~="webauthn"]');
    if (autofill && window.PublicKeyCredential &&
        PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) { return; }
        pending = new AbortController();
        ceremony(form, "conditional", pending.signal).catch(function () {});
      });
    }
  }

  // The page's note that passkeys need JavaScript is its info text's last sentence (the
  // one naming JavaScript, in every language pow-rs ships); it is for browsers without
  // scripts, so a running script takes it away. A text without it is left alone.
  function hideScriptNote() {
    var flashes = document.querySelectorAll(".pow-flash-info");
    for (var i = 0; i < flashes.length; i++) {
      var text = flashes[i].textContent;
      var at = text.lastIndexOf("JavaScript");
      if (at < 0 || /[.!?]\s/.test(text.slice(at))) { continue; }
      var end = Math.max(text.lastIndexOf(". ", at), text.lastIndexOf("! ", at),
        text.lastIndexOf("? ", at));
      var kept = end < 0 ? "" : text.slice(0, end + 1);
      flashes[i].textContent = kept;
      if (!kept) { flashes[i].hidden = true; }
    }
  }

  function start() {
    hideScriptNote();
    if (!window.PublicKeyCredential) { return; }
    var forms = document.querySelectorAll("form");
    for (var i = 0; i < forms.length; i++) {
      if (field(forms[i], "webauthn_options")) {
        setUp(forms[i]);
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
