"""Provider adapters: parse each provider's webhook into inbound events, send text through it."""
