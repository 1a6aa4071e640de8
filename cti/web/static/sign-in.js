// One sign-in page for every role: it sends each user to their home
// (agents to the console, supervisors and admins to the agent board), or back
// to the page that sent them here.
"use strict";

function nextPage(home) {
  const next = new URLSearchParams(location.search).get("next") || "";
  // only a path on this server: never "//elsewhere" or "https://..."
  return /^\/(?!\/)/.test(next) && !next.startsWith("/sign-in") ? next : home;
}

document.getElementById("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const out = document.getElementById("signin-error");
  out.textContent = "";
  try {
    const data = await hotline.api("POST", "/api/v1/sign-in",
      { login: f.login.value, password: f.password.value });
    f.password.value = "";
    location.replace(nextPage(data.user.home));
  } catch (err) {
    out.textContent = hotline.errorText(err);
  }
});
