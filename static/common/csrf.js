// The one reader of Django's CSRF cookie, for every page script (loaded first by base.html).
// Unsafe requests send it back as X-CSRFToken; the session cookie alone is never enough.
"use strict";

window.reviewsvc = Object.assign(window.reviewsvc || {}, {
  csrfToken: function () {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  },
});
