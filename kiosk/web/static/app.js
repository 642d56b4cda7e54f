"use strict";
// The visitor's page: one websocket to this kiosk, answers streamed sentence by sentence.
// Only this browser's own conversation ever arrives here (the server filters by it).
// Like the kiosk screen: an animated indicator and the state in words from the moment
// the question is sent, one closing line under every question, a stopped answer marked,
// too long refused with the limit and the text kept, and a reload shows the conversation
// the session still has. The wording comes from the server (/api/venue), as on the kiosk.
(function () {
  const form = document.getElementById("ask-form");
  const input = document.getElementById("question");
  const askButton = document.getElementById("ask");
  const stopButton = document.getElementById("stop");
  const statusLine = document.getElementById("status-line");
  const hint = document.getElementById("hint");
  const turns = document.getElementById("turns");
  let ws = null;
  let retry = 500;
  let venue = { max_question_chars: 500, too_long: "", stopped: {}, waiting: {} };
  const open = [];  // turns not yet closed, oldest first: {el, body, wait, question, asked}

  function setStatus(text) { statusLine.textContent = text; }
  function busy(on) { stopButton.disabled = !on; }
  function words(key, fallback) { return (venue.waiting && venue.waiting[key]) || fallback; }
  function stoppedLine(reason) {
    return (venue.stopped && (venue.stopped[reason] || venue.stopped.user)) || "Stopped.";
  }

  function showHint(text) { hint.textContent = text; hint.hidden = !text; }

  function newTurn(question) {
    const you = document.createElement("li");
    you.className = "you";
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = "You asked: ";
    const q = document.createElement("span");
    q.className = "text";
    q.textContent = question;
    you.append(who, q);
    const li = document.createElement("li");
    li.className = "kiosk";
    li.setAttribute("aria-busy", "true");
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = "Answer: ";
    const body = document.createElement("span");
    body.className = "text";
    const wait = document.createElement("span");
    wait.className = "waiting";
    const dots = document.createElement("span");
    dots.className = "dots";
    dots.setAttribute("aria-hidden", "true");
    for (let i = 0; i < 3; i++) dots.append(document.createElement("i"));
    const said = document.createElement("span");
    said.className = "words";
    said.textContent = words("looking", "Looking that up…");
    wait.append(dots, said);
    li.append(label, body, wait);
    turns.append(you, li);
    li.scrollIntoView({ block: "end" });
    return { el: li, body: body, wait: wait, said: said, question: question, asked: false };
  }

  function close(turn, line, kind) {
    const i = open.indexOf(turn);
    if (i >= 0) open.splice(i, 1);
    turn.el.removeAttribute("aria-busy");
    turn.wait.remove();
    if (line) {
      const end = document.createElement("span");
      end.className = "closing " + (kind || "");
      end.textContent = line;
      turn.el.append(end);
    }
    if (kind === "stopped") turn.el.classList.add("stopped");
    if (!open.length) busy(false);
  }

  function current() { return open.find(function (t) { return t.asked; }) || null; }

  function onEvent(e) {
    let turn;
    switch (e.type) {
      case "history":
        e.turns.forEach(function (h) {
          const t = newTurn(h.question);
          t.body.textContent = h.answer;
          close(t, h.state === "stopped" ? h.note : "", h.state === "stopped" ? "stopped" : "");
        });
        break;
      case "queued":
        setStatus("Waiting for the kiosk… " + e.ahead + " question(s) ahead.");
        break;
      case "question":
        turn = open.find(function (t) { return !t.asked; });
        if (turn) turn.asked = true;
        setStatus(words("looking", "Looking that up…"));
        break;
      case "answer-started":
        turn = current();
        if (turn && e.mode === "llm") turn.said.textContent = words("answering", "Answering…");
        setStatus(e.mode === "llm" ? words("answering", "Answering…") : "Answering…");
        break;
      case "answer-token":
        turn = current();
        if (turn) turn.body.textContent += e.text;
        break;
      case "answer-done":
        turn = current();
        if (turn) { turn.body.textContent = e.text; close(turn, "", ""); }
        setStatus("Ask another question.");
        input.focus();
        break;
      case "answer-cancelled":
        turn = current() || open[0];
        if (turn) close(turn, stoppedLine(e.reason), e.reason === "error" ? "error" : "stopped");
        setStatus("Stopped.");
        break;
      case "fault":
      case "error":
        if (e.code === "input.too-long") { showHint(e.message); setStatus("Ready."); break; }
        turn = current() || open[open.length - 1];
        if (turn) close(turn, e.message + (e.fix ? " (" + e.fix + ")" : ""), "error");
        setStatus("Something went wrong.");
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
      open.slice().forEach(function (t) { close(t, stoppedLine("disconnect"), "stopped"); });
      setStatus("Connection lost; reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function ask(q) {
    const count = Array.from(q).length;  // characters, as the server counts them
    if (count > venue.max_question_chars) {
      showHint(venue.too_long.replace("{limit}", venue.max_question_chars).replace("{count}", count));
      return false;  // the text stays in the box, to be shortened
    }
    showHint("");
    const latest = open[open.length - 1];
    if (latest && latest.question === q) return true;  // a double submit: one answer is enough
    open.forEach(function (t) {
      if (!t.asked) close(t, stoppedLine("new-question"), "stopped");  // never taken up
      else t.said.textContent = words("stopping", "Stopping…");
    });
    open.push(newTurn(q));
    ws.send(JSON.stringify({ type: "ask", question: q }));
    busy(true);
    setStatus(words("looking", "Looking that up…"));
    return true;
  }

  form.addEventListener("submit", function (evt) {
    evt.preventDefault();
    const q = input.value.trim();
    if (!q || !ws || ws.readyState !== WebSocket.OPEN) return;
    if (ask(q)) input.value = "";
  });
  stopButton.addEventListener("click", function () {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "cancel" }));
  });

  function showVenue(v) {
    venue = v;
    document.title = v.name + " — ask a question";
    document.getElementById("title").textContent = v.name;
    if (v.greeting) document.getElementById("intro").textContent = v.greeting;
  }

  function showExamples(v) {
    const list = document.getElementById("example-list");
    list.replaceChildren();
    (v.examples || []).slice(0, 4).forEach(function (q) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "example";
      b.textContent = q;
      b.addEventListener("click", function () {
        if (ws && ws.readyState === WebSocket.OPEN) ask(q);
      });
      li.append(b);
      list.append(li);
    });
    document.getElementById("examples").hidden = !(v.examples && v.examples.length);
  }

  askButton.disabled = true;
  fetch("/api/venue", { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (v) { if (v) showVenue(v); })
    .catch(function () { /* the page still works with its defaults */ });
  fetch("/api/examples", { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (v) { if (v) showExamples(v); })
    .catch(function () { /* examples are a nicety */ });
  connect();
})();
