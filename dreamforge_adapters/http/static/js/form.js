// The job form, built from the chosen model's `parameters_schema`: the prompt first, the
// rest folded away. Only values that differ from the schema's defaults are sent, so that a
// preset chosen in the form is not overridden by defaults the user never touched.

const LABELS = {
  prompt: "Prompt",
  negative_prompt: "Negative prompt",
  seed: "Seed",
  width: "Width",
  height: "Height",
  steps: "Steps",
  guidance: "Guidance",
  scheduler: "Scheduler",
  format: "Format",
  embed_metadata: "Embed parameters in the image",
  count: "Number of images",
  preset: "Preset",
  strength: "Input strength",
  preview_every: "Live preview every N steps",
};
//: Handled by the page's own controls ("use as input", "upscale"), or not offered here.
const OWN_CONTROLS = new Set(["init_image", "mask_image", "upscale", "loras"]);
const PRIORITIES = ["low", "normal", "high"];

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
};

const types = (schema) => (Array.isArray(schema.type) ? schema.type : [schema.type]);
const label = (name) => LABELS[name] || name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

function hintOf(schema) {
  const parts = [];
  if (schema.minimum !== undefined && schema.maximum !== undefined) {
    parts.push(`${schema.minimum}–${schema.maximum}`);
  }
  if (schema.multipleOf && schema.multipleOf !== 1) parts.push(`multiple of ${schema.multipleOf}`);
  if (schema.description) parts.push(schema.description);
  return parts.join(" · ");
}

/** One labelled control with its hint and the slot for the server's message. */
function field(name, schema, fieldName = `params.${name}`) {
  const id = `f-${name}`;
  const errorId = `${id}-error`;
  const hint = hintOf(schema);
  const hintId = hint ? `${id}-hint` : null;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ");
  const t = types(schema);
  let control;
  if (schema.enum) {
    control = el("select", { id, "data-field": fieldName, "aria-describedby": describedBy });
    for (const option of schema.enum) {
      const text = option === null ? "none" : String(option);
      control.append(el("option", { value: option === null ? "" : option, text }));
    }
    control.value = schema.default === undefined || schema.default === null ? "" : schema.default;
  } else if (t.includes("boolean")) {
    control = el("input", { id, type: "checkbox", "data-field": fieldName, "aria-describedby": describedBy });
    control.checked = schema.default !== false;
  } else if (t.includes("integer") || t.includes("number")) {
    const integer = t.includes("integer");
    control = el("input", {
      id,
      type: "number",
      inputmode: integer ? "numeric" : "decimal",
      min: schema.minimum,
      max: schema.maximum,
      step: integer ? schema.multipleOf || 1 : "any",
      placeholder: t.includes("null") ? "random" : undefined,
      "data-field": fieldName,
      "aria-describedby": describedBy,
    });
    if (schema.default !== undefined && schema.default !== null) control.value = schema.default;
  } else if (name.endsWith("prompt")) {
    control = el("textarea", {
      id,
      rows: name === "prompt" ? 3 : 2,
      maxlength: schema.maxLength,
      required: name === "prompt",
      "data-field": fieldName,
      "aria-describedby": describedBy,
    });
    control.value = schema.default || "";
  } else {
    control = el("input", { id, type: "text", "data-field": fieldName, "aria-describedby": describedBy });
    control.value = schema.default || "";
  }
  control.dataset.name = name;
  const wrapper = el("div", { class: t.includes("boolean") ? "field check" : "field" });
  const labelNode = el("label", { for: id, text: label(name) });
  if (t.includes("boolean")) wrapper.append(control, labelNode);
  else wrapper.append(labelNode, control);
  if (hint) wrapper.append(el("p", { class: "hint", id: hintId, text: hint }));
  wrapper.append(el("p", { class: "field-error", id: errorId }));
  return wrapper;
}

/** The value a control holds, or undefined when it holds the schema's default (not sent). */
function valueOf(control, schema) {
  const t = types(schema);
  if (control.type === "checkbox") {
    return control.checked === (schema.default !== false) ? undefined : control.checked;
  }
  const raw = control.value;
  if (raw === "") return undefined;
  let value = raw;
  if (schema.enum) {
    value = schema.enum.find((option) => String(option) === raw);
    if (value === undefined) value = raw;
  } else if (t.includes("integer") || t.includes("number")) {
    value = Number(raw);
    if (!Number.isFinite(value)) value = raw; // let the server name the field
  }
  return value === schema.default ? undefined : value;
}

