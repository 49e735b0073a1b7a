// The playground: pick a model, fill the form built from its schema, create a job, follow
// it live, collect its images.

import { ApiError, KeyRefused, askForKey, call, newIdempotencyKey } from "./api.js";
import { JobForm } from "./form.js";
import { Gallery } from "./gallery.js";
import { JobView } from "./job.js";
import { followJob } from "./stream.js";

const $ = (id) => document.getElementById(id);
const formNode = $("job-form");
const modelSelect = $("model");
const generate = $("generate");
const formError = $("form-error");
const form = new JobForm($("fields"));
const view = new JobView($("job"));
const models = new Map();

// One key per thing the user asked for: a second click on the same form replays the same
// job instead of making another; editing the form or a finished job starts a new key.
let idempotencyKey = newIdempotencyKey();
let follow = null; // AbortController of the stream being read

const gallery = new Gallery($("gallery"), $("gallery-empty"), {
  onUseAsInput(ref) {
    form.setInputImage(ref);
    idempotencyKey = newIdempotencyKey();
    $("f-prompt").focus();
  },
  async onUpscale(job, artifact) {
    // Hires fix of this image: its own parameters and seed make the same first pass, which
    // the upscale step then enlarges and repaints.
    const { init_image: _i, mask_image: _m, strength: _s, upscale: _u, ...params } = job.params;
    const spec = (form.schema.properties.upscale || {}).properties || {};
    const preset = (name, fallback) => (spec[name] || {}).default || fallback;
    params.seed = artifact.seed;
    params.count = 1;
    params.upscale = {
      factor: preset("factor", 2),
      strength: preset("strength", 0.5),
      steps: preset("steps", params.steps || 20),
    };
    for (const [name, value] of Object.entries(params)) if (value === null) delete params[name];
    await submit({ model_id: job.model_id, params }, newIdempotencyKey());
  },
});

function fail(message) {
  formError.textContent = message;
}

async function loadModels() {
  try {
    const { items } = await call("/v1/models");
    modelSelect.replaceChildren();
    for (const model of items) {
      models.set(model.id, model);
      const option = document.createElement("option");
      option.value = model.id;
      option.textContent = model.installed ? model.name : `${model.name} (not installed)`;
      modelSelect.append(option);
    }
    if (!items.length) fail("No model is enabled on this server.");
    chooseModel();
  } catch (error) {
    fail(error instanceof KeyRefused ? "An API key is needed to use this server." : error.message);
    if (error instanceof KeyRefused) showRetry();
  }
}

function showRetry() {
  const retry = document.createElement("button");
  retry.type = "button";
  retry.textContent = "Enter API key";
  retry.addEventListener("click", () => {
    retry.remove();
    fail("");
    loadModels();
  });
  formError.append(" ", retry);
}

function chooseModel() {
  const model = models.get(modelSelect.value);
  form.build(model ? model.parameters_schema : null);
}

async function submit(body, key) {
  form.clearErrors(formNode);
  fail("");
  generate.disabled = true;
  try {
    const job = await call("/v1/jobs", { method: "POST", body, headers: { "Idempotency-Key": key } });
    start(job);
  } catch (error) {
    if (error instanceof ApiError) {
      const unplaced = form.showErrors(formNode, error.fieldErrors);
      fail(error.fieldErrors.length ? unplaced.join("; ") : error.message);
    } else {
      fail(error instanceof KeyRefused ? "An API key is needed to create jobs." : error.message);
    }
  } finally {
    generate.disabled = false;
  }
}

/** Shows a job and follows its stream (a replayed job that is already shown is left be). */
function start(job) {
  if (view.job && view.job.id === job.id && !view.terminal) return;
  if (follow) follow.abort();
  follow = new AbortController();
  view.show(job);
  const signal = follow.signal;
  let poll = null;
  const refresh = async () => {
    try {
      const fresh = await call(job.links.self, { signal });
      if (!signal.aborted) view.update(fresh);
    } catch {
      /* the stream tells the outcome */
    }
  };
  if (job.state === "queued") poll = setInterval(() => view.job.state === "queued" && refresh(), 1000);
  let collecting = Promise.resolve();
  const collect = () => {
    collecting = collecting.then(async () => {
      try {
        const { items } = await call(job.links.artifacts, { signal });
        if (signal.aborted) return;
        gallery.add(view.job, items, { inputImage: form.offersInputImage, upscale: form.offersUpscale });
      } catch {
        /* shown on the next artifact or at the end */
      }
    });
    return collecting;
  };
  followJob(job.links.stream, {
    signal,
    onEvent(name, data) {
      view.onEvent(name, data);
      if (name === "artifact") collect();
      if (name === "state" && data.state === "running" && poll) {
        clearInterval(poll);
        poll = null;
      }
    },
    onConnection(state) {
      document.body.dataset.stream = state;
    },
  })
    .then(async () => {
      if (signal.aborted) return;
      await refresh();
      await collect();
      idempotencyKey = newIdempotencyKey();
    })
    .catch((error) => fail(error.message))
    .finally(() => poll && clearInterval(poll));
}

formNode.addEventListener("submit", (event) => {
  event.preventDefault();
  submit(form.body(modelSelect.value), idempotencyKey);
});
formNode.addEventListener("input", (event) => {
  if (event.target !== modelSelect) idempotencyKey = newIdempotencyKey();
});
modelSelect.addEventListener("change", () => {
  idempotencyKey = newIdempotencyKey();
  chooseModel();
});
$("cancel").addEventListener("click", async () => {
  if (!view.job) return;
  $("cancel").disabled = true;
  try {
    view.update(await call(`/v1/jobs/${encodeURIComponent(view.job.id)}/cancel`, { method: "POST" }));
  } catch (error) {
    // a job that finished meanwhile answers 409 invalid_state: its stream shows the outcome
    if (!(error instanceof ApiError && error.code === "invalid_state")) fail(error.message);
  }
});
$("key-button").addEventListener("click", () => askForKey("Change API key").catch(() => {}));
$("key-button").hidden = !sessionStorage.getItem("dreamforge.apiKey");

loadModels();
