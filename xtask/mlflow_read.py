"""Reads every trace of an MLflow server's default experiment back through MLflow's own client and
writes what its views show as JSON: per trace the token usage, previews and metadata; per span its
type, name, model, cost and whether it has inputs and outputs. Used by `cargo xtask e2e`."""

import json
import sys

import mlflow

url, out = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(url)
traces = mlflow.search_traces(locations=["0"], return_type="list", include_spans=True)
result = []
for t in traces:
    info = t.info
    spans = []
    for s in t.data.spans:
        a = s.attributes
        spans.append(
            {
                "span_id": s.span_id,
                "parent_id": s.parent_id,
                "name": s.name,
                "span_type": s.span_type,
                "model": a.get("mlflow.llm.model"),
                "cost": a.get("mlflow.llm.cost"),
                "usage": a.get("mlflow.chat.tokenUsage"),
                "has_inputs": s.inputs is not None,
                "has_outputs": s.outputs is not None,
                "inputs": s.inputs if s.span_type == "CHAT_MODEL" else None,
            }
        )
    metadata = info.trace_metadata or {}
    result.append(
        {
            "trace_id": info.trace_id,
            "token_usage": info.token_usage,
            "request_preview": info.request_preview,
            "response_preview": info.response_preview,
            "user": metadata.get("mlflow.trace.user"),
            "session": metadata.get("mlflow.trace.session"),
            "spans": spans,
            "assessments": [
                {
                    "name": a.name,
                    "span_id": a.span_id,
                    "source_type": a.source.source_type,
                    "value": a.value,
                    "rationale": a.rationale,
                    "metadata": a.metadata,
                }
                for a in (info.assessments or [])
            ],
        }
    )
with open(out, "w") as f:
    json.dump(result, f)
print(f"read {len(result)} traces from MLflow")
