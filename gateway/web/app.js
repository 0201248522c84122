"use strict";
// The polls page: plain DOM, no framework. Every API error body is {error, message, details}; `message` is
// written for people, so that is what the page shows.

const RESULTS_EVERY_MS = 1500;
const POLLS_EVERY_MS = 5000;

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

// ---- session: tokens in sessionStorage, so a reload keeps you logged in but closing the tab does not ----

const session = {
  get access() { return sessionStorage.getItem("access"); },
  get refresh() { return sessionStorage.getItem("refresh"); },
  get user() { return JSON.parse(sessionStorage.getItem("user") || "null"); },
  save(tokens) {
    sessionStorage.setItem("access", tokens.access);
    if (tokens.refresh) sessionStorage.setItem("refresh", tokens.refresh);
  },
  remember(user) { sessionStorage.setItem("user", JSON.stringify(user)); },
  clear() { sessionStorage.clear(); },
};

// ---- the API ----

// `token: null` for the endpoints that hand tokens out: a stale token there would only earn a 401.
async function call(method, path, body, { token = session.access } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && data.message ? data.message : `The server answered ${response.status}.`;
    throw new ApiError(response.status, data && data.error, message, data && data.details);
  }
  return data;
}

let refreshing = null;

async function refreshAccess() {
  // One refresh at a time, however many requests found their token expired together.
  refreshing = refreshing || call("POST", "/api/auth/token/refresh/", { refresh: session.refresh }, { token: null })
    .then((tokens) => session.save(tokens))
    .finally(() => { refreshing = null; });
  return refreshing;
}

async function api(method, path, body) {
  try {
    return await call(method, path, body);
  } catch (error) {
    if (error.status !== 401 || !session.refresh) throw error;
    try {
      await refreshAccess();
    } catch {
      logOut("Your session has expired: please log in again.");
      throw error;
    }
    return call(method, path, body);
  }
}

const listOf = (page) => (Array.isArray(page) ? page : page.results);
const votesText = (count) => `${count} ${count === 1 ? "vote" : "votes"}`;

// ---- messages ----

function say(text, kind = "error") {
  const message = $("message");
  message.textContent = text;
  message.dataset.kind = kind;
  message.hidden = false;
}

function quiet() {
  $("message").hidden = true;
}

async function guarded(action) {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    say(error.message);
  }
}

// ---- auth ----

function credentials() {
  return { username: $("username").value.trim(), password: $("password").value };
}

async function logIn() {
  session.save(await call("POST", "/api/auth/token/", credentials(), { token: null }));
  session.remember(await api("GET", "/api/auth/me/"));
  $("password").value = "";
  showApp();
}

async function register() {
  await call("POST", "/api/auth/register/", credentials(), { token: null });
  await logIn();
  say("Welcome! Your account is ready.", "success");
}

function logOut(reason) {
  session.clear();
  stopPolling();
  showSignedOut();
  if (reason) say(reason, "info");
}

// The server ends the session first (its refresh token at once, its access token everywhere soon after):
// forgetting the tokens here alone would leave a refresh token that works for the rest of the day.
async function signOut() {
  try {
    if (session.refresh) await call("POST", "/api/auth/logout/", { refresh: session.refresh }, { token: null });
  } catch (error) {
    // 401: the session had ended already. Anything else: the tokens are forgotten here all the same.
    if (error.status !== 401) {
      logOut("You are logged out on this page, but the server could not be told: your session ends by itself within a day.");
      return;
    }
  }
  logOut("You are logged out.");
}

// ---- views ----

let openPollId = null;
let nextPollsPage = null;
let resultsTimer = null;
let pollsTimer = null;

function showSignedOut() {
  $("auth-section").hidden = false;
  for (const id of ["session", "create-section", "polls-section", "detail-section"]) $(id).hidden = true;
}

function showApp() {
  $("auth-section").hidden = true;
  $("session").hidden = false;
  $("whoami").textContent = `Signed in as ${session.user.username}`;
  showList();
}

function showList() {
  openPollId = null;
  $("detail-section").hidden = true;
  $("create-section").hidden = false;
  $("polls-section").hidden = false;
  schedule();
  return guarded(loadPolls);
}

async function loadPolls(more = false) {
  const page = await api("GET", more && nextPollsPage ? nextPollsPage : "/api/polls/");
  const list = $("polls-list");
  if (!more) list.replaceChildren();
  for (const poll of page.results) list.append(pollItem(poll));
  // `next` may be absolute; only its path and query matter behind the same gateway.
  const next = page.next ? new URL(page.next, location.href) : null;
  nextPollsPage = next ? next.pathname + next.search : null;
  $("polls-more-button").hidden = !nextPollsPage;
  $("polls-empty").hidden = list.children.length > 0;
}

function pollItem(poll) {
  const item = $("poll-item").content.firstElementChild.cloneNode(true);
  item.id = `poll-${poll.id}`;
  item.dataset.testid = `poll-${poll.id}`;
  item.dataset.pollId = poll.id;
  const open = item.querySelector(".open-poll");
  open.textContent = poll.question;
  open.dataset.testid = `open-poll-${poll.id}`;
  open.addEventListener("click", () => guarded(() => showPoll(poll.id)));
  item.querySelector(".status").textContent = poll.status;
  item.querySelector(".total").textContent = votesText(poll.total_votes);
  item.classList.toggle("closed", poll.status !== "open");
  return item;
}

async function showPoll(pollId) {
  const poll = await api("GET", `/api/polls/${pollId}/`);
  openPollId = poll.id;
  const mine = session.user && poll.owner_id === session.user.id;
  const open = poll.status === "open";
  $("detail-section").dataset.pollId = poll.id;
  $("detail-question").textContent = poll.question;
  $("detail-status").textContent = poll.status;
  $("choice-form").hidden = !(mine && open);
  $("close-poll-button").hidden = !(mine && open);
  $("detail-section").hidden = false;
  $("create-section").hidden = true;
  $("polls-section").hidden = true;
  await loadChoices(open);
  schedule();
}

