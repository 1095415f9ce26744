"""The model detail page's explanation form and model view (called by pages/models.py).

`render(record, root)` returns an HTML fragment: a form for the model's modality (rows
as JSON, an image upload, a text box) whose script calls the explain API with fetch
(same origin, the UI's cookie) and draws the answer — SHAP bars, the Grad-CAM overlay,
the text with its weighted words highlighted — plus the tree or coefficient view.
Every dynamic value is escaped; the script writes results with textContent only.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from airgenome.plugins.pages.layout import esc

TREE_CLASSES = (
    "DecisionTree",
    "ExtraTree",
    "RandomForest",
    "ExtraTrees",
    "GradientBoosting",
    "XGB",
    "Booster",
    "DecisionTreeClassificationModel",
    "DecisionTreeRegressionModel",
    "RandomForestClassificationModel",
    "RandomForestRegressionModel",
    "GBTClassificationModel",
    "GBTRegressionModel",
)
LINEAR_CLASSES = (
    "LinearRegression",
    "LogisticRegression",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "SGD",
    "LinearSVC",
)

STYLE = """
.xp-bars{font-size:.85rem}.xp-row{display:flex;align-items:center;gap:.4rem;margin:.1rem 0}
.xp-name{width:11rem;text-align:right;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.xp-track{position:relative;width:28rem;height:.9rem;background:#f1f3f5}
.xp-bar{position:absolute;top:0;height:100%}.xp-pos{background:#e03131}.xp-neg{background:#1c7ed6}
.xp-mid{position:absolute;left:50%;top:0;bottom:0;border-left:1px solid #555}
.xp-text{line-height:1.8;white-space:pre-wrap;background:#fff;padding:.5rem;border:1px solid #dde1e6}
#xp-result img{max-width:100%;image-rendering:pixelated}
.xp-view img{max-width:100%;background:#fff}
.xp-tree-box{overflow:auto;max-height:70vh;border:1px solid #dde1e6;background:#fff}
.xp-tree-box img{max-width:none}
"""

SCRIPT = r"""
(function(){
const cfg = JSON.parse(document.getElementById('xp-config').textContent);
const out = document.getElementById('xp-result');
const form = document.getElementById('xp-form');
let featureNames = null;
function el(tag, cls, text){const e=document.createElement(tag); if(cls) e.className=cls; if(text!==undefined) e.textContent=text; return e;}
function fail(message){out.replaceChildren(el('div','error',message));}
async function call(payload){
  const body = Object.assign({application: cfg.application, canonicalName: cfg.canonicalName, version: cfg.version}, payload);
  const response = await fetch(cfg.explainUrl, {method:'POST', credentials:'same-origin',
    headers:{'Content-Type':'application/json'}, body: JSON.stringify(body)});
  const data = await response.json().catch(() => ({detail: response.statusText}));
  if(!response.ok){
    const detail = typeof data.detail === 'string' ? data.detail : JSON.stringify(data.detail);
    throw new Error(response.status + ': ' + detail);
  }
  return data;
}
function bars(names, values, title){
  const box = el('div','xp-bars'); box.appendChild(el('h3',null,title));
  const max = Math.max(1e-12, ...values.map(Math.abs));
  const order = values.map((v,i)=>i).sort((a,b)=>Math.abs(values[b])-Math.abs(values[a]));
  for(const i of order){
    const row = el('div','xp-row'); row.appendChild(el('span','xp-name', names[i] || ('x'+i)));
    const track = el('span','xp-track'); const bar = el('span','xp-bar ' + (values[i] >= 0 ? 'xp-pos' : 'xp-neg'));
    const width = 50 * Math.abs(values[i]) / max;
    bar.style.width = width + '%'; bar.style.left = (values[i] >= 0 ? 50 : 50 - width) + '%';
    track.appendChild(bar); track.appendChild(el('span','xp-mid')); row.appendChild(track);
    row.appendChild(el('span',null, values[i].toFixed(4))); box.appendChild(row);
  }
  return box;
}
function showTabular(data){
  const first = data.number_labels > 1 ? data.shapley[0][0] : data.shapley[0];
  const names = featureNames || first.map((_, i) => 'x' + i);
  const sum = first.reduce((a, b) => a + b, 0);
  out.replaceChildren(el('p', 'xp-summary', 'expected ' + data.expected[0].toFixed(4) + ' + sum of SHAP ' +
    sum.toFixed(4) + ' = ' + (data.expected[0] + sum).toFixed(4) + ' (' + data.number_labels + ' label(s))'));
  out.appendChild(bars(names, first, 'SHAP values, first row' + (data.number_labels > 1 ? ', first label' : '')));
}
function showImage(data){
  const img = el('img'); img.alt = 'Grad-CAM overlay'; img.id = 'xp-overlay'; img.src = data.image; img.width = 320;
  out.replaceChildren(el('p','xp-summary','class ' + data['class'] + ' · score ' + data.score.toFixed(4)), img);
}
function showText(data, text){
  const target = data.textExplanation.targets[0];
  const weights = new Array(text.length).fill(null);
  let max = 1e-12;
  for(const [word, ranges, weight] of target.weighted_spans.spans){
    max = Math.max(max, Math.abs(weight));
    for(const [start, end] of ranges){ for(let i = start; i < end; i++) weights[i] = weight; }
  }
  const box = el('div','xp-text'); box.id = 'xp-highlighted';
  let i = 0;
  while(i < text.length){
    let j = i; while(j < text.length && weights[j] === weights[i]) j++;
    const piece = el('span', null, text.slice(i, j));
    if(weights[i] !== null){
      const a = Math.min(1, Math.abs(weights[i]) / max);
      piece.style.background = weights[i] >= 0 ? 'rgba(47,158,68,' + a + ')' : 'rgba(224,49,49,' + a + ')';
      piece.title = weights[i].toFixed(4);
    }
    box.appendChild(piece); i = j;
  }
  out.replaceChildren(el('p','xp-summary','predicted ' + target.target + ' (p=' + target.proba.toFixed(3) + ') · surrogate ' +
    data.textExplanation.estimator + ' score ' + data.metrics.score.toFixed(3) + ' · mean KL ' + data.metrics.mean_KL_divergence.toFixed(4)), box);
}
async function loadGlobal(){
  try{
    const r = await fetch(cfg.globalUrl, {credentials:'same-origin'});
    if(!r.ok) return;
    const g = await r.json(); featureNames = g.featureNames || null;
    const box = document.getElementById('xp-entries');
    if(box && !box.value && g.data && g.data.length) box.value = JSON.stringify([g.data[0]]);
  }catch(e){}
}
form.addEventListener('submit', async (event) => {
  event.preventDefault(); out.replaceChildren(el('p',null,'explaining…'));
  try{
    if(cfg.modality === 'tabular'){
      let rows; try{ rows = JSON.parse(document.getElementById('xp-entries').value); }catch(e){ return fail('rows: not valid JSON'); }
      showTabular(await call({entries: rows}));
    } else if(cfg.modality === 'image'){
      const file = document.getElementById('xp-image').files[0]; if(!file) return fail('choose an image first');
      const dataUrl = await new Promise((ok, ko) => {const r = new FileReader(); r.onload = () => ok(r.result); r.onerror = ko; r.readAsDataURL(file);});
      showImage(await call({image: dataUrl}));
    } else {
      const text = document.getElementById('xp-text').value; showText(await call({text}), text);
    }
  }catch(error){ fail(String(error.message || error)); }
});
const treeIndex = document.getElementById('xp-tree-index');
if(treeIndex){ treeIndex.addEventListener('change', () => {
  document.getElementById('xp-tree').src = cfg.treeUrl + '?index=' + encodeURIComponent(treeIndex.value); }); }
if(cfg.modality === 'tabular') loadGlobal();
})();
"""


def _inputs(modality: str) -> str:
    if modality == "image":
        return "<label>Image (same size as the model's input) <input type='file' id='xp-image' accept='image/*'></label>"
    if modality == "text":
        return "<label>Text<br><textarea id='xp-text' rows='6' placeholder='a document to explain'></textarea></label>"
    return (
        "<label>Rows as JSON (a list of rows, one number per feature)<br>"
        "<textarea id='xp-entries' rows='4' placeholder='[[1.0, 2.3, -0.24]]'></textarea></label>"
    )


def _model_view(record: Any, api: str) -> str:
    estimator_class = str(record.tags.get("airgenome.estimatorClass", "")).rsplit(".", 1)[-1]
    if any(estimator_class.startswith(name) for name in TREE_CLASSES):
        return (
            "<section class='card xp-view'><h2>Tree view</h2>"
            "<label>tree index <input id='xp-tree-index' type='number' min='0' value='0'></label>"
            f"<div class='xp-tree-box'><img id='xp-tree' alt='tree' src='{esc(api)}/visualizations/tree?index=0'></div>"
            "</section>"
        )
    if any(estimator_class.startswith(name) for name in LINEAR_CLASSES):
        return (
            "<section class='card xp-view'><h2>Coefficients</h2>"
            f"<p><img id='xp-coefficients' alt='coefficients' src='{esc(api)}/visualizations/coefficients'></p>"
            "</section>"
        )
    return ""


def render(record: Any, root: str) -> str:
    modality = record.input_modality if record.input_modality in ("tabular", "image", "text") else "tabular"
    api = f"{root}/api/v1/models/{quote(record.name, safe='')}/versions/{record.version}"
    config = {
        "modality": modality,
        "application": record.application,
        "canonicalName": record.canonical_name,
        "version": str(record.version),
        "explainUrl": f"{root}/api/v1/explain",
        "globalUrl": f"{api}/explanations/global",
        "treeUrl": f"{api}/visualizations/tree",
    }
    # JSON inside <script>: escape "<" so no value can close the element.
    config_json = json.dumps(config).replace("<", "\\u003c")
    return (
        f"<style>{STYLE}</style>"
        f"<section class='card' id='xp'><h2>Explain a prediction ({esc(modality)})</h2>"
        f"<form id='xp-form'>{_inputs(modality)}<p><button type='submit'>Explain</button></p></form>"
        "<div id='xp-result'></div></section>"
        + _model_view(record, api)
        + f"<script type='application/json' id='xp-config'>{config_json}</script>"
        f"<script>{SCRIPT}</script>"
    )
