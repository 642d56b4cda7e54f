"use strict";
// The visitor's page: one websocket to this kiosk, answers streamed token by token.
// Only this browser's own conversation ever arrives here (the server filters by it).
(function () {
  const form = document.getElementById("ask-form");
  const input = document.getElementById("question");
  const askButton = document.getElementById("ask");
  const stopButton = document.getElementById("stop");
  const statusLine = document.getElementById("status-line");
  const turns = document.getElementById("turns");
  let ws = null;
  let answer = null;
  let retry = 500;

  function setStatus(text) { statusLine.textContent = text; }
  function busy(on) { stopButton.disabled = !on; }

  function addTurn(cls, text) {
    const li = document.createElement("li");
    li.className = cls;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = cls === "you" ? "You asked: " : "Answer: ";
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(who, body);
    turns.append(li);
    li.scrollIntoView({ block: "end" });
    return body;
  }

  function onEvent(e) {
    switch (e.type) {
      case "queued":
        setStatus("Waiting for the kiosk… " + e.ahead + " question(s) ahead.");
        break;
      case "question":
        setStatus("Thinking…");
        break;
      case "answer-started":
        answer = addTurn("kiosk", "");
        answer.parentElement.setAttribute("aria-busy", "true");
        setStatus("Answering…");
        break;
      case "answer-token":
        if (!answer) answer = addTurn("kiosk", "");
        answer.textContent += e.text;
        break;
      case "answer-done":
        if (answer) { answer.textContent = e.text; answer.parentElement.removeAttribute("aria-busy"); }
        answer = null; busy(false); setStatus("Ask another question.");
        input.focus();
        break;
      case "answer-cancelled":
        if (answer) answer.parentElement.removeAttribute("aria-busy");
        answer = null; busy(false); setStatus("Stopped.");
        break;
      case "fault":
      case "error":
        addTurn("error", e.message + (e.fix ? " (" + e.fix + ")" : ""));
        answer = null; busy(false); setStatus("Something went wrong.");
        break;
      default:
        break;
    }
  }

  function connect() {
    ws = new WebSocket("wss://" + location.host + "/ws");
    ws.onopen = function () { retry = 500; askButton.disabled = false; setStatus("Ready. Type a question."); };
    ws.onmessage = function (m) {
      try { onEvent(JSON.parse(m.data)); } catch (err) { /* ignore a malformed frame */ }
    };
    ws.onclose = function () {
      askButton.disabled = true; busy(false);
      setStatus("Connection lost; reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  form.addEventListener("submit", function (evt) {
    evt.preventDefault();
    const q = input.value.trim();
    if (!q || !ws || ws.readyState !== WebSocket.OPEN) return;
    addTurn("you", q);
    ws.send(JSON.stringify({ type: "ask", question: q }));
    input.value = "";
    busy(true);
    setStatus("Sent.");
  });
  stopButton.addEventListener("click", function () {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "cancel" }));
  });
  askButton.disabled = true;
  connect();
})();
