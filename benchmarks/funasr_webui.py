"""The baseline: FunASR's AutoModel loaded before a Gradio page exists, as the Docker image
users copy today does it. Only for the time-to-page benchmark: python funasr_webui.py DIR PORT.
"""

import sys

import gradio as gr
from funasr import AutoModel

model = AutoModel(model=sys.argv[1], disable_update=True, device="cpu", disable_pbar=True)


def predict(path: str) -> dict:
    result = model.generate(path, granularity="utterance")[0]
    return dict(zip(result["labels"], result["scores"], strict=True))


gr.Interface(predict, gr.Audio(type="filepath"), gr.Label()).launch(
    server_port=int(sys.argv[2]), quiet=True
)
