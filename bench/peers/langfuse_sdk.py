"""The peer side of `cargo xtask bench --peers`: the benchmark's nested trace (agent -> generation ->
tool), built with the Langfuse Python SDK (its OTel-based client, exporting to the loopback sink).
The aitrace side is `benches/peer_trace.rs`; both build the same trace with the same payloads.

Usage: python langfuse_sdk.py BASE_URL TRACES
Prints one JSON line: time per span on the creating thread, spans created, and how long the
SDK's flush took. The caller reads the sink's count to tell whether spans were dropped.
"""

import json
import sys
import time

from langfuse import Langfuse

TEXT = "The order #1042 left our warehouse yesterday and is expected on Thursday. " * 13
QUESTION = "Where is my order #1042?"
SPANS_PER_TRACE = 3


def one_trace(client):
    with client.start_as_current_observation(
        as_type="agent", name="support_agent", input=QUESTION
    ) as agent:
        with client.start_as_current_observation(
            as_type="generation",
            name="chat",
            model="gpt-4o",
            model_parameters={"temperature": 0.2, "max_tokens": 512, "top_p": 0.9},
            input=[{"role": "user", "content": TEXT}],
        ) as generation:
            generation.update(
                output={"role": "assistant", "content": TEXT},
                usage_details={"input": 812, "output": 96},
            )
            with client.start_as_current_observation(
                as_type="tool", name="lookup_order", input={"order_id": "1042"}
            ) as tool:
                tool.update(output={"status": "shipped", "eta": "Thursday"})
        agent.update(output="Your order ships Thursday.")


def main():
    base_url, traces = sys.argv[1], int(sys.argv[2])
    client = Langfuse(
        public_key="pk-lf-bench",
        secret_key="sk-lf-bench",
        base_url=base_url,
    )
    for _ in range(50):  # warm-up, included in the produced count
        one_trace(client)
    started = time.perf_counter()
    for _ in range(traces):
        one_trace(client)
    elapsed = time.perf_counter() - started
    flush_started = time.perf_counter()
    client.flush()
    flush_s = time.perf_counter() - flush_started
    client.shutdown()
    print(
        json.dumps(
            {
                "ns_per_span": elapsed * 1e9 / (traces * SPANS_PER_TRACE),
                "produced": (traces + 50) * SPANS_PER_TRACE,
                "flush_s": flush_s,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
