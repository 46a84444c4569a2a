/// The console's static files, served from `/ui/static/` (the Content-Security-Policy
/// allows scripts and styles from there only: no inline code).
enum ConsoleAssets {
    /// A static file's content type and bytes, by name.
    static let files: [String: (contentType: String, body: [UInt8])] = [
        "console.js": ("text/javascript; charset=utf-8", Array(script.utf8)),
        "console.css": ("text/css; charset=utf-8", Array(stylesheet.utf8)),
    ]

    /// Live refresh: every element with `data-live-url` is replaced every few seconds by
    /// the fragment that URL renders (HTML the server escaped). A session that ended
    /// reloads the page, which then shows the sign-in form.
    static let script = """
        "use strict";
        (function () {
          var intervalMilliseconds = 3000;
          function poll(element) {
            var url = element.getAttribute("data-live-url");
            function refresh() {
              fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "manual", headers: { "Accept": "text/html" } })
                .then(function (response) {
                  if (response.type === "opaqueredirect" || response.status === 401) {
                    window.location.reload();
                    return null;
                  }
                  return response.ok ? response.text() : null;
                })
                .then(function (html) {
                  if (html !== null && html !== undefined) { element.innerHTML = html; }
                })
                .catch(function () { /* keep what is shown; the next poll tries again */ })
                .then(function () { window.setTimeout(refresh, intervalMilliseconds); });
            }
            window.setTimeout(refresh, intervalMilliseconds);
          }
          document.addEventListener("DOMContentLoaded", function () {
            var elements = document.querySelectorAll("[data-live-url]");
            for (var i = 0; i < elements.length; i++) { poll(elements[i]); }
          });
        })();

        """

    static let stylesheet = """
        body { font-family: system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
        header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.5rem; background: #1d2330; color: #fff; }
        header a { color: #fff; text-decoration: none; margin-right: 1rem; }
        header .brand { font-weight: 700; }
        header .who { margin-left: auto; opacity: .8; }
        main { padding: 1rem 1.5rem 3rem; max-width: 80rem; }
        table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 1.5rem; }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
        .state { padding: .05rem .45rem; border-radius: .6rem; background: #e3e6eb; font-size: .85em; }
        .state-ONLINE, .state-RUNNING, .state-SUCCEEDED, .state-Connected { background: #cdeccf; }
        .state-PARTIAL, .state-PENDING, .state-IN_PROGRESS, .state-CREATING, .state-Degraded { background: #fbe7b5; }
        .state-OFFLINE, .state-FAILED, .state-ERROR { background: #f6c9c9; }
        .card { background: #fff; padding: 1rem; max-width: 32rem; display: grid; gap: .4rem; }
        form.inline { display: inline; }
        .error { color: #a0001b; }
        pre { background: #10131a; color: #d8dde6; padding: .8rem; overflow: auto; max-height: 30rem; }
        .log-message { font-family: ui-monospace, monospace; white-space: pre-wrap; }
        dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
        dl.facts dd { margin: 0; }

        """
}
