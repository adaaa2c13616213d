"""The Whatap collector sink: Whatap's own TCP protocol (see shared/whatap/PROTOCOL.md).

Byte level: `codec` (DataOutputX primitives), `values` (tagged values),
`hashing`, `license`, `identity`, `crypto`, `header`/`openmx`/`packs` (packs and
records) and `frames` (network frames and the handshake).
"""
