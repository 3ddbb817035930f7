// Signup's hand-over: submit the form that signs the new owner in to their workspace.
// A separate file (not inline), so a Content-Security-Policy of script-src 'self' allows it.
"use strict";
const form = document.querySelector("form[data-auto-submit]");
if (form) {
  form.submit();
}
