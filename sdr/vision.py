"""What an image shows, and any text in it, through a vision-capable chat model.

The prompt asks for what matters to a sale (an electricity bill's consumption and amount, a roof, a
document's data), in Portuguese, so the analysis and the reply can use the image like a message.
The caption is not sent: the description depends on the bytes alone, so it can be cached by hash.
"""

from __future__ import annotations

import base64

import openai

from sdr.llm import complete

PROMPT = (
    "Um cliente em potencial enviou esta imagem numa conversa de vendas pelo WhatsApp. Descreva em português "
    "do Brasil, em até 5 frases, o que ela mostra. Transcreva os textos e números legíveis que importem para a "
    "venda (por exemplo, numa conta de luz: consumo em kWh, valor total, mês de referência, distribuidora; "
    "num documento: nomes, datas e valores). Não invente o que não está legível; diga quando algo não dá para ler."
)


def describe_image(client: openai.OpenAI, model: str, data: bytes, mime: str | None) -> str:
    """Description of the image in `data`; raises LLMTransientError or LLMError like any chat call."""
    url = f"data:{mime or 'image/jpeg'};base64,{base64.b64encode(data).decode('ascii')}"
    messages = [{"role": "user", "content": [{"type": "text", "text": PROMPT},
                                             {"type": "image_url", "image_url": {"url": url}}]}]
    return complete(client, model, messages).content.strip()