export class JobForm {
  constructor(container) {
    this.container = container;
    this.schema = { properties: {} };
    this.controls = new Map();
    this.inputImage = null;
  }

  /** Builds the controls of a model's schema; keeps the prompts already typed. */
  build(schema) {
    const kept = {};
    for (const [name, control] of this.controls) {
      if (name.endsWith("prompt")) kept[name] = control.value;
    }
    this.schema = schema || { properties: {} };
    this.controls.clear();
    this.container.replaceChildren();
    const properties = this.schema.properties || {};
    if (properties.prompt) this.container.append(field("prompt", properties.prompt));
    this.container.append(this.inputImageSlot());
    const more = el("details", { class: "more" }, el("summary", { text: "More settings" }));
    const grid = el("div", { class: "grid" });
    for (const [name, schema] of Object.entries(properties)) {
      if (name === "prompt" || OWN_CONTROLS.has(name)) continue;
      if (name === "strength" && !properties.init_image) continue;
      grid.append(field(name, schema));
    }
    grid.append(field("priority", { enum: PRIORITIES, default: "normal" }, "priority"));
    more.append(grid);
    this.container.append(more);
    for (const control of this.container.querySelectorAll("[data-name]")) {
      this.controls.set(control.dataset.name, control);
    }
    if (properties.preview_every && this.controls.has("preview_every")) {
      const preview = this.controls.get("preview_every");
      if (preview.value === "") preview.value = "5"; // live previews unless turned off
    }
    for (const [name, value] of Object.entries(kept)) {
      if (this.controls.has(name)) this.controls.get(name).value = value;
    }
    this.setInputImage(null);
  }

  inputImageSlot() {
    const slot = el("div", { class: "input-image", id: "input-image", hidden: true });
    const text = el("span", { id: "input-image-text" });
    const remove = el("button", { type: "button", class: "link", text: "Remove input image" });
    remove.addEventListener("click", () => this.setInputImage(null));
    slot.append(text, " ", remove);
    return slot;
  }

  get offersInputImage() {
    return Boolean(this.schema.properties && this.schema.properties.init_image);
  }

  get offersUpscale() {
    return Boolean(this.schema.properties && this.schema.properties.upscale);
  }

  /** `ref` is "artifact:<job>/<item>" (image-to-image from an earlier image), or null. */
  setInputImage(ref) {
    this.inputImage = ref;
    const slot = this.container.querySelector("#input-image");
    if (!slot) return;
    slot.hidden = !ref;
    slot.querySelector("#input-image-text").textContent = ref ? `Input image: ${ref}` : "";
  }

  /** The create-job body: {model_id, priority?, params}. */
  body(modelId) {
    const params = {};
    let priority;
    for (const [name, control] of this.controls) {
      if (name === "priority") {
        priority = control.value === "normal" ? undefined : control.value;
        continue;
      }
      const schema = this.schema.properties[name] || {};
      const value = name === "prompt" ? control.value : valueOf(control, schema);
      if (value !== undefined) params[name] = value;
    }
    if (this.inputImage) params.init_image = this.inputImage;
    const body = { params };
    if (modelId) body.model_id = modelId;
    if (priority) body.priority = priority;
    return body;
  }

  clearErrors(form) {
    for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
    for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  }

  /** Puts each message by its field; returns the messages no field of the form shows. */
  showErrors(form, errors) {
    const unplaced = [];
    let first = null;
    for (const { field: name, message } of errors) {
      const control = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
      if (!control) {
        unplaced.push(`${name}: ${message}`);
        continue;
      }
      const slot = document.getElementById(`${control.id}-error`) || document.getElementById("model-error");
      slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
      control.setAttribute("aria-invalid", "true");
      if (control.closest("details")) control.closest("details").open = true;
      first = first || control;
    }
    if (first) first.focus();
    return unplaced;
  }
}
