// A job's Server-Sent Events read with fetch: EventSource cannot send an Authorization
// header. After a network drop the stream is opened again with Last-Event-ID, so the
// server replays what was missed and nothing is shown twice.

import { askForKey, authHeaders, KeyRefused } from "./api.js";

//: Answers that another try would only repeat (others, and network errors, are retried).
const GONE = new Set([400, 403, 404, 410, 422]);

class StreamRefused extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Parses SSE text into {id, event, data} frames; keeps a partial frame for the next chunk. */
export class SseParser {
  constructor() {
    this.buffer = "";
  }

  push(text) {
    this.buffer += text.replace(/\r\n?/g, "\n");
    const frames = [];
    let end;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const frame = { id: null, event: "message", data: [] };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "id") frame.id = value;
        else if (name === "event") frame.event = value;
        else if (name === "data") frame.data.push(value);
      }
      if (frame.data.length) frames.push({ ...frame, data: frame.data.join("\n") });
    }
    return frames;
  }
}

/**
 * Follows a job's stream until its `end` event (or `signal` aborts). `onEvent(name, data)`
 * gets each event once; `onConnection(state)` hears "open", "lost" and "closed".
 */
export async function followJob(streamUrl, { onEvent, onConnection = () => {}, signal }) {
  let lastId = 0;
  let delay = 500;
  for (;;) {
    if (signal && signal.aborted) return;
    try {
      const headers = { Accept: "text/event-stream", ...authHeaders() };
      if (lastId > 0) headers["Last-Event-ID"] = String(lastId);
      const response = await fetch(streamUrl, { headers, signal, cache: "no-store" });
      if (response.status === 401) {
        await askForKey("API key needed");
        continue;
      }
      if (GONE.has(response.status)) throw new StreamRefused(`the job's stream answered ${response.status}`);
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      onConnection("open");
      delay = 500;
      const parser = new SseParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const frame of parser.push(value)) {
          const seq = Number.parseInt(frame.id, 10);
          if (Number.isFinite(seq)) {
            if (seq <= lastId) continue; // already shown before the drop
            lastId = seq;
          }
          let data = {};
          try {
            data = JSON.parse(frame.data);
          } catch {
            continue;
          }
          onEvent(frame.event, data);
          if (frame.event === "end") {
            reader.cancel().catch(() => {});
            onConnection("closed");
            return;
          }
        }
      }
    } catch (error) {
      if (signal && signal.aborted) return;
      if (error instanceof KeyRefused || error instanceof StreamRefused) throw error;
    }
    onConnection("lost");
    await sleep(delay);
    delay = Math.min(delay * 2, 5000);
  }
}
