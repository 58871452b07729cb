"""Meta's 24-hour customer-service window, as the sender sees it.

A conversation's window opens or extends with every message the lead sends (set while routing
it, see sdr.conversations). Inside it any message may go out; outside it a channel that
enforces the window (it has `send_outside_window`) sends its configured template instead of the
free text. Channels without a window (Evolution, the sandbox) always send the text.
"""

from __future__ import annotations

from sdr.channels.base import Channel, ChipRef, SendReceipt


def enforces_window(channel: Channel) -> bool:
    return callable(getattr(channel, "send_outside_window", None))


def send_in_window(channel: Channel, chip: ChipRef, to_address: str, text: str, window_open: bool) -> SendReceipt:
    """Send `text`, or the channel's template when the window is known to be closed.

    A window we believe open may still be closed on the provider's side (clock skew, a lost
    webhook); the channel itself then falls back to the template (Meta 131047).
    """
    if not window_open and enforces_window(channel):
        return channel.send_outside_window(chip, to_address, text)  # type: ignore[attr-defined]
    return channel.send_text(chip, to_address, text)
