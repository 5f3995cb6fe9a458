"use strict";
// The API-key form: POST the key as JSON; the daemon answers with an HttpOnly session cookie.
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const key = document.getElementById("key").value;
  try {
    const response = await fetch("/ui/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ key }),
    });
    if (response.ok) {
      window.location.replace("/ui");
      return;
    }
    const body = await response.json().catch(() => ({}));
    error.textContent = (body.error && body.error.message) || `refused (HTTP ${response.status})`;
  } catch (exc) {
    error.textContent = `cannot reach the daemon: ${exc}`;
  }
});