async function loadChoices(open) {
  // A poll created a moment ago is waited for by the choice and vote services: no retry here.
  const choices = listOf(await api("GET", `/api/choices/?poll_id=${openPollId}`));
  $("choices-list").replaceChildren(...choices.map((choice) => choiceItem(choice, open)));
  await loadResults();
}

function choiceItem(choice, open) {
  const item = $("choice-item").content.firstElementChild.cloneNode(true);
  item.id = `choice-${choice.id}`;
  item.dataset.testid = `choice-${choice.id}`;
  item.dataset.choiceId = choice.id;
  item.querySelector(".text").textContent = choice.text;
  item.querySelector(".count").dataset.testid = `votes-${choice.id}`;
  item.querySelector(".count").id = `votes-${choice.id}`;
  const vote = item.querySelector(".vote");
  vote.id = `vote-${choice.id}`;
  vote.dataset.testid = `vote-${choice.id}`;
  vote.hidden = !open;
  vote.addEventListener("click", () => guarded(() => castVote(choice.id)));
  return item;
}

async function loadResults() {
  if (openPollId === null) return;
  let results;
  try {
    results = await api("GET", `/api/votes/results/${openPollId}/`);
  } catch (error) {
    if (error.status === 404) return; // the poll was deleted meanwhile: no votes to show
    throw error;
  }
  showResults(results);
}

function showResults(results) {
  if (results.poll_id !== openPollId) return; // the person moved on while this was in flight
  $("detail-total").textContent = votesText(results.total);
  for (const counted of results.choices) {
    const item = $(`choice-${counted.choice_id}`);
    if (!item) continue;
    item.querySelector(".count").textContent = votesText(counted.votes);
    const bar = item.querySelector("progress");
    bar.max = Math.max(results.total, 1);
    bar.value = counted.votes;
  }
}

// ---- actions ----

async function createPoll(event) {
  event.preventDefault();
  const question = $("poll-question").value.trim();
  const texts = $("poll-choices").value.split("\n").map((line) => line.trim()).filter(Boolean);
  const poll = await api("POST", "/api/polls/", { question });
  $("poll-form").reset();
  for (const text of texts) await addChoice(poll.id, text);
  await showPoll(poll.id);
  say(`Poll created${texts.length ? ` with ${texts.length} choices` : ""}.`, "success");
}

function addChoice(pollId, text) {
  return api("POST", "/api/choices/", { poll_id: pollId, text });
}

async function addChoiceToOpenPoll(event) {
  event.preventDefault();
  await addChoice(openPollId, $("choice-text").value.trim());
  $("choice-text").value = "";
  await loadChoices(true);
  quiet();
}

async function castVote(choiceId) {
  await api("POST", "/api/votes/", { poll_id: openPollId, choice_id: choiceId });
  await loadResults();
  say("Your vote is counted.", "success");
}

async function closePoll() {
  await api("POST", `/api/polls/${openPollId}/close/`);
  await showPoll(openPollId);
  say("The poll is closed: no more votes.", "success");
}

// ---- live updates, only while the page is visible ----

let resultsStream = null;

function schedule() {
  stopPolling();
  if (document.visibilityState !== "visible" || !session.access) return;
  if (openPollId !== null) watchResults(openPollId);
  else pollsTimer = setInterval(() => guarded(loadPolls), POLLS_EVERY_MS);
}

// The results as vote-service sends them when they change (Server-Sent Events; the browser reconnects by itself
// after a dropped connection, saying which version it has). A stream refused or unsupported falls back to
// reading them every RESULTS_EVERY_MS.
function watchResults(pollId) {
  if (typeof EventSource === "undefined") return pollResults();
  const stream = new EventSource(`/api/votes/live/${pollId}/`);
  resultsStream = stream;
  stream.onopen = () => { $("detail-section").dataset.live = "on"; };
  stream.onmessage = (event) => showResults(JSON.parse(event.data));
  stream.onerror = () => {
    if (stream.readyState !== EventSource.CLOSED || resultsStream !== stream) return;
    resultsStream = null;
    pollResults();
  };
}

function pollResults() {
  $("detail-section").dataset.live = "off";
  resultsTimer = setInterval(() => guarded(loadResults), RESULTS_EVERY_MS);
}

function stopPolling() {
  clearInterval(resultsTimer);
  clearInterval(pollsTimer);
  if (resultsStream) resultsStream.close();
  resultsStream = null;
  delete $("detail-section").dataset.live;
}

// ---- wiring ----

document.addEventListener("DOMContentLoaded", () => {
  $("auth-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(logIn); });
  $("register-button").addEventListener("click", () => {
    if ($("auth-form").reportValidity()) guarded(register);
  });
  $("logout-button").addEventListener("click", () => signOut());
  $("poll-form").addEventListener("submit", (event) => guarded(() => createPoll(event)));
  $("choice-form").addEventListener("submit", (event) => guarded(() => addChoiceToOpenPoll(event)));
  $("close-poll-button").addEventListener("click", () => guarded(closePoll));
  $("back-button").addEventListener("click", () => { quiet(); showList(); });
  $("refresh-polls-button").addEventListener("click", () => guarded(loadPolls));
  $("polls-more-button").addEventListener("click", () => guarded(() => loadPolls(true)));
  document.addEventListener("visibilitychange", () => {
    schedule();
    if (document.visibilityState === "visible") guarded(openPollId !== null ? loadResults : loadPolls);
  });
  if (session.access && session.user) showApp();
  else showSignedOut();
});
