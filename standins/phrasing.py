"""Deterministic Brazilian-Portuguese texts produced by the LLM stand-in: replies, image descriptions and
default transcripts.

Every generated reply starts with ``[simulador] `` so whoever watches a demo knows it is not a real model. The
template is picked by a stable hash (sha256, never Python's randomized ``hash``) of the lead's text and the
system prompt, so the same request always gets the same answer. Opt-out, human-handoff and "are you a bot?"
messages get fixed, fitting answers, and so do attachments the prompt says could not be processed.
"""

from __future__ import annotations

import hashlib

from standins.signals import read, snippet

PREFIX = "[simulador] "
TEMPLATES = (
    "Oi! Obrigado pela mensagem sobre “{s}”. Posso te ajudar com mais detalhes: qual é o valor médio da sua "
    "conta de luz?",
    "Entendi, você falou de “{s}”. Para eu te indicar a melhor opção, em qual cidade você está?",
    "Que bom falar com você! Sobre “{s}”: posso te explicar como funciona. Qual é o melhor horário para conversarmos?",
    "Anotado: “{s}”. Me conta um pouco mais sobre o que você procura para eu montar uma proposta?",
    "Perfeito, obrigado por explicar (“{s}”). Você prefere receber os detalhes por aqui ou em uma ligação rápida?",
)
OPT_OUT_REPLY = "Tudo bem, não vou mais te enviar mensagens. Se mudar de ideia, é só chamar por aqui."
HANDOFF_REPLY = "Claro! Vou pedir para uma pessoa da nossa equipe falar com você em instantes."
BOT_REPLY = ("Sou um assistente virtual com inteligência artificial e estou aqui para te ajudar. Se preferir, "
             "chamo uma pessoa da equipe.")
GREETING_REPLY = "Oi! Tudo bem? Como posso te ajudar hoje?"
# What a model told that the lead's attachment could not be processed says (sdr renders such an attachment as
# "[áudio não pôde ser ouvido: <motivo>]" and instructs the reply to be honest about it).
MEDIA_FAILED_REPLIES = (
    (": arquivo grande demais]", "Recebi seu arquivo, mas ele é grande demais para eu abrir por aqui. Pode me "
                                 "contar por escrito o que precisa, ou mandar um arquivo menor?"),
    ("áudio não pôde ser ouvido", "Desculpe, não consegui ouvir seu áudio. Pode escrever o que precisa?"),
    ("imagem não pôde ser vista", "Desculpe, não consegui ver a imagem que você mandou. Pode me contar por "
                                  "escrito ou enviar de novo?"),
    ("não pôde ser lido", "Desculpe, não consegui abrir o documento que você mandou. Pode me contar por escrito o "
                          "que ele diz?"),
)
IMAGE_KINDS = ("uma foto de um telhado", "uma conta de luz", "um documento", "uma captura de tela", "uma fachada")


def stable_index(*parts: str, modulo: int) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % modulo


def reply_text(user_text: str, system: str) -> str:
    reading = read(user_text)
    if not user_text:
        body = GREETING_REPLY
    elif failed := next((answer for marker, answer in MEDIA_FAILED_REPLIES if marker in user_text), None):
        body = failed
    elif reading.opt_out:
        body = OPT_OUT_REPLY
    elif reading.handoff:
        body = HANDOFF_REPLY
    elif reading.asks_bot:
        body = BOT_REPLY
    else:
        template = TEMPLATES[stable_index(user_text, system, modulo=len(TEMPLATES))]
        body = template.format(s=snippet(user_text, 60))
    return PREFIX + body


def describe_image(data: bytes | None, url: str) -> str:
    """Description of one image; an image whose bytes are text ``DESCRIPTION: ...`` describes itself."""
    if data is not None:
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            decoded = ""
        if decoded.startswith("DESCRIPTION:"):
            return decoded[len("DESCRIPTION:"):].strip()
        kind = IMAGE_KINDS[stable_index(hashlib.sha256(data).hexdigest(), modulo=len(IMAGE_KINDS))]
        return f"{PREFIX}A imagem parece ser {kind} ({len(data)} bytes)."
    kind = IMAGE_KINDS[stable_index(url, modulo=len(IMAGE_KINDS))]
    return f"{PREFIX}A imagem parece ser {kind} (imagem remota {snippet(url, 60)})."


def transcript(data: bytes) -> str:
    """Transcript of an audio upload; a file whose bytes are text ``TRANSCRIPT: ...`` transcribes itself."""
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        decoded = ""
    if decoded.startswith("TRANSCRIPT:"):
        return decoded[len("TRANSCRIPT:"):].strip()
    return f"Olá, gostaria de saber mais sobre o serviço de vocês. (áudio simulado de {len(data)} bytes)"
