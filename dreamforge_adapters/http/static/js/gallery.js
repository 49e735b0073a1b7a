// Finished images: each with its seed and parameters, a download link, and the
// "use as input" and "upscale" actions where the model's schema offers them.

const SHOWN = ["steps", "guidance", "scheduler", "width", "height", "preset"];

export class Gallery {
  constructor(list, empty, { onUseAsInput, onUpscale }) {
    this.list = list;
    this.empty = empty;
    this.onUseAsInput = onUseAsInput;
    this.onUpscale = onUpscale;
    this.seen = new Set();
  }

  /** Adds the artifacts not shown yet, newest job first. */
  add(job, artifacts, offers) {
    const fresh = artifacts.filter((a) => !this.seen.has(a.id));
    fresh.sort((a, b) => a.item_index - b.item_index);
    const anchor = this.list.querySelector(`[data-job="${CSS.escape(job.id)}"]`);
    for (const artifact of fresh) {
      this.seen.add(artifact.id);
      const card = this.card(job, artifact, offers);
      const later = [...this.list.children].find(
        (c) => c.dataset.job === job.id && Number(c.dataset.item) > artifact.item_index,
      );
      if (later) this.list.insertBefore(card, later);
      else if (anchor) this.list.insertBefore(card, this.afterJob(job.id));
      else this.list.prepend(card);
    }
    this.empty.hidden = this.list.children.length > 0;
  }

  afterJob(jobId) {
    const cards = [...this.list.children];
    const last = cards.map((c) => c.dataset.job).lastIndexOf(jobId);
    return cards[last + 1] || null;
  }

  card(job, artifact, offers) {
    const params = job.params || {};
    const li = document.createElement("li");
    li.className = "card";
    li.dataset.job = job.id;
    li.dataset.item = String(artifact.item_index);
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = artifact.url;
    img.alt = `Image ${artifact.item_index + 1} of job ${job.id}: ${params.prompt || ""}`;
    img.width = artifact.width;
    img.height = artifact.height;
    img.loading = "lazy";
    const caption = document.createElement("figcaption");
    const prompt = document.createElement("p");
    prompt.className = "prompt";
    prompt.textContent = params.prompt || "";
    const facts = document.createElement("dl");
    const add = (name, value) => {
      if (value === null || value === undefined || value === "") return;
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      if (name === "seed") dd.className = "seed";
      facts.append(dt, dd);
    };
    add("seed", artifact.seed);
    for (const name of SHOWN) add(name, params[name]);
    if (artifact.step && artifact.step !== "generate") add("step", artifact.step);
    const actions = document.createElement("div");
    actions.className = "actions";
    const download = document.createElement("a");
    download.href = artifact.url;
    download.download = `dreamforge-${job.id}-${artifact.item_index}.${artifact.format || "png"}`;
    download.textContent = "Download";
    download.className = "button";
    actions.append(download);
    const ref = `artifact:${job.id}/${artifact.item_index}`;
    if (offers.inputImage) actions.append(this.button("Use as input", () => this.onUseAsInput(ref)));
    // An image made from an input, or already upscaled, cannot be remade from its seed alone.
    if (offers.upscale && !job.params.init_image && artifact.step !== "upscale") {
      actions.append(this.button("Upscale", () => this.onUpscale(job, artifact)));
    }
    caption.append(prompt, facts, actions);
    figure.append(img, caption);
    li.append(figure);
    return li;
  }

  button(text, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = text;
    button.addEventListener("click", onClick);
    return button;
  }
}
