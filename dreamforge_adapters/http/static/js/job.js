// The running job: its state and queue position, a progress bar per image, live previews
// and the cancel button, fed by the job's SSE events.

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

const percent = (fraction) => Math.round(Math.max(0, Math.min(1, fraction || 0)) * 100);

export class JobView {
  constructor(root) {
    this.root = root;
    this.state = root.querySelector("#job-state");
    this.bar = root.querySelector("#job-progress");
    this.percent = root.querySelector("#job-percent");
    this.items = root.querySelector("#items");
    this.cancel = root.querySelector("#cancel");
    this.job = null;
  }

  get terminal() {
    return Boolean(this.job && TERMINAL.has(this.job.state));
  }

  show(job) {
    this.job = job;
    this.root.hidden = false;
    this.root.querySelector("#job-id").textContent = job.id;
    this.items.replaceChildren();
    for (let i = 0; i < (job.count || 1); i++) this.item(i);
    this.setProgress(job.progress || 0);
    this.update(job);
  }

  /** The <li> of one image: label, bar, preview. */
  item(index) {
    let node = this.items.querySelector(`[data-item="${index}"]`);
    if (node) return node;
    node = document.createElement("li");
    node.dataset.item = String(index);
    const id = `item-${index}-progress`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = `Image ${index + 1}`;
    const bar = document.createElement("progress");
    bar.id = id;
    bar.max = 100;
    bar.value = 0;
    const text = document.createElement("span");
    text.className = "percent";
    text.textContent = "waiting";
    const preview = document.createElement("img");
    preview.className = "preview";
    preview.alt = `Live preview of image ${index + 1}`;
    preview.hidden = true;
    node.append(label, bar, text, preview);
    this.items.append(node);
    return node;
  }

  setItem(index, fraction, note) {
    const node = this.item(index);
    node.querySelector("progress").value = percent(fraction);
    node.querySelector(".percent").textContent = note || `${percent(fraction)} %`;
  }

  setProgress(fraction) {
    this.bar.value = percent(fraction);
    this.percent.textContent = `${percent(fraction)} %`;
  }

  /** Shows a Job (from GET or the create answer): state, queue position, cancel button. */
  update(job) {
    this.job = { ...this.job, ...job };
    const state = this.job.state;
    let text = state;
    if (state === "queued") {
      const position = this.job.queue_position;
      text =
        position === null || position === undefined
          ? "Queued"
          : position === 0
            ? "Queued: next to start"
            : `Queued: ${position} job${position === 1 ? "" : "s"} ahead`;
    } else if (state === "running") {
      text = "Running";
    } else if (state === "succeeded") {
      text = "Finished";
    } else if (state === "canceled") {
      text = "Canceled";
    } else if (state === "failed") {
      const error = this.job.error || {};
      text = `Failed${error.code ? ` (${error.code})` : ""}: ${error.message || "no reason given"}`;
    }
    this.state.textContent = text;
    this.state.dataset.state = state;
    this.cancel.hidden = this.terminal;
    this.cancel.disabled = false;
    if (state === "succeeded") {
      this.setProgress(1);
      for (const node of this.items.children) this.setItem(Number(node.dataset.item), 1, "done");
    }
  }

  /** One SSE event of the job. */
  onEvent(name, data) {
    if (name === "state" && data.state) this.update({ state: data.state });
    if (name === "progress") {
      if (typeof data.progress === "number") this.setProgress(data.progress);
      if (Number.isInteger(data.item_index) && typeof data.item_progress === "number") {
        const step = data.step && data.total_steps ? `step ${data.step}/${data.total_steps}` : "";
        this.setItem(data.item_index, data.item_progress, step ? `${percent(data.item_progress)} % · ${step}` : "");
      }
    }
    if (name === "artifact" && Number.isInteger(data.item_index)) {
      this.setItem(data.item_index, 1, "done");
    }
    if (name === "preview" && Number.isInteger(data.item_index) && typeof data.image === "string") {
      const preview = this.item(data.item_index).querySelector(".preview");
      if (data.image.startsWith("data:image/")) {
        preview.src = data.image;
        preview.hidden = false;
      }
      if (data.step && data.total) {
        const node = this.item(data.item_index);
        node.querySelector(".percent").textContent = `step ${data.step}/${data.total}`;
      }
    }
  }
}
