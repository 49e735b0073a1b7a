// Calls to the Dream Forge API: the API key (asked for on a 401, kept in this tab's session
// storage only) and the error envelope, whose details name the offending fields.

const KEY_STORAGE = "dreamforge.apiKey";

export class ApiError extends Error {
  constructor(status, envelope) {
    const error = (envelope && envelope.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details || {};
  }

  /** [{field, message}] of a validation error (`details.errors`), else none. */
  get fieldErrors() {
    return Array.isArray(this.details.errors) ? this.details.errors : [];
  }
}

export class KeyRefused extends Error {}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

let pendingAsk = null;

/** Shows the key dialog (one at a time) and resolves once a key is stored. */
export function askForKey(reason = "") {
  if (pendingAsk) return pendingAsk;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("api-key");
  const title = document.getElementById("key-title");
  title.textContent = reason || "API key needed";
  input.value = "";
  pendingAsk = new Promise((resolve, reject) => {
    dialog.addEventListener(
      "close",
      () => {
        pendingAsk = null;
        const key = input.value.trim();
        if (dialog.returnValue === "save" && key) {
          sessionStorage.setItem(KEY_STORAGE, key);
          document.getElementById("key-button").hidden = false;
          resolve(key);
        } else {
          reject(new KeyRefused("no API key given"));
        }
      },
      { once: true },
    );
  });
  dialog.showModal();
  input.focus();
  return pendingAsk;
}

/** A fetch of the API with the key; a 401 asks for a key and tries again. */
export async function request(path, { method = "GET", body, headers = {}, signal } = {}) {
  for (;;) {
    const init = { method, headers: { ...headers, ...authHeaders() }, signal, cache: "no-store" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      const had = apiKey();
      await askForKey(had ? "That API key was refused: try another" : "API key needed");
      continue;
    }
    return response;
  }
}

/** `request` that returns the JSON body, or throws ApiError with the envelope. */
export async function call(path, options) {
  const response = await request(path, options);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A fresh Idempotency-Key (crypto.randomUUID needs a secure context; this does not). */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
