"use strict";
// The public status page: polls /api/status, which holds nothing about any visitor.
(function () {
  function show(id, text) { document.getElementById(id).textContent = text; }
  function duration(s) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? h + " h " + m + " min" : m + " min " + Math.floor(s % 60) + " s";
  }
  async function refresh() {
    try {
      const r = await fetch("/api/status", { cache: "no-store" });
      const s = await r.json();
      show("health", s.status);
      show("device", s.device);
      show("model", s.model);
      show("uptime", duration(s.uptime_s));
      show("queue", String(s.queue.web_waiting + s.queue.llm_waiting));
      const c = s.certificate;
      show("certificate", c.status + (c.expires ? ", expires " + c.expires + " (" + c.days_left + " days)" : ""));
    } catch (e) {
      show("health", "unreachable");
    }
  }
  refresh();
  setInterval(refresh, 5000);
})();
